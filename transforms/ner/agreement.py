"""One name, one type within an article.

An article that names the European Union five times means one organisation each time; a model reading each
window alone may still type one mention LOC ("membership in the European Union"). Like the label-consistency
of document-level NER systems, every mention of the same words in one article takes the type its mentions
give it with the most confidence in total (the sum of their scores); spans are not changed.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from transforms.article import Entity


def agreed_types(entities: Sequence[Entity]) -> list[Entity]:
    """``entities`` (one article's) with each surface text's mentions given one type."""
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in entities:
        weight[e.text][e.label] += e.score
    chosen = {text: max(labels, key=lambda label: (labels[label], label)) for text, labels in weight.items()}
    return [e if e.label == chosen[e.text] else dataclasses.replace(e, label=chosen[e.text]) for e in entities]
