"""Markdown tables of the record format, generated from the `doc` strings of `schemas/*.avsc`.

docs/records.md holds the output between the BEGIN/END markers of `BLOCK`; a test fails when it is stale.
Regenerate with:

    python -m pipeline.commands.schema_docs --write docs/records.md
"""

from __future__ import annotations

import json
import sys

import schemas
from pipeline.commands.markdown_block import GeneratedBlock

BLOCK = GeneratedBlock("record format", page="docs/records.md", module="pipeline.commands.schema_docs")
PAGE = BLOCK.page
SCHEMAS = (schemas.ENRICHED_ARTICLE, schemas.DEAD_LETTER)


def _cell(text) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def type_str(t, nested: list | None = None) -> str:
    """A readable Avro type. Named records met on the way are appended to `nested` (for their own table)."""
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        branches = [type_str(b, nested) for b in t]
        non_null = [b for b in branches if b != "null"]
        if len(non_null) == 1 and len(branches) == 2:
            return f"{non_null[0]} or null"
        return " or ".join(branches)
    kind = t.get("type")
    if t.get("logicalType"):
        return f"{t['logicalType']} ({type_str(kind, nested)})"
    if kind == "array":
        return f"array of {type_str(t['items'], nested)}"
    if kind == "map":
        return f"map of {type_str(t['values'], nested)}"
    if kind == "record":
        if nested is not None:
            nested.append(t)
        return f"record {t['name']}"
    if kind == "enum":
        return f"enum {t['name']} ({', '.join(t['symbols'])})"
    if kind == "fixed":
        return f"fixed {t['name']} ({t['size']} bytes)"
    return type_str(kind, nested)


def _default(field: dict) -> str:
    if "default" not in field:
        return "required"
    return "`" + json.dumps(field["default"]) + "`"


def record_table(record: dict, nested: list) -> str:
    lines = ["| Field | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for f in record["fields"]:
        lines.append(
            f"| `{f['name']}` | {_cell(type_str(f['type'], nested))} | {_cell(_default(f))} | "
            f"{_cell(f.get('doc', ''))} |"
        )
    return "\n".join(lines)


def render_schema(name: str) -> str:
    """Markdown for one .avsc: a heading, its doc, a table of its fields, then one per nested record."""
    s = schemas.load_json(name)
    out = [f"### {s['name']} (`schemas/{name}.avsc`, version {s.get('version', '?')})", ""]
    if s.get("doc"):
        out += [" ".join(s["doc"].split()), ""]
    nested: list = []
    out += [record_table(s, nested), ""]
    done = {s["name"]}
    while nested:
        rec = nested.pop(0)
        if rec["name"] in done:
            continue
        done.add(rec["name"])
        out += [f"#### {rec['name']}", ""]
        if rec.get("doc"):
            out += [" ".join(rec["doc"].split()), ""]
        out += [record_table(rec, nested), ""]
    return "\n".join(out).rstrip() + "\n"


def render_markdown(names=SCHEMAS) -> str:
    """The generated block (without the markers)."""
    return "\n".join(render_schema(n) for n in names)


def main(argv: list[str] | None = None) -> int:
    return BLOCK.main(argv, render_markdown, "Markdown tables of the record format from schemas/*.avsc.")


if __name__ == "__main__":
    sys.exit(main())
