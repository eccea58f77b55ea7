"""Flink SQL reads the pipeline's Avro output: a `filesystem` table with 'format' = 'avro' over the output
folder (one batch run over the fixture articles), and a `kafka` table with 'format' = 'avro' over the raw output
topic (one streaming run on the real broker, --kafka-value-format raw), queried with the Flink 1.19.3
distribution's own sql-client.sh (embedded, `execution.target: local`, one JVM, -Xmx768m); the rows must equal
the records as fastavro reads them.

What Flink cannot declare: the enums (`entities.field`, `entity_summary.first_field`). The format reads
container files with the file's writer schema resolved against the DDL-derived reader schema, and Avro
resolution has no enum -> string (or int) rule, so the DDL leaves those fields out (resolution skips
writer fields the reader lacks); nested rows and array items must be NOT NULL (a nullable ROW becomes
a union that our plain records do not resolve to). See docs/consumers.md#flink-sql. A raw message has no
writer schema to resolve: Flink decodes it with the DDL-derived schema itself, so KAFKA_DDL declares every field
in order, the enums as INT (their index). See docs/consumers.md#a-raw-topic-in-flink-sql.

Needs the Flink distribution (`engines/flink.sh install`), the avro format, SQL gateway and Kafka connector jars
(`engines/fetch-flink-sql-avro.sh`), Java, and for the topic the broker (`engines/kafka.sh up`); without them it skips, under NEWS_INGEST_REQUIRE_ENGINES fails.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import timezone
from pathlib import Path

import fastavro
import pytest
from conftest import FIXTURES, read_avro, run_pipeline, skip_or_fail
from test_kafka import consume_all, produce, start_pipeline, stop

import schemas
from pipeline.runtime import engines

FLINK_VERSION = "1.19.3"
AVRO_JARS = ("flink-sql-avro-1.19.3.jar", "flink-sql-avro-confluent-registry-1.19.1.jar")
GATEWAY_JARS = ("flink-sql-gateway-1.19.3.jar", "flink-sql-gateway-1.19.1.jar")
KAFKA_JARS = ("flink-sql-connector-kafka-3.2.0-1.19.jar",)

# The DDL of docs/consumers.md#flink-sql (kept equal by test_docs_show_these_ddls).
DDL = """CREATE TABLE articles (
  `id`           STRING NOT NULL,
  `source`       STRING,
  `url`          STRING,
  `title`        STRING NOT NULL,
  `text`         STRING NOT NULL,
  `published_at` TIMESTAMP(3),
  `ingested_at`  TIMESTAMP(3) NOT NULL,
  `source_line`  BIGINT,
  -- no `field` (an Avro enum): Flink's avro format cannot declare it
  `entities`     ARRAY<ROW<`start` INT NOT NULL, `end` INT NOT NULL, `text` STRING NOT NULL,
                           `label` STRING NOT NULL, `score` FLOAT NOT NULL> NOT NULL> NOT NULL,
  `topics`       ARRAY<ROW<`label` STRING NOT NULL, `score` FLOAT NOT NULL> NOT NULL> NOT NULL,
  `topic_labels` ARRAY<STRING NOT NULL> NOT NULL,
  -- no `first_field` (the same enum)
  `entity_summary` ARRAY<ROW<`text` STRING NOT NULL, `label` STRING NOT NULL, `mentions` INT NOT NULL,
                             `first_start` INT NOT NULL> NOT NULL> NOT NULL,
  `language`     STRING,
  `extra`        MAP<STRING NOT NULL, STRING NOT NULL> NOT NULL,
  `provenance`   ROW<`pipeline_version` STRING NOT NULL, `ner_model` STRING NOT NULL,
                     `topic_model` STRING NOT NULL> NOT NULL
) WITH (
  'connector' = 'filesystem',
  'path' = '{path}',
  'format' = 'avro',
  'source.path.regex-pattern' = '.*/articles-[^/]*\\.avro'
);"""


# The Kafka table of docs/consumers.md#flink-sql-on-a-raw-topic (kept equal by test_docs_show_these_ddls). The raw
# format has no writer schema in the message: Flink's `avro` format decodes the body with the schema it derives
# from this DDL, so the DDL declares every field of schemas/enriched_article.avsc, in its order, with its exact
# types; an Avro enum is written as its symbol's index (an Avro int), so the enums are INT here.
KAFKA_DDL = """CREATE TABLE enriched (
  `id`           STRING NOT NULL,
  `source`       STRING,
  `url`          STRING,
  `title`        STRING NOT NULL,
  `text`         STRING NOT NULL,
  `published_at` TIMESTAMP(3),
  `ingested_at`  TIMESTAMP(3) NOT NULL,
  `content_hash` STRING NOT NULL,
  `source_file`  STRING NOT NULL,
  `source_line`  BIGINT,
  -- `field`: the enum TextField as its index, 0 = title, 1 = text
  `entities`     ARRAY<ROW<`field` INT NOT NULL, `start` INT NOT NULL, `end` INT NOT NULL, `text` STRING NOT NULL,
                           `label` STRING NOT NULL, `score` FLOAT NOT NULL> NOT NULL> NOT NULL,
  `topics`       ARRAY<ROW<`label` STRING NOT NULL, `score` FLOAT NOT NULL> NOT NULL> NOT NULL,
  `topic_labels` ARRAY<STRING NOT NULL> NOT NULL,
  `entity_summary` ARRAY<ROW<`text` STRING NOT NULL, `label` STRING NOT NULL, `mentions` INT NOT NULL,
                             `first_field` INT NOT NULL, `first_start` INT NOT NULL> NOT NULL> NOT NULL,
  `language`     STRING,
  `ner_truncated_at` BIGINT,
  `extra`        MAP<STRING NOT NULL, STRING NOT NULL> NOT NULL,
  `provenance`   ROW<`pipeline_version` STRING NOT NULL, `ner_model` STRING NOT NULL,
                     `topic_model` STRING NOT NULL, `taxonomy_version` STRING NOT NULL> NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '{bootstrap}',
  'properties.group.id' = 'flink-sql-reader',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset',
  'format' = 'avro'
);"""


def _ts(value) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _jar(names) -> str | None:
    for name in names:
        path = engines.engines_dir() / "jars" / name
        if path.is_file():
            return str(path)
    return None


@pytest.fixture(scope="module")
def flink():
    home = engines.engines_dir() / "flink" / "dist" / "pyflink"
    client = home / "bin" / "sql-client.sh"
    if not (client.is_file() and (home / "lib" / f"flink-dist-{FLINK_VERSION}.jar").is_file()):
        skip_or_fail(f"Flink {FLINK_VERSION} not installed (engines/flink.sh install, make engines)")
    avro, gateway = _jar(AVRO_JARS), _jar(GATEWAY_JARS)
    if not avro or not gateway:
        skip_or_fail("the Flink avro format / SQL gateway jars are not fetched (engines/fetch-flink-sql-avro.sh)")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        skip_or_fail("no Java for Flink (java on PATH or JAVA_HOME)")
    return home, avro, gateway


@pytest.fixture(scope="module")
def kafka_connector(flink):
    jar = _jar(KAFKA_JARS)
    if not jar:
        skip_or_fail("the Flink SQL Kafka connector jar is not fetched (engines/fetch-flink-sql-avro.sh)")
    return jar


def sql_client(flink, tmp, statements: str, *jars: str) -> str:
    """Runs STATEMENTS with the distribution's sql-client.sh in embedded mode, jobs executed in its own JVM;
    the avro format jar and JARS on its classpath."""
    home, avro, gateway = flink
    conf = tmp / "conf"
    conf.mkdir(exist_ok=True)
    for f in (home / "conf").glob("log4j*"):
        shutil.copy(f, conf / f.name)
    opts = next(
        (
            l.split(":", 1)[1].strip()
            for l in (home / "conf" / "config.yaml").read_text().splitlines()
            if l.strip().startswith("all:") and "--add-" in l
        ),
        "",
    )
    (conf / "config.yaml").write_text(
        f"env.java.opts.all: {opts}\n"
        "execution.target: local\n"
        "execution.runtime-mode: batch\n"
        "parallelism.default: 1\n"
        "table.dml-sync: true\n"
        "table.local-time-zone: UTC\n"
        "sql-client.execution.result-mode: tableau\n"
    )
    script = tmp / "query.sql"
    script.write_text(statements)
    env = dict(
        os.environ,
        FLINK_CONF_DIR=str(conf),
        FLINK_LOG_DIR=str(tmp / "log"),
        JVM_ARGS="-Xmx768m",
        HADOOP_CLASSPATH=gateway,  # sql-client.sh's only hook for an extra jar on its classpath
    )
    env.pop("FLINK_HOME", None)
    proc = subprocess.run(
        [str(home / "bin" / "sql-client.sh"), *(a for jar in (avro, *jars) for a in ("-j", jar)), "-f", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "[ERROR]" not in out, out[-4000:]
    return out


@pytest.fixture(scope="module")
def output(tmp_path_factory, tiny_ner):
    root = tmp_path_factory.mktemp("flink-sql")
    inp, out = root / "in", root / "output"
    inp.mkdir()
    shutil.copy(FIXTURES / "written_articles.jsonl", inp / "written_articles.jsonl")
    args = ["--input", str(inp / "*"), "--output", str(out), "--ner-model", str(tiny_ner), "--model-threads", "1"]
    assert run_pipeline(args + ["--num-shards", "2"]) == 0
    return root


def test_flink_sql_selects_the_records(flink, output):
    """The DDL without the enum fields reads every record; rows equal fastavro's (JSON sink for the check)."""
    sink = output / "sink"
    statements = (
        DDL.format(path=output / "output")
        + f"""
CREATE TABLE sink (
  `id` STRING, `title` STRING, `published_at` TIMESTAMP(3), `source_line` BIGINT,
  `entities` ARRAY<ROW<`start` INT, `end` INT, `text` STRING, `label` STRING, `score` FLOAT>>,
  `topic_labels` ARRAY<STRING>, `summary` ARRAY<ROW<`text` STRING, `label` STRING, `mentions` INT, `first_start` INT>>,
  `extra` MAP<STRING, STRING>, `ner_model` STRING
) WITH ('connector' = 'filesystem', 'path' = '{sink}', 'format' = 'json',
        'json.timestamp-format.standard' = 'ISO-8601');
INSERT INTO sink
SELECT `id`, `title`, `published_at`, `source_line`, `entities`, `topic_labels`, `entity_summary`, `extra`,
       `provenance`.`ner_model`
FROM articles;
"""
    )
    sql_client(flink, output, statements)
    rows = [
        json.loads(l)
        for f in sorted(sink.rglob("*"))
        if f.is_file() and not f.name.startswith(".")
        for l in f.read_text().splitlines()
        if l.strip()
    ]
    expected = read_avro(str(output / "output" / "articles-*.avro"))
    assert len(expected) == 40 and sum(len(r["entities"]) for r in expected) > 0

    got = {r["id"]: r for r in rows}
    assert sorted(got) == sorted(r["id"] for r in expected) and len(rows) == len(expected)
    for rec in expected:
        row = got[rec["id"]]
        assert row["title"] == rec["title"]
        assert (row["published_at"] or "")[:19] == (_ts(rec["published_at"]) or "")
        assert row["source_line"] == rec["source_line"]
        assert row["topic_labels"] == rec["topic_labels"]
        assert row["extra"] == rec["extra"]
        assert row["ner_model"] == rec["provenance"]["ner_model"]
        ents = [(e["start"], e["end"], e["text"], e["label"]) for e in row["entities"] or []]
        assert ents == [(e["start"], e["end"], e["text"], e["label"]) for e in rec["entities"]]
        assert [e["score"] for e in row["entities"] or []] == pytest.approx(
            [e["score"] for e in rec["entities"]], abs=1e-6
        )
        summary = [(s["text"], s["label"], s["mentions"], s["first_start"]) for s in row["summary"] or []]
        assert summary == [(s["text"], s["label"], s["mentions"], s["first_start"]) for s in rec["entity_summary"]]


def test_docs_show_these_ddls():
    """docs/consumers.md shows the DDLs these tests run (#flink-sql, #a-raw-topic-in-flink-sql)."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "consumers.md").read_text()
    assert DDL.format(path="/abs/path/to/output") in doc
    assert KAFKA_DDL.format(topic="enriched", bootstrap="127.0.0.1:9092") in doc


def test_flink_sql_reads_the_raw_output_topic(flink, kafka_connector, broker, tmp_path, tiny_ner):
    """A streaming run writes --kafka-value-format raw to the real broker; a Flink SQL `kafka` table with
    'format' = 'avro' (KAFKA_DDL, bounded at the latest offset) reads every message, and each row is the record
    the run wrote, enums as their index."""
    topic, group = f"flink-sql-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    articles = [json.loads(l) for l in (FIXTURES / "written_articles.jsonl").read_text().splitlines() if l.strip()]
    produce(topic, [(a["id"].encode(), json.dumps(a).encode()) for a in articles] + [(b"k-bad", b"{x")])
    proc = start_pipeline(tmp_path, "run", topic, group, tiny_ner, tmp_path / "out", "--kafka-value-format", "raw")
    try:
        deadline, messages = time.time() + 600, []
        while time.time() < deadline and len(messages) < len(articles):
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            messages = consume_all(f"{topic}-enriched", len(articles), decode=bytes)
    finally:
        stop(proc)
    schema = schemas.parsed(schemas.ENRICHED_ARTICLE)
    expected = {r["id"]: r for r in (fastavro.schemaless_reader(io.BytesIO(v), schema) for _, v in messages)}
    assert len(expected) == len(messages) == len(articles)

    sink = tmp_path / "sink"
    statements = (
        KAFKA_DDL.format(topic=f"{topic}-enriched", bootstrap=broker)
        + f"""
CREATE TABLE sink (
  `id` STRING, `published_at` TIMESTAMP(3), `ingested_at` TIMESTAMP(3), `content_hash` STRING,
  `entities` ARRAY<ROW<`field` INT, `start` INT, `end` INT, `text` STRING, `label` STRING, `score` FLOAT>>,
  `topics` ARRAY<ROW<`label` STRING, `score` FLOAT>>, `topic_labels` ARRAY<STRING>,
  `summary` ARRAY<ROW<`text` STRING, `label` STRING, `mentions` INT, `first_field` INT, `first_start` INT>>,
  `language` STRING, `ner_truncated_at` BIGINT, `extra` MAP<STRING, STRING>, `taxonomy_version` STRING
) WITH ('connector' = 'filesystem', 'path' = '{sink}', 'format' = 'json',
        'json.timestamp-format.standard' = 'ISO-8601');
INSERT INTO sink
SELECT `id`, `published_at`, `ingested_at`, `content_hash`, `entities`, `topics`, `topic_labels`, `entity_summary`,
       `language`, `ner_truncated_at`, `extra`, `provenance`.`taxonomy_version`
FROM enriched;
"""
    )
    sql_client(flink, tmp_path, statements, kafka_connector)
    rows = [
        json.loads(l)
        for f in sorted(sink.rglob("*"))
        if f.is_file() and not f.name.startswith(".")
        for l in f.read_text().splitlines()
        if l.strip()
    ]
    got = {r["id"]: r for r in rows}
    assert sorted(got) == sorted(expected) and len(rows) == len(expected)
    fields = ["title", "text"]  # the TextField enum's symbols, in order
    for rec in expected.values():
        row = got[rec["id"]]
        assert row["ingested_at"][:19] == _ts(rec["ingested_at"])
        assert (row["published_at"] or "")[:19] == (_ts(rec["published_at"]) or "")
        for key in ("content_hash", "topic_labels", "language", "ner_truncated_at", "extra"):
            assert row[key] == rec[key], key
        assert row["taxonomy_version"] == rec["provenance"]["taxonomy_version"]
        ents = [(fields[e["field"]], e["start"], e["end"], e["text"], e["label"]) for e in row["entities"]]
        assert ents == [(e["field"], e["start"], e["end"], e["text"], e["label"]) for e in rec["entities"]]
        summary = [
            (s["text"], s["label"], s["mentions"], fields[s["first_field"]], s["first_start"]) for s in row["summary"]
        ]
        assert summary == [
            (s["text"], s["label"], s["mentions"], s["first_field"], s["first_start"]) for s in rec["entity_summary"]
        ]
        assert [t["label"] for t in row["topics"]] == [t["label"] for t in rec["topics"]]
        assert [t["score"] for t in row["topics"]] == pytest.approx([t["score"] for t in rec["topics"]], abs=1e-6)
