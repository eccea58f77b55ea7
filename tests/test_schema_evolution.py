"""Schema evolution: consumers on the previous schema version read current files and vice versa.

Compatibility rule (stated in the schemas' docs): a new 1.x version only *adds* fields, each with a
default; nothing is removed or retyped. So an old reader skips the new fields, and a new reader fills
them from their defaults when it reads an old file.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import avro.datafile
import avro.io
import avro.schema
import fastavro
import pytest

import schemas
from transforms.article import Article, Entity
from transforms.records import Provenance, to_record

HISTORY = schemas.SCHEMA_DIR / "history"
HISTORY_FILES = sorted(HISTORY.glob("*.avsc"))
OLD_ARTICLES = sorted(HISTORY.glob("enriched_article-*.avsc"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def current_record() -> dict:
    article = Article(
        id="evo-1",
        title="Zelensky meets Macron",
        text="Volodymyr Zelensky met Emmanuel Macron in Paris.",
        source="Test",
        url="https://ex/evo",
        published_at=1748736000000,
        extra={"k": "v"},
        source_file="in.jsonl",
        source_line=1,
        raw=b"{}",
        language="en",
        entities=[
            Entity("title", 0, 8, "Zelensky", "PER", 0.875),
            Entity("text", 10, 18, "Zelensky", "PER", 0.75),
            Entity("text", 42, 47, "Paris", "LOC", 0.625),
        ],
        topic_scores={"diplomacy": 0.5},
        topic_labels=["diplomacy"],
    )
    return to_record(article, Provenance("1.1.0", "ner", "topics", "tax"), ["diplomacy", "economy"], now_ms=1)


def write_fastavro(schema: dict, records: list[dict]) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(copy.deepcopy(schema)), records, codec="deflate", validator=True)
    return buf.getvalue()


def read_fastavro(data: bytes, reader_schema: dict | None = None) -> list[dict]:
    rs = fastavro.parse_schema(copy.deepcopy(reader_schema)) if reader_schema else None
    return list(fastavro.reader(io.BytesIO(data), reader_schema=rs))


def read_official(data: bytes, reader_schema: dict | None = None) -> list[dict]:
    rs = avro.schema.parse(json.dumps(reader_schema)) if reader_schema else None
    with avro.datafile.DataFileReader(io.BytesIO(data), avro.io.DatumReader(readers_schema=rs)) as reader:
        return list(reader)


def plain(record: dict) -> dict:
    """Timestamps as epoch ms, so records read by either library compare equal (scores are exact in float32)."""
    out = dict(record)
    for k in ("published_at", "ingested_at"):
        if hasattr(out.get(k), "timestamp"):
            out[k] = round(out[k].timestamp() * 1000)
    return out


def new_fields_since(old_schema: dict) -> dict:
    """Fields the current schema added after ``old_schema``, with their defaults."""
    old = {f["name"] for f in old_schema["fields"]}
    return {
        f["name"]: f["default"] for f in schemas.load_json(schemas.ENRICHED_ARTICLE)["fields"] if f["name"] not in old
    }


@pytest.mark.parametrize("old_path", OLD_ARTICLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("reader", [read_fastavro, read_official], ids=["fastavro", "avro"])
def test_previous_version_reader_reads_current_files(reader, old_path):
    rec = current_record()
    data = write_fastavro(schemas.load_json(schemas.ENRICHED_ARTICLE), [rec])
    added = new_fields_since(load(old_path))
    assert added  # every published version is older than the current one
    (old_view,) = reader(data, load(old_path))
    assert set(old_view) == {f["name"] for f in load(old_path)["fields"]}
    expected = {k: v for k, v in rec.items() if k not in added}
    assert plain(old_view) == plain(expected)


@pytest.mark.parametrize("old_path", OLD_ARTICLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("reader", [read_fastavro, read_official], ids=["fastavro", "avro"])
def test_current_reader_reads_previous_version_files(reader, old_path):
    added = new_fields_since(load(old_path))
    rec = {k: v for k, v in current_record().items() if k not in added}
    data = write_fastavro(load(old_path), [rec])
    (new_view,) = reader(data, schemas.load_json(schemas.ENRICHED_ARTICLE))
    for name, default in added.items():
        assert new_view[name] == default
    assert plain({k: v for k, v in new_view.items() if k not in added}) == plain(rec)


def test_a_pipeline_dead_letter_file_reads_with_every_history_version():
    current = schemas.load_json(schemas.DEAD_LETTER)
    rec = {
        "raw": b"\xff raw",
        "raw_truncated": True,
        "source_file": "f",
        "source_line": 3,
        "stage": "parse",
        "error_type": "UnicodeDecodeError",
        "error_message": "bad byte",
        "article_id": None,
        "failed_at": 5,
    }
    data = write_fastavro(current, [rec])
    for path in HISTORY.glob("dead_letter-*.avsc"):
        for reader in (read_fastavro, read_official):
            (back,) = reader(data, load(path))
            assert back["raw"] == b"\xff raw" and back["stage"] == "parse"


# --- the compatibility rule, generic over schemas/history -----------------------------------------


def record_types(schema, namespace: str = "") -> dict[str, dict]:
    """Every named record in a schema, by full name."""
    found: dict[str, dict] = {}

    def walk(node, ns):
        if isinstance(node, list):
            for n in node:
                walk(n, ns)
        elif isinstance(node, dict):
            t = node.get("type")
            if t == "record":
                ns = node.get("namespace", ns)
                name = node["name"] if "." in node["name"] else f"{ns}.{node['name']}".strip(".")
                found[name] = node
                for f in node["fields"]:
                    walk(f["type"], ns)
            elif t == "array":
                walk(node["items"], ns)
            elif t == "map":
                walk(node["values"], ns)
            elif isinstance(t, (dict, list)):
                walk(t, ns)

    walk(schema, namespace)
    return found


def history_pairs():
    for path in HISTORY_FILES:
        m = re.fullmatch(r"(.+)-(\d+\.\d+\.\d+)\.avsc", path.name)
        assert m, f"history file {path.name} must be named <schema>-<version>.avsc"
        yield pytest.param(path, schemas.schema_path(m.group(1)), id=path.stem)


def test_history_is_not_empty():
    assert OLD_ARTICLES and len(HISTORY_FILES) >= 2


@pytest.mark.parametrize("old_path,current_path", list(history_pairs()))
def test_every_field_added_after_a_history_version_has_a_default(old_path, current_path):
    old, current = load(old_path), load(current_path)
    old_version = tuple(int(x) for x in old["version"].split("."))
    new_version = tuple(int(x) for x in current["version"].split("."))
    assert new_version >= old_version and new_version[0] == old_version[0], "a major bump breaks the 1.x rule"
    old_records, new_records = record_types(old), record_types(current)
    assert set(old_records) <= set(new_records), f"record types removed: {set(old_records) - set(new_records)}"
    problems = []
    for name, new_rec in new_records.items():
        old_fields = {f["name"]: f for f in old_records.get(name, {"fields": []})["fields"]}
        new_fields = {f["name"]: f for f in new_rec["fields"]}
        for removed in set(old_fields) - set(new_fields):
            problems.append(f"{name}.{removed} removed")
        if name not in old_records:
            continue  # a new record type is only reachable through a new field (checked there)
        for added in set(new_fields) - set(old_fields):
            if "default" not in new_fields[added]:
                problems.append(f"{name}.{added} added without a default")
        for kept in set(new_fields) & set(old_fields):
            a, b = old_fields[kept]["type"], new_fields[kept]["type"]
            if json.dumps(_strip_docs(a), sort_keys=True) != json.dumps(_strip_docs(b), sort_keys=True) and not (
                isinstance(a, (dict, list)) or isinstance(b, (dict, list))
            ):
                problems.append(f"{name}.{kept} changed type {a} -> {b}")
    assert problems == []
    # and the resolution really works: fastavro and avro accept current files under the old schema
    fastavro.parse_schema(copy.deepcopy(old))
    avro.schema.parse(json.dumps(old))


def _strip_docs(node):
    if isinstance(node, dict):
        return {k: _strip_docs(v) for k, v in node.items() if k != "doc"}
    if isinstance(node, list):
        return [_strip_docs(n) for n in node]
    return node


def test_rule_check_catches_a_field_without_default(tmp_path):
    """The generic check can fail: a schema that adds a field without a default is reported."""
    old = load(OLD_ARTICLES[0])
    bad = copy.deepcopy(old)
    bad["version"] = "1.9.0"
    bad["fields"].append({"name": "breaking", "type": "string"})
    new_records = record_types(bad)
    old_fields = {f["name"] for f in record_types(old)["newsingest.EnrichedArticle"]["fields"]}
    added = [f for f in new_records["newsingest.EnrichedArticle"]["fields"] if f["name"] not in old_fields]
    assert [f["name"] for f in added if "default" not in f] == ["breaking"]
    # and a reader on that schema cannot read old files (the reason for the rule)
    data = write_fastavro(old, [{k: v for k, v in current_record().items() if k not in new_fields_since(old)}])
    with pytest.raises(Exception):  # noqa: B017 - fastavro raises several types here; any failure is the point
        read_fastavro(data, bad)
