"""docs/records.md carries the record-format tables generated from the .avsc docs, and stays current."""

from __future__ import annotations

from pathlib import Path

import schemas
from pipeline.commands import schema_docs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / schema_docs.PAGE
FIX = "python -m pipeline.commands.schema_docs --write docs/records.md"


def test_committed_guide_has_current_tables():
    block = schema_docs.BLOCK.extract(DOC.read_text(encoding="utf-8"))
    assert block is not None, f"markers missing in {DOC}"
    assert block == schema_docs.render_markdown(), f"{schema_docs.PAGE} is stale: run {FIX}"


def test_check_command_agrees(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert schema_docs.main(["--check"]) == 0  # the default page, docs/records.md
    stale = tmp_path / "stale.md"
    stale.write_text(f"{schema_docs.BLOCK.begin}\nold tables\n{schema_docs.BLOCK.end}\n", encoding="utf-8")
    assert schema_docs.main(["--check", str(stale)]) == 1
    assert "schema_docs --write" in capsys.readouterr().err


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


def test_write_replaces_only_the_block(tmp_path):
    block = schema_docs.BLOCK
    page = tmp_path / "records.md"
    page.write_text(f"intro\n{block.begin}\nold stuff\n{block.end}\noutro\n", encoding="utf-8")
    assert schema_docs.main(["--write", str(page)]) == 0
    new = page.read_text(encoding="utf-8")
    assert new.startswith("intro\n") and new.endswith("outro\n") and "old stuff" not in new
    assert block.extract(new) == schema_docs.render_markdown()
    assert schema_docs.main(["--check", str(page)]) == 0
    assert block.replace(new, schema_docs.render_markdown()) == new


def test_markers_name_the_regeneration_command():
    assert FIX in schema_docs.BLOCK.begin
    assert schema_docs.BLOCK.extract("no markers here") is None
