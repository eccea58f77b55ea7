"""The reading examples of docs/consumers.md, run exactly as written on a fixture output folder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import avro_fixtures as af
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "consumers.md"
N = 40


def example(name: str) -> str:
    """The ```python block that follows `<!-- example: name -->` in the guide."""
    m = re.search(r"<!-- example: " + re.escape(name) + r" -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert m, f"example {name!r} not found in {DOC}"
    return m.group(1)


@pytest.fixture()
def output(tmp_path, monkeypatch):
    """An `output` folder (streaming layout, so the examples must search recursively) in the cwd."""
    recs = af.make_records(N, undated=2)
    af.write_output_dir(tmp_path / "output", recs, dead=2, shards=3, windows=True)
    monkeypatch.chdir(tmp_path)
    return recs


def run_example(name: str) -> dict:
    ns: dict = {"__name__": "__example__"}
    exec(compile(example(name), f"docs/consumers.md:{name}", "exec"), ns)
    return ns


def run_example_apart(name: str, report: list[str], cwd: Path) -> dict:
    """The example followed by ``report`` (lines that print one ``RESULT <json>`` line), in a Python of its own
    started in ``cwd`` (an example that starts its own Spark session); the JSON it printed."""
    code = example(name) + "\n" + "\n".join(report)
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def test_all_examples_are_present():
    for name in ("fastavro", "pandas", "polars", "avro"):
        assert example(name).strip()


def test_fastavro_example(output, capsys):
    ns = run_example("fastavro")
    assert len(ns["articles"]) == N and len(ns["dead_letters"]) == 2
    assert {a["id"] for a in ns["articles"]} == {r["id"] for r in output}
    assert isinstance(ns["dead_letters"][0]["raw"], bytes)
    assert "parse JSONDecodeError" in capsys.readouterr().out


def test_pandas_example(output):
    ns = run_example("pandas")
    assert len(ns["articles"]) == N
    expected = Counter(t for r in output for t in r["topic_labels"])
    assert ns["topics_per_day"].sum().to_dict() == dict(expected)
    mentions = Counter((e["text"], e["label"]) for r in output for e in r["entities"])
    top = ns["top_entities"]
    assert len(top) == 10
    assert top.iloc[0] == max(mentions.values())
    assert all(int(n) == mentions[key] for key, n in top.items())
    assert len(ns["entities"]) == sum(mentions.values())


def test_avro_package_example(output):
    ns = run_example("avro")
    assert ns["topic_counts"] == dict(Counter(t for r in output for t in r["topic_labels"]))


def test_polars_example(output):
    ns = run_example("polars")
    assert ns["articles"].height == N and ns["dead_letters"].height == 2
    assert dict(ns["topic_counts"].iter_rows()) == dict(Counter(t for r in output for t in r["topic_labels"]))
    mentions = Counter((e["text"], e["label"]) for r in output for e in r["entities"])
    assert ns["entities"].height == sum(mentions.values())
    top = list(ns["top_entities"].iter_rows())
    assert len(top) == 10 and top[0][2] == max(mentions.values())
    assert all(mentions[(text, label)] == n for text, label, n in top)
