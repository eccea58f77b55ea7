"""One name, one type within an article (transforms/ner/agreement.py)."""

import pytest

from transforms.article import Entity
from transforms.ner.agreement import agreed_types


def _article(*mentions: tuple[str, str, float]) -> list[Entity]:
    """Entities in the order given, 20 characters apart, the first in the title."""
    return [
        Entity("title" if k == 0 else "text", 20 * k, 20 * k + len(text), text, label, score)
        for k, (text, label, score) in enumerate(mentions)
    ]


@pytest.mark.parametrize(
    "mentions, agreed",
    [
        (  # the type the most confidence says, for every mention of the same words
            [("European Union", "ORG", 0.9), ("European Union", "LOC", 0.6), ("European Union", "ORG", 0.8)],
            ["ORG", "ORG", "ORG"],
        ),
        ([("Odesa", "PER", 0.5), ("Odesa", "LOC", 0.99), ("Kyiv", "LOC", 0.97)], ["LOC", "LOC", "LOC"]),
        (  # a confident mention outweighs two doubtful ones; other words are other names
            [("Wagner", "PER", 0.3), ("Wagner", "PER", 0.3), ("Wagner", "ORG", 0.95), ("Richard Wagner", "PER", 0.9)],
            ["ORG", "ORG", "ORG", "PER"],
        ),
        ([], []),
    ],
)
def test_every_mention_of_a_name_takes_the_type_its_mentions_give_it_with_most_confidence(mentions, agreed):
    entities = _article(*mentions)
    got = agreed_types(entities)
    assert [e.label for e in got] == agreed
    # spans, texts and scores stay; what already agreed is the very same entity
    assert [(e.field, e.start, e.end, e.text, e.score) for e in got] == [
        (e.field, e.start, e.end, e.text, e.score) for e in entities
    ]
    assert all(g is e for g, e in zip(got, entities) if g.label == e.label)
