"""Markdown tables of the record format, generated from the `doc` strings of `schemas/*.avsc`.

README.md holds the output between the BEGIN/END markers below; a test fails when it is stale.
Regenerate with:

    python -m pipeline.commands.schema_docs --write README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import schemas

BEGIN = "<!-- BEGIN GENERATED: record format (python -m pipeline.commands.schema_docs --write README.md) -->"
END = "<!-- END GENERATED: record format -->"
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


def generated_block(text: str) -> str | None:
    """The generated part of a markdown file (between the markers), or None when it has no markers."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update_markdown(text: str) -> str:
    """text with its generated block replaced by the current tables."""
    if BEGIN not in text or END not in text:
        raise ValueError("markers not found: " + BEGIN)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_markdown()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipeline.commands.schema_docs",
        description="Markdown tables of the record format from schemas/*.avsc.",
    )
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", type=Path, metavar="FILE.md", help="replace the generated block in FILE.md")
    g.add_argument("--check", type=Path, metavar="FILE.md", help="exit 1 when FILE.md's block is stale")
    args = ap.parse_args(argv)
    if args.write:
        args.write.write_text(update_markdown(args.write.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if args.check:
        if generated_block(args.check.read_text(encoding="utf-8")) != render_markdown():
            print(
                f"{args.check} is stale: run python -m pipeline.commands.schema_docs --write {args.check}",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
