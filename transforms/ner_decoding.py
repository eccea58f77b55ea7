"""From per-token model scores back to word-level entity spans in the original text.

Mirrors Hugging Face ``TokenClassificationPipeline`` with ``aggregation_strategy="first"``: a word's
label is the label of its first sub-word piece, and consecutive words with B-/I- tags of one type form
an entity. Long texts arrive as overlapping windows; each word is labelled by the window in which
its first piece sits furthest from a window edge, so entities on window boundaries are neither
duplicated nor cut.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from transforms.ner_encoding import Window


@dataclass(frozen=True)
class EntitySpan:
    start: int  # Python string offsets into the text the model saw
    end: int
    label: str
    score: float


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def word_probabilities(
    windows: Sequence[Window], logits: Sequence[np.ndarray]
) -> dict[int, tuple[int, int, np.ndarray]]:
    """word index -> (start, end, label probabilities) for every word of one text."""
    spans: dict[int, list[int]] = {}
    best: dict[int, tuple[int, np.ndarray]] = {}
    for window, window_logits in zip(windows, logits):
        probs = _softmax(np.asarray(window_logits[: len(window)], dtype=np.float32))
        last = len(window) - 1
        for pos, (word, (s, e)) in enumerate(zip(window.word_ids, window.offsets)):
            if word is None:
                continue
            span = spans.setdefault(word, [s, e])
            span[0], span[1] = min(span[0], s), max(span[1], e)
        for pos, (word, (s, _)) in enumerate(zip(window.word_ids, window.offsets)):
            if word is None or s != spans[word][0]:
                continue  # not the word's first piece (or the window starts mid-word)
            centrality = min(pos, last - pos)
            if word not in best or centrality > best[word][0]:
                best[word] = (centrality, probs[pos])
    return {w: (spans[w][0], spans[w][1], p) for w, (_, p) in best.items()}


def decode_entities(
    windows: Sequence[Window], logits: Sequence[np.ndarray], id2label: Mapping[int, str]
) -> list[EntitySpan]:
    """IOB2 decoding of word labels into entity spans (an I- after O or another type opens one)."""
    entities: list[EntitySpan] = []
    current: list | None = None  # [start, end, type, scores]

    def close():
        if current is not None:
            entities.append(EntitySpan(current[0], current[1], current[2], float(np.mean(current[3]))))

    for word in sorted(word_probabilities(windows, logits).items()):
        _, (start, end, probs) = word
        k = int(probs.argmax())
        tag = id2label[k]
        prefix, _, etype = tag.partition("-")
        if tag == "O" or not etype:
            close()
            current = None
        elif prefix == "I" and current is not None and current[2] == etype:
            current[1] = end
            current[3].append(float(probs[k]))
        else:
            close()
            current = [start, end, etype, [float(probs[k])]]
    close()
    return entities
