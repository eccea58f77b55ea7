"""From per-token model scores back to word-level entity spans in the original text.

Like Hugging Face ``TokenClassificationPipeline`` with ``aggregation_strategy="first"``, a word's
label probabilities are those of its first sub-word piece, and consecutive words with B-/I- tags of one
type form an entity; unlike it, the word labels are decoded jointly (the most probable valid IOB2
sequence), not word by word. Long texts arrive as overlapping windows; each word is labelled by the window in which
its first piece sits furthest from a window edge, so entities on window boundaries are neither
duplicated nor cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from transforms.ner.encoding import Window


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
    best: dict[int, tuple[int, int, np.ndarray]] = {}  # word -> (centrality, position, window probs)
    for window, window_logits in zip(windows, logits):
        probs = _softmax(np.asarray(window_logits[: len(window)], dtype=np.float32))
        last = len(window) - 1
        for word, (s, e) in zip(window.word_ids, window.offsets):
            if word is None:
                continue
            span = spans.get(word)
            if span is None:
                spans[word] = [s, e]
            else:
                span[0], span[1] = min(span[0], s), max(span[1], e)
        for pos, (word, (s, _)) in enumerate(zip(window.word_ids, window.offsets)):
            if word is None or s != spans[word][0]:
                continue  # not the word's first piece (or the window starts mid-word)
            centrality = min(pos, last - pos)
            if word not in best or centrality > best[word][0]:
                best[word] = (centrality, pos, probs)
    return {w: (spans[w][0], spans[w][1], probs[pos]) for w, (_, pos, probs) in best.items()}


def bio_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(allowed start tags, allowed tag -> tag moves) of IOB2: ``I-X`` only continues ``B-X``/``I-X``.
    None when the label set is not IOB2 (an ``I-X`` without its ``B-X``, e.g. IO tagging). Cached:
    a model's label set is the same for every text it decodes."""
    return _bio_transitions(tuple(labels))


@lru_cache(maxsize=16)
def _bio_transitions(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    kinds = [tag.partition("-") for tag in labels]
    types_with_b = {etype for prefix, _, etype in kinds if prefix == "B" and etype}
    if any(prefix == "I" and etype not in types_with_b for prefix, _, etype in kinds if etype):
        return None
    start = np.array([not (prefix == "I" and etype) for prefix, _, etype in kinds])
    moves = np.ones((len(labels), len(labels)), dtype=bool)
    for cur, (prefix, _, etype) in enumerate(kinds):
        if prefix == "I" and etype:
            moves[:, cur] = [bool(e) and e == etype for _, _, e in kinds]
    return start, moves


def best_tag_path(log_probs: np.ndarray, start: np.ndarray, moves: np.ndarray) -> list[int]:
    """Viterbi: the most probable tag sequence (sum of per-word log-probabilities) among valid ones.
    When each word's own most probable tag already makes a valid sequence, that sequence is the answer
    (no valid sequence can score more than the unconstrained best), and the word-by-word loop, which
    holds the GIL beside the other article threads, is skipped."""
    tags = log_probs.argmax(axis=1)
    if start[tags[0]] and moves[tags[:-1], tags[1:]].all():
        return tags.tolist()
    return viterbi(log_probs, start, moves)


def viterbi(log_probs: np.ndarray, start: np.ndarray, moves: np.ndarray) -> list[int]:
    """The word-by-word Viterbi recursion of ``best_tag_path``."""
    blocked = np.where(moves, 0.0, -np.inf)
    score = np.where(start, log_probs[0], -np.inf)
    back = np.zeros(log_probs.shape, dtype=np.int64)
    for t in range(1, len(log_probs)):
        total = score[:, None] + blocked  # (previous, current)
        back[t] = total.argmax(axis=0)
        score = total.max(axis=0) + log_probs[t]  # the values argmax points at
    path = [int(score.argmax())]
    for t in range(len(log_probs) - 1, 0, -1):
        path.append(int(back[t][path[-1]]))
    return path[::-1]


def decode_entities(
    windows: Sequence[Window],
    logits: Sequence[np.ndarray],
    id2label: Mapping[int, str],
    *,
    constrained: bool = True,
) -> list[EntitySpan]:
    """Word labels -> entity spans. With an IOB2 label set and ``constrained`` (the default), the labels
    are the most probable *valid* sequence (Viterbi: no ``I-X`` after ``O`` or another type), so a
    doubtful word inside a name does not split it into fragments; otherwise each word takes its argmax
    and an ``I-`` after ``O`` or another type opens an entity."""
    words = sorted(word_probabilities(windows, logits).items())
    if not words:
        return []
    labels = tuple(id2label[i] for i in range(len(id2label)))
    probs = np.stack([p for _, (_, _, p) in words])
    rules = bio_transitions(labels) if constrained else None
    if rules is None:
        tags = probs.argmax(axis=1).tolist()
    else:
        tags = best_tag_path(np.log(np.clip(probs, 1e-12, None)), *rules)

    entities: list[EntitySpan] = []
    current: list | None = None  # [start, end, type, scores]

    def close():
        if current is not None:
            entities.append(EntitySpan(current[0], current[1], current[2], float(np.mean(current[3]))))

    for (_, (start, end, word_probs)), k in zip(words, tags):
        prefix, _, etype = labels[k].partition("-")
        if not etype:
            close()
            current = None
        elif prefix == "I" and current is not None and current[2] == etype:
            current[1] = end
            current[3].append(float(word_probs[k]))
        else:
            close()
            current = [start, end, etype, [float(word_probs[k])]]
    close()
    return entities
