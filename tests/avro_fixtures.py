"""Avro output fixtures for tests that consume the pipeline's output (report, inspect, consumer examples).

Writes valid `articles-*.avro` / `deadletter-*.avro` container files (deflate) with the schemas from
`schemas/`, built from the 40 articles of tests/fixtures/written_articles.jsonl (news-style texts written for
the tests, dated 2021-10 .. 2025-06, so no shared data is needed) with *synthetic, deterministic*
enrichment: topics from keyword counts, entities from a small gazetteer matched on word boundaries
(real offsets, so `field[start:end] == text` holds). No models are involved: the point is to test what
consumes the records.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import fastavro

import schemas

REPO = Path(__file__).resolve().parents[1]
# NEWS_ARTICLES_JSONL may point at another file of the same shape (e.g. the shared corpus); n articles
# are then spread over it.
ARTICLES_JSONL = Path(os.environ.get("NEWS_ARTICLES_JSONL", REPO / "tests" / "fixtures" / "written_articles.jsonl"))

INGESTED_AT = datetime(2025, 6, 10, 12, 0, 0, tzinfo=timezone.utc)

# Synthetic taxonomy: topic -> (keywords (lower-case substrings), threshold on the score).
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "war_security": ("war", "military", "army", "attack", "missile", "defen", "weapon", "troops", "shelling"),
    "politics": ("president", "minister", "parliament", "government", "election", "verkhovna", "law"),
    "economy": ("econom", "bank", "market", "investment", "budget", "financ", "business", "tax"),
    "health": ("covid", "vaccin", "hospital", "health", "medical", "pandemic", "doctor"),
    "energy": ("energy", "gas", "electricity", "oil", "nuclear", "power plant", "coal"),
    "diplomacy": ("sanction", "diplomat", "ambassador", "summit", "negotiat", "partner", "visit"),
}
TOPIC_THRESHOLD = 0.5

# Gazetteer: surface form -> label. Matched case-sensitively on word boundaries.
GAZETTEER: dict[str, str] = {
    "Ukraine": "LOC",
    "Russia": "LOC",
    "Kyiv": "LOC",
    "Moscow": "LOC",
    "Crimea": "LOC",
    "Donbas": "LOC",
    "Kharkiv": "LOC",
    "Mariupol": "LOC",
    "Poland": "LOC",
    "Germany": "LOC",
    "United States": "LOC",
    "France": "LOC",
    "Odesa": "LOC",
    "Europe": "LOC",
    "Belarus": "LOC",
    "Zelensky": "PER",
    "Zelenskyy": "PER",
    "Volodymyr Zelenskyy": "PER",
    "Putin": "PER",
    "Biden": "PER",
    "Trump": "PER",
    "Shmyhal": "PER",
    "Kuleba": "PER",
    "Macron": "PER",
    "NATO": "ORG",
    "EU": "ORG",
    "European Union": "ORG",
    "United Nations": "ORG",
    "UN": "ORG",
    "IMF": "ORG",
    "Verkhovna Rada": "ORG",
    "Cabinet of Ministers": "ORG",
    "Armed Forces": "ORG",
    "COVID-19": "MISC",
    "Ukrainian": "MISC",
    "Russian": "MISC",
    "European": "MISC",
}
# Longest first, so "Volodymyr Zelenskyy" wins over "Zelenskyy" at the same position.
_GAZ_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(GAZETTEER, key=len, reverse=True)) + r")(?![\w-])"
)

HOSTILE_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="document.body.dataset.pwned=1"> & "quotes"'
HOSTILE_URL = 'javascript:window.__pwned=1//"><script>window.__pwned=1</script>'


def load_articles(n: int | None = 100, path: Path = ARTICLES_JSONL, *, spread: bool = True) -> list[tuple[int, dict]]:
    """(1-based line, article) for `n` articles of the articles file (all when n is None): evenly
    spaced over the file when `spread` (so they cover its whole period, 2021-2025), else the first n."""
    with open(path, encoding="utf-8") as f:
        rows = [(i, json.loads(line)) for i, line in enumerate(f, 1) if line.strip()]
    if n is None or n >= len(rows):
        return rows
    if not spread:
        return rows[:n]
    return [rows[(i * len(rows)) // n] for i in range(n)]


def _parse_date(value) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).replace(microsecond=(dt.microsecond // 1000) * 1000)


def _stable_unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from strings."""
    h = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**32


def synthetic_topics(title: str, text: str) -> tuple[list[dict], list[str]]:
    blob = (title + "\n" + text).lower()
    topics, labels = [], []
    for topic, keywords in TOPIC_KEYWORDS.items():
        hits = sum(blob.count(k) for k in keywords)
        score = round(min(0.99, 0.05 + 0.09 * hits), 4)
        topics.append({"label": topic, "score": score})
        if score >= TOPIC_THRESHOLD:
            labels.append(topic)
    return topics, labels


def synthetic_entities(title: str, text: str) -> list[dict]:
    ents = []
    for field, s in (("title", title), ("text", text)):
        for m in _GAZ_RE.finditer(s):
            surface = m.group(1)
            ents.append(
                {
                    "field": field,
                    "start": m.start(1),
                    "end": m.end(1),
                    "text": surface,
                    "label": GAZETTEER[surface],
                    "score": round(0.6 + 0.39 * _stable_unit(field, surface, str(m.start(1))), 4),
                }
            )
    return ents


def entity_summary(entities: list[dict]) -> list[dict]:
    """The v1.x `entity_summary` field (future compatible addition), derived from `entities`."""
    summary: dict[tuple[str, str], dict] = {}
    for e in entities:
        key = (e["text"], e["label"])
        if key not in summary:
            summary[key] = {
                "text": e["text"],
                "label": e["label"],
                "mentions": 0,
                "first_start": e["start"],
                "first_field": e["field"],
            }
        summary[key]["mentions"] += 1
    return list(summary.values())


def make_record(raw: dict, line: int, *, source_file: str = "articles.jsonl", extended: bool = False) -> dict:
    title = " ".join(str(raw.get("title", "")).split())
    text = "\n".join(x.rstrip() for x in str(raw.get("text", "")).replace("\r\n", "\n").split("\n"))
    topics, labels = synthetic_topics(title, text)
    entities = synthetic_entities(title, text)
    rec = {
        "id": str(raw.get("id") or f"content-{hashlib.sha256((title + text).encode()).hexdigest()[:16]}"),
        "source": raw.get("publisher"),
        "url": raw.get("url"),
        "title": title,
        "text": text,
        "published_at": _parse_date(raw.get("date")),
        "ingested_at": INGESTED_AT,
        "content_hash": hashlib.sha256((title + "\n" + text).encode()).hexdigest(),
        "source_file": source_file,
        "source_line": line,
        "entities": entities,
        "topics": topics,
        "topic_labels": labels,
        "extra": {},
        "provenance": {
            "pipeline_version": "test",
            "ner_model": "gazetteer-fixture",
            "topic_model": "keywords-fixture",
            "taxonomy_version": "fixture@1",
        },
    }
    if extended:
        rec["entity_summary"] = entity_summary(entities)
        rec["language"] = "en"
    return rec


def make_records(
    n: int | None = 100, *, extended: bool = False, hostile: bool = False, undated: int = 0, spread: bool = True
) -> list[dict]:
    """Records for the first `n` articles. `undated` records lose published_at (report falls back to
    ingested_at); `hostile` appends one record whose strings try to inject markup."""
    recs = [make_record(a, line, extended=extended) for line, a in load_articles(n, spread=spread)]
    for rec in recs[:undated]:
        rec["published_at"] = None
    if hostile:
        bad = make_record(
            {
                "id": "hostile-1",
                "title": HOSTILE_TITLE,
                "url": HOSTILE_URL,
                "publisher": "<b>evil</b>",
                "date": "2021-11-01T00:00:00Z",
                "text": "Ukraine </td></tr></table><script>window.__pwned=1</script> NATO war",
            },
            10**6,
            extended=extended,
        )
        # An entity whose text/label are markup too (offsets still valid).
        bad["entities"].append(
            {"field": "title", "start": 0, "end": 8, "text": HOSTILE_TITLE[:8], "label": "<i>X</i>", "score": 0.5}
        )
        bad["topic_labels"] = ["war_security", "politics"]
        recs.append(bad)
    return recs


def extended_schema() -> dict:
    """The current enriched_article schema (1.1.0 added entity_summary and language, with defaults)."""
    s = copy.deepcopy(schemas.load_json("enriched_article"))
    assert {f["name"] for f in s["fields"]} >= {"entity_summary", "language"}
    return s


def write_avro(path: Path, records: Iterable[dict], schema, codec: str = "deflate") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        fastavro.writer(f, schema, list(records), codec=codec)
    return path


def dead_letters(k: int = 3) -> list[dict]:
    return [
        {
            "raw": b"{not json \xff\x00" + str(i).encode(),
            "raw_truncated": False,
            "source_file": "articles.jsonl",
            "source_line": 1000 + i,
            "stage": "parse",
            "error_type": "JSONDecodeError",
            "error_message": f"Expecting property name <{i}>",
            "article_id": None,
            "failed_at": INGESTED_AT,
        }
        for i in range(k)
    ]


def write_output_dir(
    out: Path, records: list[dict], *, dead: int = 3, shards: int = 2, windows: bool = False, extended: bool = False
) -> Path:
    """Lay records out like the pipeline's output: `articles-XXXXX-of-NNNNN.avro` shards and a
    dead-letter file; with `windows`, shards go into per-window subfolders (streaming layout)."""
    out = Path(out)
    schema = fastavro.parse_schema(extended_schema()) if extended else schemas.parsed("enriched_article")
    for s in range(shards):
        sub = out / f"window-{s:02d}" if windows else out
        write_avro(sub / f"articles-{s:05d}-of-{shards:05d}.avro", records[s::shards], schema)
    if dead:
        write_avro(out / "deadletter-00000-of-00001.avro", dead_letters(dead), schemas.parsed("dead_letter"))
    return out


def read_records(out: Path, pattern: str = "articles-*.avro") -> list[dict]:
    """Every record of the files matching pattern under out (recursive), read back with fastavro."""
    recs = []
    for p in sorted(Path(out).rglob(pattern)):
        with open(p, "rb") as f:
            recs.extend(fastavro.reader(f))
    return recs
