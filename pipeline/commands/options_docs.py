"""The options reference of `news-ingest run`, generated from its argparse parser (`pipeline.run.help_parser`).

docs/options.md holds the output between the BEGIN/END markers of `BLOCK`; a test fails when it is stale,
so the page says what `news-ingest run --help` says. Regenerate with:

    python -m pipeline.commands.options_docs --write docs/options.md
"""

from __future__ import annotations

import argparse
import sys

from pipeline.commands.markdown_block import GeneratedBlock
from pipeline.run import help_parser

BLOCK = GeneratedBlock("run options", page="docs/options.md", module="pipeline.commands.options_docs")
PAGE = BLOCK.page
# argparse's group of the parser's own flags; "run" is what it holds here (--streaming).
OWN_GROUP_TITLE = "run"


def prose(text: str) -> str:
    """argparse help text as markdown: one line, and nothing in it read as markup (globs, <placeholders>)."""
    return " ".join(str(text).split()).replace("<", "&lt;").replace("*", "\\*")


def _cell(text: str) -> str:
    return prose(text).replace("|", "\\|")


def flag_cell(action: argparse.Action) -> str:
    """`--name VALUE` as `--help` shows it, then its aliases."""
    if action.nargs == 0:
        value = ""
    elif action.choices is not None:
        value = " {" + ",".join(str(c) for c in action.choices) + "}"
    else:
        value = " " + str(action.metavar or action.dest.upper())
    name, *aliases = action.option_strings
    cell = f"`{name}{value}`"
    if aliases:
        cell += " (alias " + ", ".join(f"`{a}`" for a in aliases) + ")"
    return cell.replace("|", "\\|")


def default_cell(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "off" if action.default is False else f"`{action.default}`"
    if action.default is None:
        return ""
    return f"`{action.default}`"


def group_table(actions: list[argparse.Action]) -> str:
    lines = ["| Flag | Default | Meaning |", "| --- | --- | --- |"]
    lines += [f"| {flag_cell(a)} | {default_cell(a)} | {_cell(a.help or '')} |" for a in actions]
    return "\n".join(lines)


def render_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The generated block (without the markers): usage, one table per option group, the epilog."""
    parser = parser or help_parser()
    out = ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        out += [prose(parser.description), ""]
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.option_strings and a.help != argparse.SUPPRESS and "-h" not in a.option_strings
        ]
        if not actions:
            continue
        title = OWN_GROUP_TITLE if group is parser._optionals else group.title
        out += [f"### {prose(title or '')}", "", group_table(actions), ""]
    if parser.epilog:
        paragraphs = [p for p in parser.epilog.split("\n\n") if p.strip()]
        out += [f"{prose(p)}\n" for p in paragraphs]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return BLOCK.main(argv, render_markdown, "The options reference of `news-ingest run` from its argparse parser.")


if __name__ == "__main__":
    sys.exit(main())
