"""Per-article entity summary: one row per distinct entity, obvious variants merged.

Merge rules, applied in document order (title first, then text):
* case and possessive variants are one entity (``Zelenskyy``, ``ZELENSKYY``, ``Zelenskyy's``);
* a later single-word person mention that is the last (or first) word of exactly one person already
  seen joins that person (``Emmanuel Macron`` ... ``Macron``);
* entities of different types stay apart.
The canonical form is the longest variant (the full name), ties going to the most frequent, then
the first seen.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from transforms.article import Entity

_POSSESSIVE = re.compile(r"(?:['’`]s|['’`])$", re.IGNORECASE)


def entity_form(text: str) -> str:
    """A mention as written, without its possessive ending ("Zelenskyy's" -> "Zelenskyy")."""
    return _POSSESSIVE.sub("", text.strip())


def entity_key(text: str) -> str:
    """What the variants of one entity share: the form casefolded, whitespace collapsed."""
    return " ".join(entity_form(text).casefold().split())


@dataclass
class _Group:
    label: str
    first_field: str
    first_start: int
    forms: Counter = field(default_factory=Counter)
    order: list = field(default_factory=list)
    mentions: int = 0

    def add(self, form: str):
        if form not in self.forms:
            self.order.append(form)
        self.forms[form] += 1
        self.mentions += 1

    @property
    def canonical(self) -> str:
        return max(self.order, key=lambda f: (len(f.split()), self.forms[f], -self.order.index(f)))


def summarise(entities: Sequence[Entity]) -> list[dict]:
    """Rows of {text, label, mentions, first_field, first_start}, in order of first mention."""
    groups: list[_Group] = []
    by_key: dict[tuple[str, str], _Group] = {}
    ordered = sorted(entities, key=lambda e: (e.field != "title", e.start))
    for e in ordered:
        form = entity_form(e.text)
        key = entity_key(e.text)
        if not key:
            continue
        group = by_key.get((key, e.label))
        if group is None and e.label == "PER" and " " not in key:
            matches = {
                id(g): g
                for (k, label), g in by_key.items()
                if label == "PER" and " " in k and key in (k.split()[-1], k.split()[0])
            }
            if len(matches) == 1:
                group = next(iter(matches.values()))
        if group is None:
            group = _Group(e.label, e.field, e.start)
            groups.append(group)
        by_key.setdefault((key, e.label), group)
        group.add(form)
    return [
        {
            "text": g.canonical,
            "label": g.label,
            "mentions": g.mentions,
            "first_field": g.first_field,
            "first_start": g.first_start,
        }
        for g in groups
    ]
