"""train-ner's augmentation (pipeline/commands/train/augment.py): swapped names keep their type and IOB2 tags
line up with the tokens, headline casing changes case only, template sentences tag every slot."""

from __future__ import annotations

import random

from pipeline.commands.eval.conll import LABELS, Sentence
from pipeline.commands.train.augment import augment, headline_case, swap_names, template_sentences
from pipeline.commands.train.name_bank import BANK

SENTENCE = Sentence(
    "EU officials met Vladimir Putin in Moscow on Monday , Russian media said .".split(),
    ["B-ORG", "O", "O", "B-PER", "I-PER", "O", "B-LOC", "O", "O", "O", "B-MISC", "O", "O", "O"],
)


def valid_iob2(tags: list[str]) -> bool:
    return all(t in LABELS and (not t.startswith("I-") or (k and tags[k - 1][2:] == t[2:])) for k, t in enumerate(tags))


def test_every_entity_swapped_for_a_banked_name_of_its_type():
    swapped = swap_names(SENTENCE, random.Random(1), p=1.0)
    assert swapped is not None and len(swapped.tokens) == len(swapped.tags) and valid_iob2(swapped.tags)
    names = {}
    for s, e, t in swapped.entities():
        names.setdefault(t, []).append(swapped.text[s:e])
    assert all(n in BANK[t] for t in ("ORG", "PER", "MISC") for n in names[t])
    assert names["LOC"] == ["Moscow"]  # no bank of places: CoNLL's own are kept

    def outside(s: Sentence) -> list[str]:
        return [w for w, t in zip(s.tokens, s.tags) if t == "O"]

    assert outside(swapped) == outside(SENTENCE)


def test_nothing_swapped_is_none():
    assert swap_names(SENTENCE, random.Random(1), p=0.0) is None


def test_headline_case_keeps_small_words_and_tags():
    title = headline_case(Sentence("the talks of the week in kyiv".split(), ["O"] * 6 + ["B-LOC"]))
    assert title.text == "The Talks of the Week in Kyiv" and title.tags == ["O"] * 6 + ["B-LOC"]


def test_template_slots_are_tagged_names():
    for s in template_sentences(random.Random(3), 200, ["Kyiv", "Lviv"]):
        assert len(s.tokens) == len(s.tags) and valid_iob2(s.tags)
        for start, end, t in s.entities():
            name = s.text[start:end]
            assert name in (["Kyiv", "Lviv"] if t == "LOC" else BANK[t]), (name, t)


def test_augment_adds_swaps_headlines_and_templates():
    extra = augment([SENTENCE] * 50, random.Random(5), swap=0.5, headline=0.2, templates=30)
    assert 30 + 40 <= len(extra) <= 30 + 50 + 50
    assert all(valid_iob2(s.tags) for s in extra)
