"""docs/options.md carries the options reference generated from `news-ingest run`'s parser, and stays current."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import options_docs
from pipeline.run import help_parser

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / options_docs.PAGE
FIX = "python -m pipeline.commands.options_docs --write docs/options.md"


def test_committed_reference_is_current():
    block = options_docs.BLOCK.extract(DOC.read_text(encoding="utf-8"))
    assert block is not None, f"markers missing in {DOC}"
    assert block == options_docs.render_markdown(), f"{options_docs.PAGE} is stale: run {FIX}"


def test_markers_name_the_regeneration_command():
    assert FIX in options_docs.BLOCK.begin


def test_every_flag_and_alias_of_the_parser_is_in_the_reference():
    md = options_docs.render_markdown()
    flags = [s for a in help_parser()._actions for s in a.option_strings if s not in ("-h", "--help")]
    assert len(flags) > 30
    for flag in flags:
        assert f"`{flag}" in md, flag
    assert "Beam options pass through" in md  # the epilog


def test_rendering_of_one_small_parser():
    ap = argparse.ArgumentParser(prog="x", usage="x [options]", epilog="First.\n\nSecond line\nwrapped.")
    ap.add_argument("--switch", action="store_true", help="a switch")
    group = ap.add_argument_group("things")
    group.add_argument("--new-name", "--old-name", dest="new_name", type=int, default=0, help="count of <things>")
    group.add_argument("--kind", choices=("a", "b"), default="a", help="files like out-*.avro | pipes")
    group.add_argument("--path", default=None, help="a path")
    group.add_argument("--hidden", help=argparse.SUPPRESS)
    md = options_docs.render_markdown(ap)
    assert md.startswith("```text\nusage: x [options]\n```\n")
    assert "### run\n" in md and "| `--switch` | off | a switch |" in md
    assert "### things\n" in md
    assert "| `--new-name NEW_NAME` (alias `--old-name`) | `0` | count of &lt;things> |" in md
    assert "| `--kind {a,b}` | `a` | files like out-\\*.avro \\| pipes |" in md
    assert "| `--path PATH` |  | a path |" in md
    assert "--hidden" not in md
    assert md.endswith("First.\n\nSecond line wrapped.\n")


def test_write_and_check(tmp_path, capsys):
    page = tmp_path / "options.md"
    block = options_docs.BLOCK
    page.write_text(f"# intro\n{block.begin}\nold\n{block.end}\n## notes\n", encoding="utf-8")
    assert options_docs.main(["--check", str(page)]) == 1
    assert "options_docs --write" in capsys.readouterr().err
    assert options_docs.main(["--write", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# intro\n") and text.endswith("## notes\n") and "\nold\n" not in text
    assert options_docs.main(["--check", str(page)]) == 0
