"""Flink for real: Beam's Flink job server (built by `make engines`), an embedded Flink (`[local]`) and a
Flink 1.19 session cluster (`make flink-up`, localhost:8081), batch, streaming and Kafka, with a
TaskManager SIGKILLed mid-stream.

Engine tests skip on a clone where `make engines` / `make flink-up` were not run; .ci/run fetches and
starts them and sets NEWS_INGEST_REQUIRE_ENGINES=1, which turns a missing engine into a failure there.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, SHARED, read_avro, run_pipeline, skip_or_fail
from test_engines import _entity_view, _require_engine, _wait_for, _window_files
from test_kafka import (
    consume_all,
    hostile_messages,
    kill_tree,
    produce,
    real_articles,
    stop,
    wait_for_first_record,
)

from pipeline.runtime import engines, flink

MASTER = os.environ.get("FLINK_MASTER", "localhost:8081")
FLINK_SH = ROOT / "engines" / "flink.sh"


@pytest.fixture(scope="module")
def job_server():
    return _require_engine(engines.flink_job_server_jar())


@pytest.fixture(scope="module")
def cluster(job_server):
    try:
        flink.check_cluster(MASTER, engines.FLINK_VERSION)
    except flink.FlinkUnavailable as e:
        skip_or_fail(f"no Flink {engines.FLINK_VERSION} session cluster: {e}")
    return MASTER


def _rest(path: str) -> dict:
    with urllib.request.urlopen(f"http://{MASTER}{path}", timeout=10) as r:
        return json.loads(r.read())


def _running_jobs() -> list[dict]:
    return [j for j in _rest("/jobs/overview")["jobs"] if j["state"] not in flink.TERMINAL_STATES]


def _summary(log_text: str) -> dict:
    summary, _ = json.JSONDecoder().raw_decode(log_text.split("summary: ")[-1])
    return summary


# --- errors a user can act on --------------------------------------------------------------------


class _FakeRest(http.server.BaseHTTPRequestHandler):
    """Answers /overview as a Flink 1.20.3 JobManager does (the version check reads only that)."""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"taskmanagers": 1, "slots-total": 2, "flink-version": "1.20.3"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "FlinkRunner",
            "--input",
            str(ROOT / "seeds" / "*"),
            "--output",
            str(tmp_path / "out"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_master_and_wrong_flink_version_are_one_line_exit_2(tmp_path, job_server):
    proc = _run_cli(tmp_path, "--flink_master", f"127.0.0.1:{_unused_port()}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Flink REST API answers" in lines[0] and "make flink-up" in lines[0], proc.stderr

    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeRest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = _run_cli(tmp_path, "--flink_master", f"127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "runs Flink 1.20.3" in lines[0] and "1.19" in lines[0], proc.stderr


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kafka_without_java_is_one_line_exit_2(tmp_path, job_server):
    """The Kafka reader runs in Java: without a `java` on PATH the run stops before anything starts."""
    pytest.importorskip("confluent_kafka")
    env = dict(os.environ, PATH=str(tmp_path))  # the CLI runs by absolute path; no java anywhere on PATH
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "FlinkRunner",
            "--flink_job_server_jar",
            job_server,
            "--streaming",
            "--kafka-topic",
            "t",
            "--output",
            str(tmp_path / "out"),
            "--max-runtime",
            "5",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no `java` is on PATH" in lines[0], proc.stderr


# --- batch ---------------------------------------------------------------------------------------


def _thirty_real_articles(d: Path) -> set[str]:
    path = SHARED / "data" / "news" / "articles.jsonl"
    if not path.exists():
        path = FIXTURES / "written_articles.jsonl"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:30]
    d.mkdir()
    (d / "articles.jsonl").write_text("\n".join(lines) + "\n{not json\n", encoding="utf-8")
    return {json.loads(line)["id"] for line in lines}


@pytest.fixture(scope="module")
def batch_reference(tmp_path_factory):
    """30 real articles (and one broken line) through the in-process runner with the default models."""
    root = tmp_path_factory.mktemp("flink-batch")
    ids = _thirty_real_articles(root / "in")
    assert run_pipeline(["--input", str(root / "in" / "*"), "--output", str(root / "fnapi")]) == 0
    return root, ids, read_avro(str(root / "fnapi" / "articles-*.avro"))


@pytest.mark.parametrize("where", ["[local]", "cluster"])
def test_batch_on_flink_gives_the_records_of_the_in_process_runner(request, where, batch_reference, job_server):
    master = request.getfixturevalue("cluster") if where == "cluster" else "[local]"
    root, ids, reference = batch_reference
    out = root / ("flink-" + where.strip("[]"))
    log = root / f"{out.name}.log"
    with open(log, "w") as fh:
        rc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "--runner",
                "FlinkRunner",
                "--flink_master",
                master,
                "--parallelism",
                "2",
                "--input",
                str(root / "in" / "*"),
                "--output",
                str(out),
            ],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=600,
        ).returncode
    assert rc == 0, log.read_text()[-3000:]
    records = read_avro(str(out / "articles-*.avro"))
    dead = read_avro(str(out / "deadletter-*.avro"))
    assert {r["id"] for r in records} == ids and len(records) == len(ids)
    assert [(d["source_line"], d["stage"]) for d in dead] == [(31, "parse")]
    # ids, entity spans and labels, topic labels: identical to the in-process runner's
    assert sorted(map(_entity_view, records)) == sorted(map(_entity_view, reference))
    summary = _summary(log.read_text())
    assert summary["articles_in"] == 31 and summary["records_out"] == 30 and summary["dead_letters"] == 1
    if where == "cluster":
        assert summary["flink_job_id"] and summary["flink_web_ui"].startswith(f"http://{MASTER}/#/job/")
        assert _rest(f"/jobs/{summary['flink_job_id']}")["state"] == "FINISHED"
    # the CLI started the job server while it imported, and Beam used it (pipeline/runtime/job_server.py)
    assert "the Flink job server started with the run listens on localhost:" in log.read_text()
    # the job server JVM the CLI started is gone
    assert not [
        p for p in Path("/proc").glob("[0-9]*/cmdline") if job_server.encode() in _read(p) and b"java" in _read(p)
    ]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# --- streaming (files) ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["[local]", "cluster"])
def test_streaming_on_flink_writes_each_window_while_running_and_stops_on_sigterm(
    request, where, tmp_path, job_server, tiny_ner
):
    master = request.getfixturevalue("cluster") if where == "cluster" else "[local]"
    watch, out = tmp_path / "watch", tmp_path / "out"
    watch.mkdir()
    window = 5
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "FlinkRunner",
            "--flink_master",
            master,
            "--parallelism",
            "2",
            "--streaming",
            "--watch",
            str(watch / "*.jsonl"),
            "--output",
            str(out),
            "--ner-model",
            str(tiny_ner),
            "--window-seconds",
            str(window),
            "--poll-seconds",
            "1",
            "--max-runtime",
            "0",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    articles = [json.loads(line) for line in (FIXTURES / "written_articles.jsonl").read_text().splitlines()[:6]]

    def ids_in_files():
        return {r["id"] for r in read_avro(str(out / "articles-*.avro"))}

    try:
        # a warm-up drop: the job is running and its models are loaded once its window file exists
        (watch / "drop-0.jsonl").write_text(json.dumps(articles[0]) + "\n")
        _wait_for(lambda: articles[0]["id"] in ids_in_files(), timeout=240, proc=proc)
        latencies = []
        for i in (1, 2):
            batch = articles[2 * i - 1 : 2 * i + 1]
            body = "\n".join(json.dumps(a) for a in batch) + "\n" + ("{not json\n" if i == 1 else "")
            dropped = time.time()
            (watch / f"drop-{i}.jsonl").write_text(body)
            _wait_for(lambda batch=batch: {a["id"] for a in batch} <= ids_in_files(), timeout=60, proc=proc)
            latencies.append(time.time() - dropped)
        assert proc.poll() is None, "windows must be written while the job runs"
        _wait_for(lambda: read_avro(str(out / "deadletter-*.avro")), timeout=30, proc=proc)
        assert max(latencies) <= window + 10, latencies
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "run.log").read_text()
    records = read_avro(str(out / "articles-*.avro"))
    assert sorted(r["id"] for r in records) == sorted(a["id"] for a in articles[:5])  # each exactly once
    dead = read_avro(str(out / "deadletter-*.avro"))
    assert [(Path(d["source_file"]).name, d["source_line"]) for d in dead] == [("drop-1.jsonl", 3)]
    assert len({p.name.split("-00000-of")[0].split("-", 1)[1] for p in _window_files(out)}) >= 2
    assert [p.name for p in out.iterdir() if not p.name.endswith(".avro")] == []  # no partial files
    summary = _summary(text)
    assert summary["ended"] == "stopped"
    if where == "cluster":
        assert _rest(f"/jobs/{summary['flink_job_id']}")["state"] == "CANCELED"
    print(f"\n{where}: window file {latencies} s after the drop (window {window} s)")


# --- Kafka on the session cluster ----------------------------------------------------------------


def _start_kafka_run(tmp_path: Path, name: str, topic: str, group: str, ner: Path, out: Path) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "FlinkRunner",
            "--flink_master",
            MASTER,
            "--parallelism",
            "2",
            "--checkpointing_interval",
            "2000",
            "--streaming",
            "--kafka-topic",
            topic,
            "--kafka-group-id",
            group,
            "--kafka-output-topic",
            f"{topic}-enriched",
            "--output",
            str(out),
            "--ner-model",
            str(ner),
            "--window-seconds",
            "5",
            "--max-runtime",
            "0",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_all(proc, tmp_path, name, topic, total, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
        records, dead = _on_topics(topic, timeout=5)
        if {o["source_line"] for o in records + dead} >= set(range(total)):
            return
        time.sleep(3)
    raise AssertionError(f"not every message had an output after {timeout} s")


def _check_every_message_once_or_identical(
    records: list[dict], dead: list[dict], expected: dict[int, str]
) -> tuple[int, int]:
    """Every offset has outputs of its expected kind only; duplicates are identical. Returns
    (outputs, duplicates)."""
    kinds, versions = defaultdict(set), defaultdict(set)
    for r in records:
        kinds[r["source_line"]].add("record")
        versions[r["source_line"]].add(
            json.dumps({k: r[k] for k in ("id", "title", "text", "entities", "topics", "topic_labels")}, sort_keys=True)
        )
    for d in dead:
        kinds[d["source_line"]].add("dead")
        versions[d["source_line"]].add(json.dumps({k: d[k] for k in ("stage", "error_type", "raw")}, default=str))
    assert set(kinds) == set(expected), f"missing {sorted(set(expected) - set(kinds))[:20]}"
    assert {o: sorted(k) for o, k in kinds.items() if k != {expected[o]}} == {}
    assert [o for o, v in versions.items() if len(v) != 1] == [], "a duplicate differs from the first output"
    n = len(records) + len(dead)
    return n, n - len(expected)


def _on_topics(topic: str, timeout: float = 30) -> tuple[list[dict], list[dict]]:
    return (
        [r for _, r in consume_all(f"{topic}-enriched", timeout=timeout)],
        [d for _, d in consume_all(f"{topic}-enriched.deadletter", timeout=timeout)],
    )


def _in_files(out: Path) -> tuple[list[dict], list[dict]]:
    return read_avro(str(out / "articles-*.avro")), read_avro(str(out / "deadletter-*.avro"))


def _tm_pids() -> list[int]:
    out = subprocess.run([str(FLINK_SH), "tm-pids"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [int(p) for p in out.split()]


def test_kafka_on_the_cluster_survives_a_taskmanager_sigkill(broker, cluster, tmp_path, tiny_ner):
    """Real articles and hostile messages in a topic; the TaskManager is SIGKILLed after the first
    outputs and `make flink-up` starts a new one; the job recovers by itself from its last checkpoint:
    every message has its output (record or dead letter as expected) on the topics and in the window
    files, duplicates identical."""
    topic, group = f"flink-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = real_articles(300)
    hostile = hostile_messages()
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(k, v) for k, v, _ in hostile])
    expected = {i: "record" for i in range(len(articles))}
    expected.update({len(articles) + j: h[2] for j, h in enumerate(hostile)})
    out = tmp_path / "out"
    jobs_before = {j["jid"] for j in _running_jobs()}
    proc = _start_kafka_run(tmp_path, "run", topic, group, tiny_ner, out)
    try:
        wait_for_first_record(proc, topic, tmp_path / "run.log")
        (job_id,) = {j["jid"] for j in _running_jobs()} - jobs_before
        # streaming runs unchained: the Kafka read is not in the models' task (engines.FLINK_STREAMING_UNCHAINED_FLAG)
        assert _rest(f"/jobs/{job_id}/config")["execution-config"]["user-config"]["operatorChaining"] == "false"
        tasks = [v["name"] for v in _rest(f"/jobs/{job_id}")["vertices"]]
        assert not [t for t in tasks if "KafkaIO.Read" in t and "Enrich" in t], tasks
        # killed once a checkpoint exists, so that the job restores from it (not from the committed offsets)
        _wait_for(lambda: _rest(f"/jobs/{job_id}/checkpoints")["counts"]["completed"] >= 1, timeout=120, proc=proc)
        before = len(consume_all(f"{topic}-enriched"))
        killed = _tm_pids()
        assert killed, "no TaskManager pid"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        t_kill = time.time()
        # more messages while no TaskManager runs: they must come out of the recovered job
        late = [dict(a, id=f"late-{i}") for i, a in enumerate(real_articles(60))]
        produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in late])
        expected.update({len(expected) + i: "record" for i in range(len(late))})
        subprocess.run([str(FLINK_SH), "up"], cwd=ROOT, check=True, capture_output=True, timeout=180)
        assert set(_tm_pids()).isdisjoint(killed)
        # what the killed TaskManager left (its jobs' jars) is in the cluster's folder, which `down` removes
        tmp_dirs = Path({e["key"]: e["value"] for e in _rest("/jobmanager/config")}["io.tmp.dirs"])
        assert tmp_dirs.parts[-2:] == ("flink", "tmp") and list(tmp_dirs.glob("tm_*")), tmp_dirs
        _wait_all(proc, tmp_path, "run", topic, len(expected))
        recovered = time.time() - t_kill
        # window files trail the topics by a window; wait for them too, while the job runs
        _wait_for(
            lambda: {o["source_line"] for kind in _in_files(out) for o in kind} >= set(expected), timeout=120, proc=proc
        )
        assert proc.poll() is None
    finally:
        stop(proc)
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
    n, duplicates = _check_every_message_once_or_identical(*_on_topics(topic), expected)
    in_files, file_duplicates = _check_every_message_once_or_identical(*_in_files(out), expected)
    assert [p.name for p in out.iterdir() if not p.name.endswith(".avro")] == []  # no partial files
    summary = _summary((tmp_path / "run.log").read_text())
    assert summary["flink_job_id"] == job_id
    assert _rest(f"/jobs/{job_id}")["state"] == "CANCELED"
    # the same job went on: it failed over once and restored its state from a checkpoint
    assert _rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    restored = _rest(f"/jobs/{job_id}/checkpoints")["latest"]["restored"]
    assert restored is not None and restored["id"] >= 1
    print(
        f"\nTaskManager SIGKILL: {before} records before the kill; all {len(expected)} messages had outputs "
        f"{recovered:.0f} s after it, restored from checkpoint {restored['id']}; on the topics {n} outputs "
        f"({duplicates} duplicates, identical), in the window files {in_files} ({file_duplicates} duplicates)"
    )


def test_kafka_on_the_cluster_cli_killed_and_restarted_loses_nothing(broker, cluster, tmp_path, tiny_ner):
    """SIGKILL the CLI (and the job server and expansion JVMs it started) mid-stream; its job on the
    cluster cannot run without its LOOPBACK worker and is cancelled as an operator would; a new CLI with
    the same consumer group gives every message its output."""
    topic, group = f"flink-crash-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = real_articles(300)
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(None, b"{broken")])
    expected = {i: "record" for i in range(len(articles))} | {len(articles): "dead"}
    out = tmp_path / "out"
    jobs_before = {j["jid"] for j in _running_jobs()}
    first = _start_kafka_run(tmp_path, "first", topic, group, tiny_ner, out)
    try:
        wait_for_first_record(first, topic, tmp_path / "first.log")
    finally:
        kill_tree(first)
    before = len(consume_all(f"{topic}-enriched"))
    assert before < len(articles), "the kill came too late to test a restart"
    for job in _running_jobs():
        if job["jid"] not in jobs_before:
            assert flink.cancel_job(MASTER, job["jid"]) == "CANCELED"
    second = _start_kafka_run(tmp_path, "second", topic, group, tiny_ner, out)
    try:
        _wait_all(second, tmp_path, "second", topic, len(expected))
    finally:
        stop(second)
    assert second.returncode == 0
    n, duplicates = _check_every_message_once_or_identical(*_on_topics(topic), expected)
    print(
        f"\nCLI SIGKILL: {before} records before the kill; {n} outputs for {len(expected)} messages "
        f"after the restart ({duplicates} duplicates, identical)"
    )
