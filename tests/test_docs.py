"""The README stays a five-minute read that is true to the code, and the pages of docs/ stay linked and whole."""

from __future__ import annotations

import re
from pathlib import Path

import avro_fixtures as af
import pytest

from pipeline.run import help_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def section(text: str, heading: str) -> str:
    """The body of a `## heading` section, up to the next `## `."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"section {heading!r} not found"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]  # without header and rule
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_readme_is_a_five_minute_read():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move details into docs/"


def test_readme_test_command_is_make_test():
    """.ci/run and newcomers run `make test`; the README says so."""
    text = section(README.read_text(encoding="utf-8"), "Two commands")
    assert re.search(r"^make test\b", text, re.M)
    assert re.search(r"^make run\b", text, re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    text = README.read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in text, page.name


def test_readme_flag_table_names_real_flags():
    ours = {s for a in help_parser()._actions for s in a.option_strings}
    rows = table_rows(section(README.read_text(encoding="utf-8"), "The CLI at a glance"))
    assert len(rows) == 10
    for row in rows:
        for flag in re.findall(r"--[a-z][\w-]*", row[0]):
            assert flag in ours, flag


def test_readme_layout_is_true_to_the_tree():
    """Every folder of the Layout table exists, and every file or folder a row names sits in that row's folders."""
    rows = table_rows(section(README.read_text(encoding="utf-8"), "Layout"))
    assert len(rows) >= 10
    for folders_cell, text in rows:
        folders = [ROOT / f for f in re.findall(r"`([\w./-]+/)`", folders_cell)]
        assert folders and all(f.is_dir() for f in folders), folders_cell
        for name in re.findall(r"`([\w/-]+\.(?:py|yaml)|[\w-]+/)`", text):
            places = [*folders, ROOT] if name.endswith("/") else folders  # a row may name a top-level folder
            assert any((f / name).exists() for f in places), f"{name} (row {folders_cell})"


def test_readme_fastavro_example_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"<!-- example: readme-fastavro -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert code, "the README's fastavro example is missing"
    records = af.make_records(5)
    af.write_output_dir(tmp_path / "out", records, dead=1, shards=2)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), "README.md:readme-fastavro", "exec"), {"__name__": "__example__"})
    out = capsys.readouterr().out
    assert all(r["id"] in out for r in records)


def test_consumer_examples_are_all_tested():
    """Every example of docs/consumers.md is one that tests/test_consumer_examples.py, tests/test_consumers.py,
    tests/test_partitioned_output.py or tests/test_kafka.py runs (the Kafka and Spark ones need an engine, so
    here they are at least compiled)."""
    text = (ROOT / "docs" / "consumers.md").read_text(encoding="utf-8")
    names = re.findall(r"<!-- example: ([\w-]+) -->", text)
    assert sorted(names) == [
        "avro",
        "fastavro",
        "kafka-consumer",
        "kafka-consumer-raw",
        "pandas",
        "polars",
        "spark",
        "spark-partitioned",
    ]
    for name in ("kafka-consumer", "kafka-consumer-raw", "spark", "spark-partitioned"):
        code = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S).group(1)
        compile(code, f"docs/consumers.md:{name}", "exec")
