"""Language identification (py3langid: a small numpy model shipped inside its package; no download, no pickle)."""
from __future__ import annotations

from functools import lru_cache

MIN_CONFIDENCE = 0.5
SAMPLE_CHARS = 2000


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(title: str, text: str) -> str:
    """ISO 639-1 code of the article's language, or ``und`` when unsure (or no letters)."""
    sample = f"{title}\n{text[:SAMPLE_CHARS]}"
    if not any(c.isalpha() for c in sample):
        return "und"
    lang, confidence = _identifier().classify(sample)
    return lang if confidence >= MIN_CONFIDENCE else "und"
