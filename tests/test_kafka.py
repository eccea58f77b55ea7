"""Kafka in, Avro out to Kafka and to window files, on Prism, against a real broker.

The broker is the project's own (`engines/kafka.sh up`, started and stopped by .ci/run). Without a
broker on $KAFKA_BOOTSTRAP (default 127.0.0.1:9092) these tests skip, unless
NEWS_INGEST_REQUIRE_ENGINES is set (CI), where that is a failure.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import avro_fixtures as af
import fastavro
import pytest
from conftest import FIXTURES, KAFKA_BOOTSTRAP, ROOT, SHARED, read_avro
from registry_stand_in import RegistryStandIn

import schemas
from transforms.io import avro_messages

BOOTSTRAP = KAFKA_BOOTSTRAP  # the `broker` fixture (conftest) checks that a broker listens there
WRITERS = {
    avro_messages.schema_fingerprint(n): schemas.parsed(n) for n in (schemas.ENRICHED_ARTICLE, schemas.DEAD_LETTER)
}


def produce(topic: str, values: list[tuple[bytes | None, bytes | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": BOOTSTRAP, "message.max.bytes": 16 << 20, "linger.ms": 5, "enable.idempotence": True}
    )  # keeps the order, so offset i is value i
    errors = []
    for key, value in values:
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, _m: err and errors.append(err))
    assert producer.flush(60) == 0 and errors == []


def single_object(value: bytes) -> dict:
    return avro_messages.decode(value, WRITERS)


def consume_all(topic: str, expected: int = 0, timeout: float = 5, decode=single_object) -> list:
    """Decoded (key, record) of the messages on ``topic`` (one partition), read from the beginning until
    ``expected`` arrived, the topic was idle for 2 s, or ``timeout`` passed. ``decode``: value -> record."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": BOOTSTRAP, "group.id": f"test-reader-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, deadline, last = [], time.time() + timeout, time.time()
    while time.time() < deadline and not (expected and len(got) >= expected) and time.time() - last < 2:
        m = consumer.poll(0.25)
        if m is not None and not m.error():
            got.append((m.key(), decode(m.value())))
            last = time.time()
    consumer.close()
    return got


def start_pipeline(
    tmp_path: Path, name: str, topic: str, group: str, ner: Path, out: Path, *flags: str
) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--runner",
            "PrismRunner",
            "--streaming",
            "--kafka-bootstrap",
            BOOTSTRAP,
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
            "--torch-threads",
            "1",
            *flags,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, frontier = [], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            out.append(child)
            frontier.append(child)
    return out


def wait_for_first_record(proc: subprocess.Popen, topic: str, log: Path, timeout: float = 300) -> None:
    """Until the run's first record is on ``<topic>-enriched``; fails if the run exits first."""
    deadline = time.time() + timeout
    while not consume_all(f"{topic}-enriched", 1) and time.time() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (runner, JVMs), as a crash would."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def real_articles(n: int) -> list[dict]:
    path = SHARED / "data" / "news" / "articles.jsonl"
    if not path.exists():
        path = FIXTURES / "written_articles.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rows[i % len(rows)] | {"id": f"{rows[i % len(rows)].get('id', 'a')}-{i}"} for i in range(n)]


def hostile_messages() -> list[tuple[bytes | None, bytes | None, str]]:
    """30 messages: (key, value, expected outcome)."""
    huge = {"id": "huge-3mb", "title": "Very long", "text": "Officials met in Kyiv on Monday. " * 95_000}
    dup = {"id": "dup-id", "title": "Duplicate id", "text": "NATO and Ukraine discussed air defence in Brussels."}
    msgs = [
        (b"k-invalid", b"{not json", "dead"),
        (b"k-empty", b"", "dead"),
        (None, None, "dead"),  # tombstone: no value at all
        (b"k-binary", bytes(range(256)) * 4, "dead"),
        (b"k-array", b"[1, 2, 3]", "dead"),
        (b"k-notext", json.dumps({"title": "no text"}).encode(), "dead"),
        (b"k-latin1", b'{"text": "caf\xe9"}', "dead"),
        (b"k-huge", json.dumps(huge).encode(), "record"),
        (b"k-dup", json.dumps(dup).encode(), "record"),
        (b"k-dup", json.dumps(dup).encode(), "record"),
        (None, json.dumps({"text": "A message without a key about drones over Odesa."}).encode(), "record"),
    ]
    while len(msgs) < 30:
        i = len(msgs)
        msgs.append(
            (None, b"\x80garbage-" + str(i).encode(), "dead")
            if i % 2
            else (
                f"k{i}".encode(),
                json.dumps({"id": f"short-{i}", "text": f"Talks round {i} in Geneva."}).encode(),
                "record",
            )
        )
    return msgs


def test_every_message_is_one_record_or_one_dead_letter_on_topics_and_in_files(broker, tmp_path, tiny_ner):
    topic, group = f"articles-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = real_articles(300)
    hostile = hostile_messages()
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(k, v) for k, v, _ in hostile])
    expected_outcome = {i: "record" for i in range(len(articles))}
    expected_outcome.update({len(articles) + j: h[2] for j, h in enumerate(hostile)})
    total = len(expected_outcome)
    out = tmp_path / "out"
    proc = start_pipeline(tmp_path, "run", topic, group, tiny_ner, out)
    started = time.time()
    try:
        got: list = []
        while len(got) < total and time.time() - started < 600:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            got = consume_all(f"{topic}-enriched") + consume_all(f"{topic}-enriched.deadletter")
            time.sleep(3)
        # window files trail the topics by a window; wait for them too, while the job runs
        deadline = time.time() + 120
        while time.time() < deadline and len(read_avro(str(out / "*.avro"))) < total:
            time.sleep(2)
        assert proc.poll() is None
    finally:
        stop(proc)
    assert proc.returncode == 0
    records = consume_all(f"{topic}-enriched", timeout=30)
    dead = consume_all(f"{topic}-enriched.deadletter", timeout=30)

    def outcomes(recs, dls):
        seen = defaultdict(list)
        for r in recs:
            seen[r["source_line"]].append("record")
        for d in dls:
            seen[d["source_line"]].append("dead")
        return seen

    on_topics = outcomes([r for _, r in records], [d for _, d in dead])
    in_files = outcomes(read_avro(str(out / "articles-*.avro")), read_avro(str(out / "deadletter-*.avro")))
    for where, seen in (("topics", on_topics), ("files", in_files)):
        assert {o: v for o, v in seen.items() if len(v) != 1} == {}, f"{where}: offsets with more than one output"
        assert set(seen) == set(expected_outcome), f"{where}: missing {set(expected_outcome) - set(seen)}"
        assert {o: v[0] for o, v in seen.items()} == expected_outcome, where
    # every record names its message; keys are article ids; the huge article was read by NER only in part
    by_id = {r["id"]: (k, r) for k, r in records}
    assert all(k == r["id"].encode() for k, r in records)
    assert all(r["source_file"] == f"kafka:{topic}/0" for _, r in records)
    assert by_id["huge-3mb"][1]["ner_truncated_at"] is not None
    assert sum(1 for _, r in records if r["id"] == "dup-id") == 2
    assert all(d["raw"] is not None for _, d in dead)
    assert [p.name for p in out.iterdir() if not p.name.endswith(".avro")] == []


def test_kill_and_restart_loses_nothing(broker, tmp_path, tiny_ner):
    """SIGKILL the whole pipeline (CLI, Prism, expansion JVM) mid-stream, restart with the same group:
    every message has at least one output; duplicates are the same article with the same content."""
    topic, group = f"crash-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = real_articles(300)  # enough that a kill at the first output is mid-stream on a fast machine
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(None, b"{broken")])
    total = len(articles) + 1
    out = tmp_path / "out"
    first = start_pipeline(tmp_path, "first", topic, group, tiny_ner, out)
    try:
        wait_for_first_record(first, topic, tmp_path / "first.log")
        # killed at once: a sleep here let a fast run finish all of its articles before the kill
    finally:
        kill_tree(first)
    before = len(consume_all(f"{topic}-enriched"))
    assert before < len(articles), "the kill came too late to test a restart"
    second = start_pipeline(tmp_path, "second", topic, group, tiny_ner, out)
    try:
        deadline = time.time() + 400
        while time.time() < deadline:
            assert second.poll() is None, (tmp_path / "second.log").read_text()[-3000:]
            got = consume_all(f"{topic}-enriched") + consume_all(f"{topic}-enriched.deadletter")
            if {r["source_line"] for _, r in got} >= set(range(total)):
                break
            time.sleep(3)
    finally:
        stop(second)
    records = consume_all(f"{topic}-enriched", timeout=30)
    dead = consume_all(f"{topic}-enriched.deadletter", timeout=30)
    assert {r["source_line"] for _, r in records} | {d["source_line"] for _, d in dead} == set(range(total))
    versions = defaultdict(set)
    for _, r in records:
        versions[r["source_line"]].add(
            json.dumps({k: r[k] for k in ("id", "title", "text", "entities", "topics", "topic_labels")}, sort_keys=True)
        )
    assert all(len(v) == 1 for v in versions.values()), "a duplicate differs from the first output"
    print(
        f"\n{before} records before the kill, {len(records)} after the restart for {total} messages "
        f"({len(records) + len(dead) - total} duplicates)"
    )


def run_doc_example(name: str, monkeypatch, topic: str, n: int) -> dict:
    """Runs the example ``name`` of docs/consumers.md as written, from the repository root, on ``n`` messages of
    ``topic``; its namespace."""
    doc = (ROOT / "docs" / "consumers.md").read_text()
    code = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", doc, re.S).group(1)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TOPIC", topic)
    monkeypatch.setenv("N", str(n))
    ns: dict = {"__name__": "__example__"}
    exec(compile(code, f"docs/consumers.md:{name}", "exec"), ns)
    return ns


def test_consumer_guide_example_decodes_the_output_topic(broker, monkeypatch, capsys):
    """The Kafka consumer example of docs/consumers.md, run as written, on messages encoded by the pipeline's sink
    code (records of the current schema and of 1.1.0, which it must resolve)."""
    from confluent_kafka import Producer

    topic = f"enriched-{uuid.uuid4().hex[:8]}"
    records = af.make_records(4)
    old_schema = json.loads((ROOT / "schemas" / "history" / "enriched_article-1.1.0.avsc").read_text())
    old_parsed = fastavro.parse_schema(old_schema)
    old = {k: v for k, v in records[0].items() if k in {f["name"] for f in old_schema["fields"]}}
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    buf = io.BytesIO()
    buf.write(b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(old_parsed), "CRC-64-AVRO")))
    fastavro.schemaless_writer(buf, old_parsed, old)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    producer.produce(topic, key=b"old-" + old["id"].encode(), value=buf.getvalue())
    for r in records:
        producer.produce(topic, key=r["id"].encode(), value=avro_messages.encode(schemas.ENRICHED_ARTICLE, r))
    assert producer.flush(30) == 0
    got = run_doc_example("kafka-consumer", monkeypatch, topic, len(records) + 1)["articles"]
    assert [a["id"] for a in got] == [old["id"]] + [r["id"] for r in records]
    assert got[0]["ner_truncated_at"] is None  # added in 1.2.0: the default fills it for 1.1.0 messages
    strip = lambda ents: [{k: v for k, v in e.items() if k != "score"} for e in ents]  # noqa: E731
    assert strip(got[1]["entities"]) == strip(records[0]["entities"])  # scores are float32 in Avro
    assert [e["score"] for e in got[1]["entities"]] == pytest.approx([e["score"] for e in records[0]["entities"]])
    assert records[1]["id"] in capsys.readouterr().out


def read_body(name: str, data: bytes) -> dict:
    """A message body read with fastavro.schemaless_reader and the shipped schema file, as docs/consumers.md says;
    nothing may follow it."""
    buf = io.BytesIO(data)
    record = fastavro.schemaless_reader(buf, fastavro.parse_schema(schemas.load_json(name)))
    assert buf.tell() == len(data), "bytes after the Avro body"
    return record


def wire_format_decoder(value_format: str, name: str, registry: RegistryStandIn, subject: str):
    def decode(value: bytes) -> dict:
        if value_format == "confluent":
            assert value[0] == 0, "no confluent magic byte"
            assert int.from_bytes(value[1:5], "big") in registry.subjects[subject], "not the registered id"
            value = value[5:]
        return read_body(name, value)

    return decode


@pytest.mark.parametrize("value_format", ["raw", "confluent"])
def test_a_run_in_another_value_format_writes_what_its_wire_format_says(broker, tmp_path, tiny_ner, value_format):
    """--kafka-value-format raw, and confluent with an in-test STAND-IN for a schema registry (registry_stand_in.py:
    only the one POST; not a real registry, none can run here): every message on the output and dead-letter topics
    decodes by its format's wire format with fastavro.schemaless_reader and the shipped schemas, and is the record
    the run wrote to its window files; confluent registers at the start and again in each worker's setup."""
    topic, group = f"{value_format}-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = real_articles(20)
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(b"k-bad", b"{x"), (None, None)])
    total, out = len(articles) + 2, tmp_path / "out"
    subjects = {
        schemas.ENRICHED_ARTICLE: f"{topic}-enriched-value",
        schemas.DEAD_LETTER: f"{topic}-enriched.deadletter-value",
    }
    with RegistryStandIn(first_id=500) as registry:
        flags = ["--kafka-value-format", value_format]
        if value_format == "confluent":
            flags += ["--schema-registry", registry.url]
        proc = start_pipeline(tmp_path, "run", topic, group, tiny_ner, out, *flags)
        decoders = {n: wire_format_decoder(value_format, n, registry, s) for n, s in subjects.items()}
        try:
            deadline = time.time() + 600
            while time.time() < deadline:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
                records = consume_all(f"{topic}-enriched", decode=decoders[schemas.ENRICHED_ARTICLE])
                dead = consume_all(f"{topic}-enriched.deadletter", decode=decoders[schemas.DEAD_LETTER])
                if len(records) + len(dead) >= total:
                    break
                time.sleep(3)
            deadline = time.time() + 120  # window files trail the topics by a window
            while time.time() < deadline and len(read_avro(str(out / "*.avro"))) < total:
                time.sleep(2)
        finally:
            stop(proc)
    assert proc.returncode == 0
    files = {r["source_line"]: r for r in read_avro(str(out / "articles-*.avro"))}
    dead_files = {d["source_line"]: d for d in read_avro(str(out / "deadletter-*.avro"))}
    assert {r["source_line"] for _, r in records} == set(range(len(articles))) == set(files)
    assert {d["source_line"] for _, d in dead} == {len(articles), len(articles) + 1} == set(dead_files)
    assert all(key == r["id"].encode() and r == files[r["source_line"]] for key, r in records)
    assert all(d == dead_files[d["source_line"]] for _, d in dead)
    if value_format == "confluent":
        assert set(registry.subjects) == set(subjects.values())
        for subject, ids in registry.subjects.items():
            assert len(ids) >= 2 and len(set(ids)) == 1, (subject, ids)  # the launcher, then each worker's setup
        print(f"\nregistrations with the stand-in: {registry.subjects}")


def test_consumer_guide_raw_example_reads_raw_messages(broker, monkeypatch, capsys):
    """The raw-format consumer example of docs/consumers.md, run as written, on messages made by the sink's encoder."""
    from confluent_kafka import Producer

    topic = f"raw-{uuid.uuid4().hex[:8]}"
    records = af.make_records(4, extended=True)
    raw = avro_messages.header(avro_messages.RAW, schemas.ENRICHED_ARTICLE)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for r in records:
        producer.produce(topic, key=r["id"].encode(), value=avro_messages.encode(schemas.ENRICHED_ARTICLE, r, raw))
    assert producer.flush(30) == 0
    got = run_doc_example("kafka-consumer-raw", monkeypatch, topic, len(records))["articles"]
    assert [a["id"] for a in got] == [r["id"] for r in records]
    assert [a["topic_labels"] for a in got] == [r["topic_labels"] for r in records]
    assert records[1]["id"] in capsys.readouterr().out
