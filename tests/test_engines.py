"""Real Beam engines: Prism (Beam's local streaming runner, fetched by `make engines`) in batch and in
streaming, and the runner flags that find engine files without ever downloading.

Engine tests skip on a clone where `make engines` was not run; .ci/run fetches the engines and sets
NEWS_INGEST_REQUIRE_ENGINES=1, which turns a missing engine into a failure there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, read_avro, run_pipeline
from test_hostile_input import DEAD, RECORD, build_corpus

from pipeline.runtime import engines


def _require_engine(path: Path):
    if path.is_file():
        return str(path)
    if os.environ.get("NEWS_INGEST_REQUIRE_ENGINES"):
        pytest.fail(f"{path} missing although NEWS_INGEST_REQUIRE_ENGINES is set (run `make engines`)")
    pytest.skip(f"{path.name} not fetched: run `make engines`")


@pytest.fixture(scope="module")
def prism():
    return _require_engine(engines.prism_binary())


# --- runner flags --------------------------------------------------------------------------------


def test_runner_flags_are_filled_in_from_the_engines_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_INGEST_ENGINES", str(tmp_path))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "prism").write_bytes(b"")
    long = ["--job_server_timeout", str(engines.JOB_STREAM_TIMEOUT_SECONDS)]
    assert engines.complete_runner_args(["--runner", "PrismRunner"]) == [
        "--runner",
        "PrismRunner",
        "--prism_location",
        str(tmp_path / "bin" / "prism"),
        *long,
    ]
    # what the user gave is kept as given
    assert engines.complete_runner_args(
        ["--runner=PrismRunner", "--prism_location=/x/prism", "--job_server_timeout=60"]
    ) == ["--runner=PrismRunner", "--prism_location=/x/prism", "--job_server_timeout=60"]
    # the in-process default is left alone
    assert engines.complete_runner_args(["--input", "x"]) == ["--input", "x"]
    jar = engines.flink_job_server_jar("1.19")
    jar.parent.mkdir()
    jar.write_bytes(b"")
    flink = engines.complete_runner_args(["--runner", "FlinkRunner", "--flink_master", "localhost:8081"])
    assert flink[:-1] == [
        "--runner",
        "FlinkRunner",
        "--flink_master",
        "localhost:8081",
        *long,
        "--flink_job_server_jar",
        str(jar),
        "--flink_version",
        "1.19",
        "--job_server_jvm_properties=-XX:TieredStopAtLevel=1",
        "--job_server_jvm_properties=-XX:+UseSerialGC",
        "--environment_type",
        "LOOPBACK",
        "--job_name",
    ]
    assert flink[-1].startswith("news-ingest-")
    # Beam's official jar, where a registry serves it, is preferred to the one built from the Java libraries
    official = engines.flink_job_server_jars("1.19")[0]
    official.write_bytes(b"")
    assert engines.flink_job_server_jar("1.19") == official
    # embedded Flink by default; streaming checkpoints, finishes bundles before them, never idles sources out
    flink = engines.complete_runner_args(["--runner", "FlinkRunner", "--streaming", "--job_name", "j"])
    assert engines.given_options(flink).get("flink_master") == "[local]"
    assert engines.given_options(flink).get("checkpointing_interval") == str(engines.FLINK_CHECKPOINT_MS)
    assert "--finish_bundle_before_checkpointing" in flink
    assert engines.given_options(flink).get("shutdown_sources_after_idle_ms") == engines.NEVER_MS
    assert engines.given_options(flink).get("max_bundle_time_mills") == str(engines.FLINK_STREAMING_BUNDLE_MS)
    assert engines.given_options(flink).get("state_backend") == "filesystem"  # the embedded Flink's checkpoints on disk
    assert flink.count("--operator_chaining") == 1  # given, Beam's flag turns chaining off (test_flink checks the job)
    cluster = engines.complete_runner_args(["--runner", "FlinkRunner", "--streaming", "--flink_master", "h:8081"])
    assert engines.given_options(cluster).get("state_backend") is None  # a cluster's own configuration decides
    flink = engines.complete_runner_args(["--runner", "FlinkRunner", "--streaming", "--checkpointing_interval=500"])
    assert engines.given_options(flink).get("checkpointing_interval") == "500"
    batch = engines.complete_runner_args(["--runner", "FlinkRunner"])
    assert engines.given_options(batch).get("max_bundle_time_mills") is None  # batch keeps Flink's 10 s bundles
    assert "--operator_chaining" not in batch  # and its chaining
    # the job server's JVM: ours unless the user names their own
    assert engines.given_options(batch)["job_server_jvm_properties"] == list(engines.FLINK_JOB_SERVER_JVM_PROPERTIES)
    own = engines.complete_runner_args(["--runner", "FlinkRunner", "--job_server_jvm_properties=-Xmx2g"])
    assert engines.given_options(own)["job_server_jvm_properties"] == ["-Xmx2g"]


def test_a_flag_given_with_its_default_value_or_an_alias_counts_as_given(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_INGEST_ENGINES", str(tmp_path))
    jar = engines.flink_job_server_jar("1.20")
    jar.parent.mkdir()
    jar.write_bytes(b"")
    # 300 s and Flink 1.20 are Beam's defaults: still the user's choice, never replaced by ours
    argv = ["--runner", "FlinkRunner", "--job_server_timeout", "300", "--flink_version", "1.20"]
    completed = engines.complete_runner_args(argv)
    given = engines.given_options(completed)
    assert (given["job_server_timeout"], given["flink_version"]) == (300, "1.20")
    assert given["flink_job_server_jar"] == str(jar)
    alias = engines.complete_runner_args(
        ["--runner", "FlinkRunner", "--job-server-timeout", "60", "--flink_version=1.20"]
    )
    assert "--job_server_timeout" not in alias
    # a completed argv completes to itself
    assert engines.complete_runner_args(completed) == completed


def test_runner_flags_read_beams_views():
    flags = engines.RunnerFlags(["--runner", "apache_beam.runners.portability.flink_runner.FlinkRunner", "--streaming"])
    assert (flags.runner, flags.streaming, flags.flink_master, flags.runs_remotely) == (
        "flinkrunner",
        True,
        "[auto]",
        False,
    )
    assert set(flags.given) == {"runner", "streaming"}
    default = engines.RunnerFlags(["--input", "x"])
    assert (default.runner, default.flink_master, "runner" in default.given) == ("", None, False)
    assert engines.RunnerFlags(["--runner=DataflowRunner"]).runs_remotely


@pytest.mark.parametrize(
    "runner,what", [("PrismRunner", "Prism runner binary"), ("FlinkRunner", "Flink 1.19 job server jar")]
)
def test_missing_engine_is_one_line_naming_the_make_target(tmp_path, runner, what):
    env = dict(os.environ, NEWS_INGEST_ENGINES=str(tmp_path / "none"))
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            runner,
            "--input",
            str(ROOT / "seeds" / "*"),
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and what in lines[0] and "make engines" in lines[0], proc.stderr
    assert time.time() - started < 60  # no download attempt, no wait


# --- Prism, batch --------------------------------------------------------------------------------


def _entity_view(record):
    return (
        record["id"],
        tuple((e["field"], e["start"], e["end"], e["text"], e["label"]) for e in record["entities"]),
        tuple(record["topic_labels"]),
    )


def test_batch_on_prism_gives_the_records_of_the_in_process_runner(tmp_path, prism, tiny_ner):
    """20 articles written for the tests plus the hostile corpus: every unit is exactly one record or one
    dead letter on Prism, and the records equal the FnApiRunner's (ingested_at aside)."""
    inp = tmp_path / "in"
    inp.mkdir()
    lines = (FIXTURES / "written_articles.jsonl").read_text().splitlines()[:20]
    (inp / "articles.jsonl").write_text("\n".join(lines) + "\n")
    corpus = build_corpus(inp)
    common = ["--input", str(inp / "*"), "--ner-model", str(tiny_ner), "--torch-threads", "1"]
    assert run_pipeline([*common, "--output", str(tmp_path / "fnapi")]) == 0
    assert run_pipeline([*common, "--output", str(tmp_path / "prism"), "--runner", "PrismRunner"]) == 0

    def outputs(name):
        return (
            read_avro(str(tmp_path / name / "articles-*.avro")),
            read_avro(str(tmp_path / name / "deadletter-*.avro")),
        )

    records, dead = outputs("prism")
    key = lambda r: (Path(r["source_file"]).name, r["source_line"])  # noqa: E731
    seen = Counter([key(r) for r in records] + [key(d) for d in dead])
    expected = {(Path(u.file).name, u.line) for u in corpus.units} | {("articles.jsonl", i + 1) for i in range(20)}
    assert {k for k, n in seen.items() if n != 1} == set()
    assert set(seen) == expected
    outcome = {key(r): RECORD for r in records} | {key(d): DEAD for d in dead}
    assert all(outcome[(Path(u.file).name, u.line)] == u.expect for u in corpus.units if u.expect in (RECORD, DEAD))

    ref_records, ref_dead = outputs("fnapi")
    assert sorted(map(_entity_view, records)) == sorted(map(_entity_view, ref_records))
    assert sorted((key(d), d["stage"], d["error_type"]) for d in dead) == sorted(
        (key(d), d["stage"], d["error_type"]) for d in ref_dead
    )


# --- Prism, streaming ----------------------------------------------------------------------------


def _window_files(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.avro"))


def _wait_for(predicate, timeout: float, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the streaming job ended early (rc {proc.returncode})")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s")


def test_streaming_on_prism_writes_windows_while_running_and_stops_cleanly(tmp_path, prism, tiny_ner):
    watch, out = tmp_path / "watch", tmp_path / "out"
    watch.mkdir()
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "PrismRunner",
            "--streaming",
            "--watch",
            str(watch / "*.jsonl"),
            "--output",
            str(out),
            "--ner-model",
            str(tiny_ner),
            "--window-seconds",
            "5",
            "--poll-seconds",
            "1",
            "--max-runtime",
            "0",
            "--torch-threads",
            "1",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        articles = [json.loads(line) for line in (FIXTURES / "written_articles.jsonl").read_text().splitlines()[:6]]
        sent = set()
        for i in range(3):  # three drops, each landing in a later window than the one before
            batch = articles[2 * i : 2 * i + 2]
            body = "\n".join(json.dumps(a) for a in batch) + "\n"
            if i == 1:
                body += "{not json\n"  # a dead letter in the middle of the stream
            (watch / f"drop-{i}.jsonl").write_text(body)
            sent.update(a["id"] for a in batch)
            if i == 0:
                # the first window's file appears while the job runs (it never ends by itself)
                _wait_for(lambda: _window_files(out), timeout=120, proc=proc)
                assert proc.poll() is None
            time.sleep(6)

        def all_visible():
            ids = {r["id"] for r in read_avro(str(out / "articles-*.avro"))}
            dead = read_avro(str(out / "deadletter-*.avro"))
            return (ids, dead) if ids >= sent and dead else None

        ids, dead = _wait_for(all_visible, timeout=90, proc=proc)
        assert proc.poll() is None, "windows must be written before the job ends"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    records = read_avro(str(out / "articles-*.avro"))
    assert sorted(r["id"] for r in records) == sorted(sent)  # each exactly once
    assert [(Path(d["source_file"]).name, d["source_line"]) for d in dead] == [("drop-1.jsonl", 3)]
    assert len({p.name.split("-00000-of")[0].split("-", 1)[1] for p in _window_files(out)}) >= 2
    assert [p.name for p in out.iterdir() if not p.name.endswith(".avro")] == []  # no temp folder left
    summary, _ = json.JSONDecoder().raw_decode((tmp_path / "run.log").read_text().split("summary: ")[-1])
    assert summary["ended"] == "stopped"
