"""The element types that flow through the graph."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class RawUnit:
    """One input unit as read: a JSONL line, or a whole seed/plain-text file."""

    source_file: str
    line: int | None  # 1-based line for JSONL, None for whole-file formats
    data: bytes
    format: str  # jsonl | seed | text
    truncated: bool = False  # the reader cut `data` at --max-article-bytes


@dataclass
class Article:
    """A parsed, normalised article. Offsets in enrichment refer to `title` and `text` as stored here."""

    id: str
    title: str
    text: str
    source: str | None = None
    url: str | None = None
    published_at: int | None = None  # epoch milliseconds, UTC
    extra: dict[str, str] = field(default_factory=dict)
    source_file: str = ""
    source_line: int | None = None
    raw: bytes = b""
    language: str | None = None
    ner_truncated_at: int | None = None  # offset in text where NER stopped reading (None: read it all)
    entities: list = field(default_factory=list)  # list[Entity], filled by NER
    topic_scores: dict[str, float] = field(default_factory=dict)  # filled by topics
    topic_labels: list[str] = field(default_factory=list)


def content_hash(title: str, text: str) -> str:
    """SHA-256 (hex) of an article's title and text: its record's ``content_hash``, and (the first 16
    digits) the id of an article given neither an id nor a URL."""
    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()


@dataclass(frozen=True)
class Entity:
    field: str  # "title" | "text"
    start: int  # Python str offsets into that field
    end: int
    text: str
    label: str
    score: float
