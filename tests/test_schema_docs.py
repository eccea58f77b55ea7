"""README.md carries the record-format tables generated from the .avsc docs, and stays current."""

from __future__ import annotations

from pathlib import Path

import schemas
from pipeline.commands import schema_docs

DOC = Path(__file__).resolve().parents[1] / "README.md"
FIX = "python -m pipeline.commands.schema_docs --write README.md"


def test_committed_guide_has_current_tables():
    block = schema_docs.generated_block(DOC.read_text(encoding="utf-8"))
    assert block is not None, f"markers missing in {DOC}"
    assert block == schema_docs.render_markdown(), f"README.md is stale: run {FIX}"


def test_every_field_and_doc_is_rendered():
    md = schema_docs.render_markdown()
    for name in schema_docs.SCHEMAS:
        s = schemas.load_json(name)
        stack = [s]
        while stack:
            rec = stack.pop()
            for f in rec["fields"]:
                assert f"| `{f['name']}` |" in md
                if f.get("doc"):
                    assert schema_docs._cell(f["doc"]) in md
                t = f["type"]
                items = t.get("items") if isinstance(t, dict) else None
                for sub in (t, items):
                    if isinstance(sub, dict) and sub.get("type") == "record":
                        assert f"#### {sub['name']}" in md
                        stack.append(sub)


def test_type_rendering():
    assert (
        schema_docs.type_str(["null", {"type": "long", "logicalType": "timestamp-millis"}])
        == "timestamp-millis (long) or null"
    )
    assert schema_docs.type_str({"type": "map", "values": "string"}) == "map of string"
    assert schema_docs.type_str({"type": "enum", "name": "E", "symbols": ["a", "b"]}) == "enum E (a, b)"
    nested = []
    assert (
        schema_docs.type_str({"type": "array", "items": {"type": "record", "name": "R", "fields": []}}, nested)
        == "array of record R"
    )
    assert [r["name"] for r in nested] == ["R"]
    assert schema_docs._cell("a | b\n c") == "a \\| b c"


def test_update_replaces_only_the_block():
    text = f"intro\n{schema_docs.BEGIN}\nold stuff\n{schema_docs.END}\noutro\n"
    new = schema_docs.update_markdown(text)
    assert new.startswith("intro\n") and new.endswith("outro\n") and "old stuff" not in new
    assert schema_docs.generated_block(new) == schema_docs.render_markdown()
    assert schema_docs.update_markdown(new) == new
