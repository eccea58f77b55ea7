"""The pipeline's files as the tools people use read them: Spark (spark-avro), pandas and polars, each on
the output of one real pipeline run over the fixture articles and the hostile corpus (so dead letters too),
and the reading examples of docs/consumers.md run as written on that output.

Spark needs pyspark (the `test` extra) and the spark-avro jar of the same version in the engines folder
(`engines/fetch-spark-avro.sh`, run by `make engines`); without either the Spark tests skip, and under
NEWS_INGEST_REQUIRE_ENGINES (CI) they fail instead. One local[1] SparkSession serves the module.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import fastavro
import polars as pl
import pytest
from conftest import FIXTURES, ROOT, read_avro, run_pipeline, skip_or_fail
from test_consumer_examples import run_example, run_example_apart
from test_hostile_input import build_corpus

import schemas
from pipeline.runtime import engines

HISTORY = schemas.SCHEMA_DIR / "history"
OLD_ARTICLE_SCHEMAS = sorted(HISTORY.glob("enriched_article-*.avsc"))
# What polars' own reader stops with on our files (see test_polars_reads_our_records_only_without_the_blockers).
POLARS_FAILURES = (pl.exceptions.ComputeError, pl.exceptions.PanicException)


@dataclass
class Run:
    root: Path  # holds output/, the pipeline's output folder; the docs examples run here
    articles: list[dict]
    dead_letters: list[dict]

    @property
    def output(self) -> Path:
        return self.root / "output"


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_ner) -> Run:
    """One real pipeline run (tiny NER model, the packaged topic model) over the 40 fixture articles and
    the hostile corpus of tests/test_hostile_input.py."""
    root = tmp_path_factory.mktemp("consumers")
    inp, out = root / "in", root / "output"
    inp.mkdir()
    shutil.copy(FIXTURES / "written_articles.jsonl", inp / "written_articles.jsonl")
    build_corpus(inp)
    args = ["--input", str(inp / "*"), "--output", str(out), "--ner-model", str(tiny_ner), "--model-threads", "1"]
    args += ["--num-shards", "2"]  # files the readers must put together
    assert run_pipeline(args) == 0
    result = Run(root, read_avro(str(out / "articles-*.avro")), read_avro(str(out / "deadletter-*.avro")))
    assert len(result.articles) > 40 and result.dead_letters
    assert any(a["entities"] for a in result.articles) and any(a["extra"] for a in result.articles)
    assert any(d["raw_truncated"] for d in result.dead_letters)
    return result


def spark_avro_jar(spark_version: str) -> Path:
    """Where engines/fetch-spark-avro.sh puts the spark-avro jar for this Spark version."""
    return engines.engines_dir() / "jars" / f"spark-avro_2.13-{spark_version}.jar"


@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        skip_or_fail("pyspark is not installed (the `test` extra)")
    jar = spark_avro_jar(pyspark.__version__)
    if not jar.is_file():
        skip_or_fail(f"{jar.name} not fetched (engines/fetch-spark-avro.sh, make engines)")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        skip_or_fail("no Java for Spark (java on PATH or JAVA_HOME)")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines outlive pytest's captured streams
    session = (
        SparkSession.builder.master("local[1]")
        .appName("news-ingest-consumers")
        .config("spark.jars", str(jar))  # by path: never --packages (Ivy resolution)
        .config("spark.driver.memory", "768m")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    # the JVM too, not only the session: the rest of the suite does not need it (it exits when its stdin closes)
    gateway = SparkContext._gateway
    if gateway is not None and getattr(gateway, "proc", None) is not None:
        gateway.shutdown()
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=60)
        SparkContext._gateway = SparkContext._jvm = None


# --- what the files are, as Spark and fastavro see them ----------------------------------------------


def plain(value):
    """A value as both readers give it: timestamps as epoch ms (fastavro: aware UTC datetimes; Spark: naive
    datetimes in the local time zone, which .timestamp() reads as local), bytes for bytearray, recursively."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def by_unit(records: list[dict]) -> dict:
    """Records by input unit (file and line), which the hostile corpus makes unique; values made plain."""
    keyed = {(r["source_file"], r["source_line"]): plain(r) for r in records}
    assert len(keyed) == len(records)
    return keyed


def spark_read(spark, folder: Path, kind: str, reader_schema: dict | None = None):
    """Every `kind-*.avro` file under folder; with reader_schema, read as that schema version (Spark's
    `avroSchema` option), else with the schema of one of the files."""
    reader = spark.read.format("avro").option("recursiveFileLookup", "true").option("pathGlobFilter", f"{kind}-*.avro")
    if reader_schema is not None:
        reader = reader.option("avroSchema", json.dumps(reader_schema))
    return reader.load(str(folder))


def collect(df) -> list[dict]:
    return [row.asDict(recursive=True) for row in df.collect()]


def struct(*fields):
    """A Spark struct of (name, type) fields. Every field is nullable: Spark makes the schema of a file
    source nullable throughout (array elements and map values too), whatever the Avro type says."""
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(name, t) for name, t in fields])


def article_type(version_schema: dict | None = None):
    """The Spark type of an EnrichedArticle (the current schema, or only the fields of an older version):
    enums are strings, timestamp-millis is TimestampType, the map is a MapType, records are structs."""
    from pyspark.sql.types import ArrayType, FloatType, IntegerType, LongType, MapType, StringType, TimestampType

    s, i, f, ts = StringType(), IntegerType(), FloatType(), TimestampType()
    mention = struct(("field", s), ("start", i), ("end", i), ("text", s), ("label", s), ("score", f))
    summary = struct(("text", s), ("label", s), ("mentions", i), ("first_field", s), ("first_start", i))
    provenance = struct(("pipeline_version", s), ("ner_model", s), ("topic_model", s), ("taxonomy_version", s))
    current = struct(
        ("id", s), ("source", s), ("url", s), ("title", s), ("text", s), ("published_at", ts),
        ("ingested_at", ts), ("content_hash", s), ("source_file", s), ("source_line", LongType()),
        ("entities", ArrayType(mention)), ("topics", ArrayType(struct(("label", s), ("score", f)))),
        ("topic_labels", ArrayType(s)), ("entity_summary", ArrayType(summary)), ("language", s),
        ("ner_truncated_at", LongType()), ("extra", MapType(s, s)), ("provenance", provenance),
    )  # fmt: skip
    if version_schema is None:
        return current
    names = {f["name"] for f in version_schema["fields"]}
    return struct(*((f.name, f.dataType) for f in current.fields if f.name in names))


def dead_letter_type():
    from pyspark.sql.types import BinaryType, BooleanType, LongType, StringType, TimestampType

    s = StringType()
    return struct(
        ("raw", BinaryType()), ("raw_truncated", BooleanType()), ("source_file", s), ("source_line", LongType()),
        ("stage", s), ("error_type", s), ("error_message", s), ("article_id", s), ("failed_at", TimestampType()),
    )  # fmt: skip


# --- Spark --------------------------------------------------------------------------------------------


def test_spark_reads_every_article_field_with_its_type(spark, run):
    df = spark_read(spark, run.output, "articles")
    assert df.schema == article_type()
    assert by_unit(collect(df)) == by_unit(run.articles)


def test_spark_substring_finds_every_entity_at_its_offsets(spark, run):
    """Offsets count code points (Python indices); Spark SQL's substring counts code points too (1-based),
    so the offsets work there unchanged, emoji and other non-BMP characters included."""
    found = "substring(IF(e.field = 'title', title, text), e.start + 1, e.end - e.start)"
    mentions = spark_read(spark, run.output, "articles").selectExpr("title", "text", "explode(entities) AS e")
    counts = mentions.selectExpr(f"{found} = e.text AS right").groupBy("right").count().collect()
    assert {r["right"]: r["count"] for r in counts} == {True: sum(len(a["entities"]) for a in run.articles)}


def test_spark_reads_the_dead_letters(spark, run):
    df = spark_read(spark, run.output, "deadletter")
    assert df.schema == dead_letter_type()
    rows = collect(df)
    assert by_unit(rows) == by_unit(run.dead_letters)
    assert any(isinstance(r["raw"], bytearray) and r["raw_truncated"] for r in rows)


def write_as(path: Path, schema: dict, records: list[dict]) -> None:
    """Records written as an older writer would: fastavro writes only the fields of the schema it is given."""
    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(copy.deepcopy(schema)), records, codec="deflate")


def fastavro_view(folder: Path, reader_schema: dict) -> list[dict]:
    """What fastavro reads from every articles file in folder with this reader schema (Avro resolution)."""
    parsed = fastavro.parse_schema(copy.deepcopy(reader_schema))
    records = []
    for path in sorted(folder.glob("articles-*.avro")):
        with open(path, "rb") as f:
            records.extend(fastavro.reader(f, reader_schema=parsed))
    return records


def field_names(schema: dict) -> list[str]:
    return [f["name"] for f in schema["fields"]]


@dataclass
class Mixed:
    folder: Path
    records: list[dict]  # every record of the folder as the current schema reads it


@pytest.fixture(scope="module")
def mixed_versions(run, tmp_path_factory) -> Mixed:
    """A folder of article files of every schema version: a file the pipeline wrote, and the other real
    records split over a file of each history schema (1.0.0, 1.1.0)."""
    folder = tmp_path_factory.mktemp("mixed")
    written = max(run.output.glob("articles-*.avro"), key=lambda p: p.stat().st_size)
    shutil.copy(written, folder / written.name)
    records = read_avro(str(written))
    taken = {(r["source_file"], r["source_line"]) for r in records}
    rest = [a for a in run.articles if (a["source_file"], a["source_line"]) not in taken]
    assert records and rest
    current = schemas.load_json(schemas.ENRICHED_ARTICLE)
    defaults = {f["name"]: f.get("default") for f in current["fields"]}
    for n, path in enumerate(OLD_ARTICLE_SCHEMAS):
        old = json.loads(path.read_text())
        part = rest[n :: len(OLD_ARTICLE_SCHEMAS)]
        write_as(folder / f"articles-{path.stem}.avro", old, part)
        added = {name: defaults[name] for name in field_names(current) if name not in field_names(old)}
        records += [{**r, **added} for r in part]
    return Mixed(folder, records)


def test_spark_reads_old_and_current_files_with_the_current_schema(spark, mixed_versions):
    """With the current schema as `avroSchema`, Spark resolves each file's writer schema to it, as Avro
    schema resolution says: the fields an old file lacks take their defaults, as they do in fastavro."""
    current = schemas.load_json(schemas.ENRICHED_ARTICLE)
    df = spark_read(spark, mixed_versions.folder, "articles", current)
    assert df.schema == article_type()
    assert by_unit(collect(df)) == by_unit(mixed_versions.records)
    assert by_unit(fastavro_view(mixed_versions.folder, current)) == by_unit(mixed_versions.records)


@pytest.mark.parametrize("old_path", OLD_ARTICLE_SCHEMAS, ids=lambda p: p.stem)
def test_spark_reads_every_version_with_an_old_schema(spark, mixed_versions, old_path):
    """A consumer built against an older version passes that schema and gets exactly its fields."""
    old = json.loads(old_path.read_text())
    df = spark_read(spark, mixed_versions.folder, "articles", old)
    assert df.schema == article_type(old)
    expected = [{name: r[name] for name in field_names(old)} for r in mixed_versions.records]
    assert by_unit(collect(df)) == by_unit(expected)


def test_spark_example_runs_as_written(spark, run, tmp_path):
    """The docs' Spark example, run from a folder laid out like the repository root (schemas/, .engines/)
    with the pipeline's output as output/, in a Python of its own (the example starts its own session)."""
    for name, target in (("output", run.output), ("schemas", schemas.SCHEMA_DIR), (".engines", engines.engines_dir())):
        (tmp_path / name).symlink_to(target, target_is_directory=True)
    report = [
        "import json",
        "print('RESULT', json.dumps({",
        "    'articles': articles.count(), 'dead_letters': dead_letters.count(),",
        "    'topics': {r['topic']: r['count'] for r in topic_counts.collect()},",
        "    'top_entities': [[r['text'], r['label'], r['count']] for r in top_entities.collect()],",
        "    'schema': articles.schema.json()}))",
        "spark.stop()",
    ]
    got = run_example_apart("spark", report, tmp_path)
    assert got["articles"] == len(run.articles) and got["dead_letters"] == len(run.dead_letters)
    assert got["topics"] == dict(Counter(t for a in run.articles for t in a["topic_labels"]))
    assert got["schema"] == article_type().json()
    mentions = Counter((e["text"], e["label"]) for a in run.articles for e in a["entities"])
    assert [n for _, _, n in got["top_entities"]] == sorted(mentions.values(), reverse=True)[:10]
    assert all(mentions[(text, label)] == n for text, label, n in got["top_entities"])


# --- the other examples of docs/consumers.md, on the real output ---------------------------------------


@pytest.fixture()
def in_run_root(run, monkeypatch) -> Run:
    monkeypatch.chdir(run.root)
    return run


def test_fastavro_example_on_real_output(in_run_root):
    ns = run_example("fastavro")
    assert by_unit(ns["articles"]) == by_unit(in_run_root.articles)
    assert by_unit(ns["dead_letters"]) == by_unit(in_run_root.dead_letters)


def test_pandas_example_on_real_output(in_run_root):
    ns = run_example("pandas")
    articles = in_run_root.articles
    assert len(ns["articles"]) == len(articles)
    assert ns["topics_per_day"].sum().to_dict() == dict(Counter(t for a in articles for t in a["topic_labels"]))
    assert len(ns["entities"]) == sum(len(a["entities"]) for a in articles)


def test_avro_package_example_on_real_output(in_run_root):
    ns = run_example("avro")
    assert ns["topic_counts"] == dict(Counter(t for a in in_run_root.articles for t in a["topic_labels"]))


def test_polars_example_on_real_output(in_run_root):
    ns = run_example("polars")
    articles, dead = in_run_root.articles, in_run_root.dead_letters
    assert ns["articles"].height == len(articles) and ns["dead_letters"].height == len(dead)
    assert dict(ns["topic_counts"].iter_rows()) == dict(Counter(t for a in articles for t in a["topic_labels"]))
    mentions = Counter((e["text"], e["label"]) for a in articles for e in a["entities"])
    assert ns["entities"].height == sum(mentions.values())
    assert all(mentions[(text, label)] == n for text, label, n in ns["top_entities"].iter_rows())
    assert ns["articles"].schema["published_at"] == pl.Datetime("us", "UTC")
    assert ns["dead_letters"].schema["raw"] == pl.Binary


# --- polars' own Avro reader -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["articles", "deadletter"])
def test_polars_read_avro_still_fails_on_our_files(run, kind):
    """Recorded so that we notice when polars reads our files: then docs/consumers.md can show
    `pl.read_avro` instead of the way through fastavro."""
    path = next(run.output.glob(f"{kind}-*.avro"))
    with pytest.raises(POLARS_FAILURES):
        pl.read_avro(path)


def without_defaults(schema: dict) -> dict:
    """Every field default other than null dropped (polars parses a default as if it were a schema)."""
    out = copy.deepcopy(schema)
    for field in out["fields"]:
        if field.get("default", None) is not None:
            del field["default"]
    return out


def without_extra(schema: dict) -> dict:
    return dict(copy.deepcopy(schema), fields=[f for f in schema["fields"] if f["name"] != "extra"])


def enums_as_strings(node):
    """The schema with the TextField enum (defined inside `entities`, referenced by `entity_summary`)
    made a plain string."""
    if isinstance(node, dict):
        if node.get("type") == "enum":
            return "string"
        return {k: enums_as_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [enums_as_strings(v) for v in node]
    return "string" if node in ("TextField", "newsingest.TextField") else node


def polars_reads(schema: dict, records: list[dict]) -> list[dict] | None:
    """What pl.read_avro reads from records written with schema, or None when it fails."""
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(copy.deepcopy(schema)), records, codec="deflate")
    buf.seek(0)
    try:
        return pl.read_avro(buf).to_dicts()
    except POLARS_FAILURES:
        return None


def test_polars_reads_our_records_only_without_the_blockers(run):
    """The evidence for reading through fastavro: three things of our schemas each stop pl.read_avro, and all
    three are in every published version (schemas/history), so no compatible change (the 1.x rule only adds
    fields) can remove them: a field default other than null (`extra`'s {}, `raw_truncated`'s false; polars
    parses defaults as schemas: OutOfSpec), a map (`extra`: a panic, "Avro maps are mapped to MapArrays")
    and an enum inside an array (`entities[].field`: a panic, unreachable code). Without the three, polars
    reads the same records right."""
    article, dead_letter = schemas.load_json(schemas.ENRICHED_ARTICLE), schemas.load_json(schemas.DEAD_LETTER)
    records = run.articles[:20]
    assert polars_reads(article, records) is None
    assert polars_reads(enums_as_strings(article), records) is None  # map and its default
    assert polars_reads(without_extra(article), records) is None  # enum inside an array
    assert polars_reads(enums_as_strings(without_defaults(article)), records) is None  # map
    read = polars_reads(enums_as_strings(without_extra(article)), records)
    assert read is not None
    assert plain(read) == plain([{k: v for k, v in r.items() if k != "extra"} for r in records])

    assert polars_reads(dead_letter, run.dead_letters) is None  # raw_truncated's default
    read = polars_reads(without_defaults(dead_letter), run.dead_letters)
    assert read is not None and plain(read) == plain(run.dead_letters)
    for path in HISTORY.glob("*.avsc"):  # the blockers are in every published version
        old = json.loads(path.read_text())
        assert without_defaults(old) != old
        if path.name.startswith("enriched_article"):
            assert without_extra(old) != old and enums_as_strings(old) != old


def test_the_spark_jar_is_the_pinned_pyspark_version():
    """engines/fetch-spark-avro.sh names the jar after the pyspark pin; the two must move together."""
    pin = next(line for line in (ROOT / "pyproject.toml").read_text().splitlines() if '"pyspark==' in line)
    version = pin.split("==")[1].split('"')[0]
    try:
        import pyspark
    except ImportError:
        pytest.skip("pyspark is not installed")
    assert pyspark.__version__ == version
