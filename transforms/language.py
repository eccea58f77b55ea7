"""Language identification (py3langid: a small numpy model shipped inside its package; no download, no pickle)."""

from __future__ import annotations

import threading

MIN_CONFIDENCE = 0.5
SAMPLE_CHARS = 2000

_lock = threading.Lock()
_loaded = None


def _identifier():
    global _loaded
    with _lock:  # built once, by whichever thread asks first (``preload`` or the first article)
        if _loaded is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _loaded = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _loaded


def preload() -> None:
    """Start building the identifier on a background thread. Building it takes most of a second
    (decompressing and indexing the model), mostly outside the GIL, so it overlaps with the model
    loading that runs while a worker sets up; the first article then finds it ready."""
    if _loaded is None:
        threading.Thread(target=_identifier, name="news-ingest-langid-load", daemon=True).start()


def detect_language(title: str, text: str) -> str:
    """ISO 639-1 code of the article's language, or ``und`` when unsure (or no letters)."""
    sample = f"{title}\n{text[:SAMPLE_CHARS]}"
    if not any(c.isalpha() for c in sample):
        return "und"
    lang, confidence = _identifier().classify(sample)
    return lang if confidence >= MIN_CONFIDENCE else "und"
