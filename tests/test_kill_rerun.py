"""A run killed with SIGKILL halfway, then rerun: no truncated Avro file is ever visible, the rerun's
output is complete with no duplicates (also when the shard count changes), and two runs over the same
input give the same records apart from ``ingested_at``.

One scenario, in order (``python -m pipeline run`` as a real subprocess):
  A: a complete run with --num-shards 2;
  B: a run with --num-shards 3, SIGKILLed while it writes;
  C: the rerun of B to completion.
"""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import avro.datafile
import avro.io
import fastavro
import pytest
from conftest import FIXTURES, ROOT

ARTICLES = FIXTURES / "written_articles.jsonl"
N_ARTICLES = 40
OUTPUT_GLOBS = ("articles-*.avro", "deadletter-*.avro")


def make_input(d: Path) -> list[str]:
    """N_ARTICLES fixture articles (texts cut short to keep the run quick) over two files, plus 2 bad lines."""
    d.mkdir()
    ids = []
    lines = ARTICLES.read_text(encoding="utf-8").splitlines()[:N_ARTICLES]
    chunks = ([], [])
    for i, line in enumerate(lines):
        obj = json.loads(line)
        obj["text"] = obj["text"][:300]
        ids.append(obj["id"])
        chunks[i % 2].append(json.dumps(obj, ensure_ascii=False))
    chunks[0].append("{not json")
    chunks[1].append('{"text": ""}')
    for n, chunk in enumerate(chunks):
        (d / f"part{n}.jsonl").write_text("\n".join(chunk) + "\n", encoding="utf-8")
    return ids


def command(inp: Path, out: Path, model: Path, shards: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--input",
        str(inp / "*.jsonl"),
        "--output",
        str(out),
        "--ner-model",
        str(model),
        "--num-shards",
        str(shards),
        "--torch-threads",
        "1",
    ]


def env() -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    e.pop("PYTHONSTARTUP", None)
    return e


def run_to_completion(cmd: list[str]) -> float:
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.time() - started


def visible_outputs(out: Path) -> list[Path]:
    return sorted(p for g in OUTPUT_GLOBS for p in out.glob(g))


def read_all(path: Path) -> list[dict]:
    """Reads a whole file with fastavro and with the official avro package (both must succeed)."""
    with open(path, "rb") as fh:
        records = list(fastavro.reader(fh))
    with avro.datafile.DataFileReader(open(path, "rb"), avro.io.DatumReader()) as reader:
        assert sum(1 for _ in reader) == len(records)
    return records


def outputs(out: Path) -> tuple[list[dict], list[dict]]:
    files = visible_outputs(out)
    records = [r for f in files if f.name.startswith("articles-") for r in read_all(f)]
    dead = [d for f in files if f.name.startswith("deadletter-") for d in read_all(f)]
    return records, dead


def comparable(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: {k: v for k, v in r.items() if k != "ingested_at"} for r in records}


def kill_while_writing(cmd: list[str], out: Path, latest_s: float) -> str:
    """Start ``cmd``; SIGKILL it as soon as a temporary shard file exists (Beam is writing output), or
    ``latest_s`` seconds after start. Returns what triggered the kill."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    started, trigger = time.time(), None
    try:
        while proc.poll() is None:
            temp_files = [p for p in glob.glob(str(out / "beam-temp-*" / "*")) if os.path.isfile(p)]
            if temp_files:
                trigger = f"temporary shard file {Path(temp_files[0]).name} appeared"
            elif time.time() - started > latest_s and glob.glob(str(out / "beam-temp-*")):
                trigger = f"{latest_s:.1f} s after start (beam-temp folder present)"
            if trigger:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed halfway; make the input larger")
    return trigger


def test_kill_then_rerun_leaves_complete_valid_output_without_duplicates(tmp_path, tiny_ner):
    inp, out = tmp_path / "in", tmp_path / "out"
    ids = make_input(inp)

    # A: complete run, 2 shards per kind
    wall_a = run_to_completion(command(inp, out, tiny_ner, 2))
    files_a = visible_outputs(out)
    assert {f.name for f in files_a} == {
        f"{k}-0000{i}-of-00002.avro" for k in ("articles", "deadletter") for i in range(2)
    }
    records_a, dead_a = outputs(out)
    assert sorted(r["id"] for r in records_a) == sorted(ids) and len(dead_a) == 2
    assert not glob.glob(str(out / "beam-temp-*"))

    # B: killed while it writes 3 shards; every visible output file must still read completely
    trigger = kill_while_writing(command(inp, out, tiny_ner, 3), out, latest_s=0.7 * wall_a)
    print(f"\nkilled run B: {trigger}; A took {wall_a:.1f} s")
    for f in visible_outputs(out):
        read_all(f)  # raises on a truncated or half-written file
    assert {f.name for f in visible_outputs(out)} <= {f.name for f in files_a} | {
        f"{k}-0000{i}-of-00003.avro" for k in ("articles", "deadletter") for i in range(3)
    }

    # C: rerun to completion, 3 shards: A's 2-shard files go, B's temporary folders go
    run_to_completion(command(inp, out, tiny_ner, 3))
    assert {f.name for f in visible_outputs(out)} == {
        f"{k}-0000{i}-of-00003.avro" for k in ("articles", "deadletter") for i in range(3)
    }
    assert not glob.glob(str(out / "beam-temp-*")), "leftover temporary folders"
    records_c, dead_c = outputs(out)
    got = sorted(r["id"] for r in records_c)
    assert got == sorted(ids), "every input id exactly once"
    assert sorted((d["source_file"], d["source_line"]) for d in dead_c) == sorted(
        (d["source_file"], d["source_line"]) for d in dead_a
    )

    # determinism: same input, same records apart from ingested_at (A vs C, different shard counts).
    # Model scores are compared to 1e-5: batches differ between runs (Beam sizes them adaptively), and
    # a float32 forward pass over a differently padded/sized batch can change the last bits of a score.
    a, c = comparable(records_a), comparable(records_c)
    diff = sorted(k for k in a if not same(a[k], c[k]))
    assert not diff, f"{len(diff)} records differ between two runs, e.g. {diff[:3]}: {first_difference(a, c, diff)}"
    bitwise = sum(a[k] != c[k] for k in a)
    print(f"records identical bit for bit: {len(a) - bitwise}/{len(a)} (others differ only in score bits)")


def same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-7)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y))
    return x == y


def first_difference(a: dict, c: dict, keys: list[str]) -> str:
    for k in keys:
        for f in a[k]:
            if not same(a[k][f], c[k][f]):
                return f"{k}.{f}: {str(a[k][f])[:300]} != {str(c[k][f])[:300]}"
    return ""
