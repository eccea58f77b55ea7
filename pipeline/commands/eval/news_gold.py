"""The news-domain NER gold set (``ner_news/*.jsonl``): segments of real articles with character spans, read
as the articles the pipeline sees.

One JSON object per line: ``sid`` (``<article_id>-<n>``, ``n`` = 0 for the title), ``article_id``, ``text``
and ``entities`` as ``[[start, end, type], ...]`` character offsets into ``text``. The pipeline normalises
whitespace (``transforms.parse.normalise_text``), so every offset is mapped onto the normalised text before
it is compared with a record's.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

from transforms.parse import normalise_text, normalise_title

# Gold and predicted spans carry the field they are in: (field, start, end, type), type last as score_spans wants
Span = tuple[str, int, int, str]


class GoldFormatError(ValueError):
    """A line of the gold file is not a segment as described above; the message names the line."""


@dataclass
class Segment:
    sid: str
    article_id: str
    text: str
    entities: list[tuple[int, int, str]]


@dataclass
class GoldArticle:
    id: str
    title: str
    text: str
    spans: set[Span]

    def as_json(self) -> str:
        return json.dumps({"id": self.id, "title": self.title, "text": self.text})


def read_segments(path: str | Path) -> list[Segment]:
    segments = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                entities = [(int(s), int(e), str(t)) for s, e, t in obj["entities"]]
                segments.append(Segment(str(obj["sid"]), str(obj["article_id"]), text, entities))
            except (ValueError, KeyError, TypeError) as e:
                raise GoldFormatError(f"{path}:{n}: not a gold segment ({e!r})") from e
            if not all(0 <= s < e <= len(text) for s, e, _ in entities):
                raise GoldFormatError(f"{path}:{n}: an entity offset lies outside the text")
    return segments


def offset_map(original: str, normalised: str) -> list[int | None]:
    """For each offset 0..len(original) of ``original``, the same place in ``normalised`` (None where the
    character was dropped, e.g. the second of two spaces)."""
    where: list[int | None] = [None] * (len(original) + 1)
    for a, b, size in difflib.SequenceMatcher(None, original, normalised, autojunk=False).get_matching_blocks():
        for k in range(size + 1):
            where[a + k] = b + k
    return where


def _mapped(seg: Segment, normalised: str, field: str, shift: int) -> set[Span]:
    where = offset_map(seg.text, normalised)
    spans = set()
    for s, e, t in seg.entities:
        # an entity starts and ends on kept characters (it is a name, not whitespace)
        ns, ne = where[s], (None if where[e - 1] is None else where[e - 1] + 1)
        if ns is None or ne is None:
            raise GoldFormatError(f"{seg.sid}: entity {seg.text[s:e]!r} does not survive normalisation")
        spans.add((field, ns + shift, ne + shift, t))
    return spans


def as_articles(segments: list[Segment], unit: str) -> list[GoldArticle]:
    """``unit`` "segment": every segment is the text of an article of its own (no title). "article": the
    segments of one article as the pipeline reads it, segment 0 the title, the others the text (joined by a
    space), so each sentence is read with its neighbours."""
    if unit == "segment":
        out = []
        for seg in segments:
            text = normalise_text(seg.text)
            out.append(GoldArticle(seg.sid, "", text, _mapped(seg, text, "text", 0)))
        return out
    by_article: dict[str, list[Segment]] = {}
    for seg in segments:
        by_article.setdefault(seg.article_id, []).append(seg)
    out = []
    for article_id, segs in by_article.items():
        segs.sort(key=lambda s: int(s.sid.rsplit("-", 1)[1]))
        head, body = (segs[0], segs[1:]) if segs[0].sid.endswith("-0") else (None, segs)
        title = normalise_title(head.text) if head else ""
        spans = _mapped(head, title, "title", 0) if head else set()
        parts: list[str] = []
        shift = 0  # where this segment starts in the joined body
        for seg in body:
            text = normalise_text(seg.text)
            spans |= _mapped(seg, text, "text", shift)
            parts.append(text)
            shift += len(text) + 1
        out.append(GoldArticle(article_id, title, " ".join(parts), spans))
    return out
