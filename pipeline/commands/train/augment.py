"""Training-data augmentation for `news-ingest train-ner --augment`: CoNLL-2003 sentences with their names
swapped for the kinds of names our news has (``name_bank``), headline-cased copies, and short template
sentences in the contexts those names stand in (official bodies that say and sign, laws in quotes).

Why: the model learnt names from 1996 Reuters. There, "Office" or "Ministry" is rarely followed by "of the
..." inside a name, laws have no long quoted titles, names are rarely Ukrainian, and headlines are in the
sentence case of the body; the news gold's errors are mostly these (docs/models.md).
"""

from __future__ import annotations

import random

from pipeline.commands.eval.conll import Sentence
from pipeline.commands.train.name_bank import BANK, law_titles

_SMALL_WORDS = frozenset("a an and as at by for from in of on or the to with".split())


def _tags(name: list[str], etype: str) -> list[str]:
    return [f"B-{etype}"] + [f"I-{etype}"] * (len(name) - 1)


def swap_names(sentence: Sentence, rng: random.Random, p: float) -> Sentence | None:
    """The sentence with each entity of a banked type replaced, with probability ``p``, by a banked name of
    that type; None if nothing was replaced."""
    tokens: list[str] = []
    tags: list[str] = []
    last, swapped = 0, False
    for a, b, etype in sentence.entity_tokens():
        tokens += sentence.tokens[last:a]
        tags += sentence.tags[last:a]
        if etype in BANK and rng.random() < p:
            name = rng.choice(BANK[etype]).split()
            tokens += name
            tags += _tags(name, etype)
            swapped = True
        else:
            tokens += sentence.tokens[a:b]
            tags += sentence.tags[a:b]
        last = b
    tokens += sentence.tokens[last:]
    tags += sentence.tags[last:]
    return Sentence(tokens, tags) if swapped else None


def headline_case(sentence: Sentence) -> Sentence:
    """Every word capitalised but the small ones (not the first), as many news titles are; tags unchanged."""
    tokens = [
        t if (k and t.lower() in _SMALL_WORDS) or not t[:1].isalpha() else t[:1].upper() + t[1:]
        for k, t in enumerate(sentence.tokens)
    ]
    return Sentence(tokens, list(sentence.tags))


# {ORG} {PER} {MISC} {LAW} {LOC}: slots; every other word is O. Quotes and commas are tokens, as in CoNLL.
TEMPLATES = (
    "The {ORG} said on Tuesday that the talks would continue .",
    "According to the {ORG} , the {MISC} systems arrived in {LOC} last week .",
    "{PER} met representatives of the {ORG} in {LOC} .",
    'President {PER} signed the law " {LAW} " adopted by the {ORG} .',
    'The {ORG} approved the draft law " {LAW} " in the first reading .',
    "The {ORG} and the {ORG} will coordinate the supply of {MISC} .",
    '" We expect a decision soon , " {PER} told {ORG} .',
    "{PER} , head of the {ORG} , visited {LOC} on Monday .",
    "The {ORG} reported that {MISC} drones attacked {LOC} overnight .",
    "Representatives of the {ORG} , the {ORG} and the {ORG} took part in the meeting .",
    "The {ORG} has opened an investigation , {ORG} reported .",
    "{PER} and {PER} discussed the {MISC} in {LOC} .",
    "The document was submitted to the {ORG} by the {ORG} .",
    "{ORG} Approves {MISC} Deliveries to {LOC}",
    "{PER} Signs Law on {MISC}",
    'The {ORG} adopted Decree No. 52 " {LAW} " .',
    "In line with the {MISC} , the {ORG} submitted its report to the {ORG} .",
    "{PER} called on the {ORG} to ratify the {MISC} .",
    'The text of the law " {LAW} " was published by the {ORG} .',
)


def template_sentences(rng: random.Random, n: int, locations: list[str]) -> list[Sentence]:
    """``n`` sentences from TEMPLATES with banked names (LOC names from ``locations``, e.g. CoNLL's own)."""
    bank = BANK | {"LOC": locations, "LAW": law_titles()}
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for word in rng.choice(TEMPLATES).split():
            if word.startswith("{") and word.endswith("}"):
                slot = word[1:-1]
                name = rng.choice(bank[slot]).split()
                tokens += name
                tags += _tags(name, "MISC" if slot == "LAW" else slot)
            else:
                tokens.append(word)
                tags.append("O")
        out.append(Sentence(tokens, tags))
    return out


def augment(sentences: list[Sentence], rng: random.Random, swap: float, headline: float, templates: int):
    """Extra training sentences: a name-swapped copy of each sentence with an entity, with probability
    ``swap`` per entity; headline-cased copies of a ``headline`` fraction of the sentences; ``templates``
    template sentences."""
    extra = []
    for s in sentences:
        swapped = swap_names(s, rng, swap) if swap else None
        if swapped is not None:
            extra.append(swapped)
        if headline and rng.random() < headline:
            extra.append(headline_case(swapped or s))
    locations = sorted({" ".join(s.tokens[a:b]) for s in sentences for a, b, t in s.entity_tokens() if t == "LOC"})
    return extra + template_sentences(rng, templates, locations or ["Kyiv"])
