"""Joint IOB2 decoding of word labels (Viterbi over valid tag sequences)."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.commands.eval.conll import LABELS
from transforms.ner.decoding import best_tag_path, bio_transitions, decode_entities, viterbi
from transforms.ner.encoding import Window

ID2LABEL = dict(enumerate(LABELS))
TEXT = "the Air Defense Command met"
WORDS = [(0, 3), (4, 7), (8, 15), (16, 23), (24, 27)]


def one_window(probs_per_word):
    """A single window [CLS] w0 .. wn [SEP] whose word rows carry the given label probabilities."""
    n = len(probs_per_word)
    window = Window(0, list(range(n + 2)), [0] * (n + 2), [(0, 0), *WORDS[:n], (0, 0)], [None, *range(n), None])
    logits = np.full((n + 2, len(LABELS)), -20.0, dtype=np.float32)
    for i, probs in enumerate(probs_per_word):
        row = np.full(len(LABELS), 1e-6)
        for label, p in probs.items():
            row[LABELS.index(label)] = p
        logits[i + 1] = np.log(row / row.sum())
    return [window], [logits]


def test_a_doubtful_word_does_not_split_a_name():
    windows, logits = one_window(
        [
            {"O": 0.99},
            {"B-ORG": 0.9},
            {"I-LOC": 0.5, "I-ORG": 0.45},  # argmax alone would cut the name into ORG + LOC
            {"I-ORG": 0.9},
            {"O": 0.99},
        ]
    )
    spans = [(TEXT[e.start : e.end], e.label) for e in decode_entities(windows, logits, ID2LABEL)]
    assert spans == [("Air Defense Command", "ORG")]
    greedy = [(TEXT[e.start : e.end], e.label) for e in decode_entities(windows, logits, ID2LABEL, constrained=False)]
    assert greedy == [("Air", "ORG"), ("Defense", "LOC"), ("Command", "ORG")]


def test_an_entity_never_starts_with_a_stray_inside_tag():
    # O -> I-PER is not a valid IOB2 transition; B-PER is all but impossible here, so the word is O
    windows, logits = one_window([{"O": 0.99}, {"I-PER": 0.6, "O": 0.4}, {"O": 0.99}])
    spans = [(TEXT[e.start : e.end], e.label) for e in decode_entities(windows, logits, ID2LABEL)]
    assert spans == []
    # with B-PER more likely than O, the same stray I-PER becomes a proper one-word entity
    windows, logits = one_window([{"O": 0.99}, {"I-PER": 0.5, "B-PER": 0.3, "O": 0.2}, {"O": 0.99}])
    spans = [(TEXT[e.start : e.end], e.label) for e in decode_entities(windows, logits, ID2LABEL)]
    assert spans == [("Air", "PER")]
    assert all(e.score <= 1.0 for e in decode_entities(windows, logits, ID2LABEL))


def test_io_label_sets_fall_back_to_word_argmax():
    io = ["O", "I-PER", "I-LOC"]
    assert bio_transitions(io) is None
    windows, logits = one_window([{"O": 0.9}, {"I-LOC": 0.9}, {"I-LOC": 0.9}])
    logits = [lg[:, [LABELS.index(t) for t in io]] for lg in logits]
    spans = [(TEXT[e.start : e.end], e.label) for e in decode_entities(windows, logits, dict(enumerate(io)))]
    assert spans == [("Air Defense", "LOC")]


def valid(path):
    start, moves = bio_transitions(LABELS)
    return start[path[0]] and all(moves[a, b] for a, b in zip(path, path[1:]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_viterbi_finds_the_best_valid_path(n, seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)), size=n))
    path = best_tag_path(log_probs, *bio_transitions(LABELS))
    assert valid(path)
    best = max(
        (p for p in itertools.product(range(len(LABELS)), repeat=n) if valid(p)),
        key=lambda p: sum(log_probs[t, k] for t, k in enumerate(p)),
    )
    assert np.isclose(
        sum(log_probs[t, k] for t, k in enumerate(path)), sum(log_probs[t, k] for t, k in enumerate(best))
    )


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 300), st.floats(0.0, 4.0), st.integers(0, 10_000))
def test_valid_word_by_word_tags_are_the_viterbi_path(n, boost, seed):
    """The shortcut (each word's own best tag, when that sequence is valid) returns what the full
    recursion returns: long sequences leaning towards a random valid path by ``boost`` (strongly: the
    words' own best tags are valid; weakly: some are not, and the recursion decides)."""
    rng = np.random.default_rng(seed)
    start, moves = bio_transitions(LABELS)
    path = [int(rng.choice(np.flatnonzero(start)))]
    while len(path) < n:
        path.append(int(rng.choice(np.flatnonzero(moves[path[-1]]))))
    log_probs = np.log(rng.dirichlet(np.ones(len(LABELS)), size=n))
    log_probs[np.arange(n), path] += boost
    assert best_tag_path(log_probs, start, moves) == viterbi(log_probs, start, moves)
