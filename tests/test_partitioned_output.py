"""`--partition-by date`: records in Hive-style folders by publication day (UTC), in batch and streaming.

Every record lands in exactly one day folder, the one of its own `published_at`, none is lost, each file is
an Avro file fastavro reads; records without a date are in `date=__HIVE_DEFAULT_PARTITION__`; dead letters
stay in the output folder. Spark reads the folder as a table with a `date` column and a filter on one day
reads that day's folder only (the Spark tests skip without pyspark or the spark-avro jar, as in
tests/test_consumers.py, whose session fixture they share).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import apache_beam as beam
import fastavro
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.transforms.window import TimestampedValue
from conftest import FIXTURES, read_avro, run_pipeline
from test_consumer_examples import run_example_apart
from test_consumers import (
    article_type,
    spark,  # noqa: F401  (the module's one local[1] SparkSession)
)

import schemas
from pipeline import graph
from pipeline.config import RunConfig
from pipeline.runtime import engines, output_dir
from transforms.article import RawUnit
from transforms.io.avro_files import (
    PARTITIONED_TEMP_PREFIX,
    SINK,
    WritePartitionedAvroFiles,
    WriteWindowedAvroFiles,
    _RenameIntoPlaceFn,
)
from transforms.io.partitions import NULL_PARTITION, date_partition

NULL_FOLDER = f"date={NULL_PARTITION}"
DAY = date(2026, 11, 26)  # the day docs/consumers.md's partitioned Spark example filters on
# The publication dates of the input articles, in order: time zones that move the UTC day, midnight on
# both sides, epoch seconds, and articles without a date.
DATES = [
    "2026-11-26T09:15:00Z",
    "2026-11-26T23:59:59.999Z",
    "2026-11-26T00:00:00Z",
    "2026-11-26T23:30:00-02:00",  # 2026-11-27 01:30 UTC
    "2026-11-27T00:30:00+01:00",  # 2026-11-26 23:30 UTC
    "2026-11-25",
    "2026-11-25T12:00:00+00:00",
    1795564800,  # epoch seconds: 2026-11-25 00:00 UTC
    "2021-10-26T09:15:00Z",
    "0999-01-02T00:00:00Z",  # a year before 1000: the folder name keeps four digits
    None,
    None,
]


def utc_day(value) -> str:
    """The expected folder of a date as the input gives it, computed here independently of the pipeline."""
    if value is None:
        return NULL_FOLDER
    if isinstance(value, int):
        return f"date={datetime.fromtimestamp(value, timezone.utc).date().isoformat()}"
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return f"date={dt.astimezone(timezone.utc).date().isoformat()}"


def write_input(folder: Path) -> dict[str, str]:
    """The fixture articles (short texts) with the dates above, and two lines that become dead letters;
    returns the expected day folder of every article id."""
    folder.mkdir()
    lines, expected = [], {}
    for line, value in zip((FIXTURES / "written_articles.jsonl").read_text(encoding="utf-8").splitlines(), DATES):
        obj = json.loads(line)
        obj.pop("date", None)
        obj["text"] = obj["text"][:300]
        if value is not None:
            obj["published_at"] = value
        lines.append(json.dumps(obj, ensure_ascii=False))
        expected[obj["id"]] = utc_day(value)
    lines += ["{not json", '{"text": ""}']
    (folder / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


def day_folders(output: Path) -> dict[str, list[dict]]:
    """The records of each `date=*` folder, every file read with fastavro (each must be a valid Avro file)."""
    found: dict[str, list[dict]] = {}
    for folder in sorted(output.glob("date=*")):
        files = sorted(folder.iterdir())
        assert files and all(re.fullmatch(r"articles-\d{5}-of-\d{5}\.avro", f.name) for f in files), files
        for path in files:
            with open(path, "rb") as f:
                reader = fastavro.reader(f)
                assert reader.writer_schema["name"] == "newsingest.EnrichedArticle"
                found.setdefault(folder.name, []).extend(reader)
    return found


def record_day(record: dict) -> str:
    published = record["published_at"]  # fastavro: an aware UTC datetime
    return NULL_FOLDER if published is None else f"date={published.date().isoformat()}"


def without_ingested_at(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: {k: v for k, v in r.items() if k != "ingested_at"} for r in records}


@pytest.fixture(scope="module")
def batch(tmp_path_factory, tiny_ner):
    """One batch run with --partition-by date --num-shards 2 (tiny NER model): (output folder, expected day
    of every article id)."""
    root = tmp_path_factory.mktemp("partitioned")
    expected = write_input(root / "in")
    out = root / "output"
    args = ["--input", str(root / "in" / "*.jsonl"), "--output", str(out), "--ner-model", str(tiny_ner)]
    assert run_pipeline([*args, "--model-threads", "1", "--partition-by", "date", "--num-shards", "2"]) == 0
    return out, expected, args


def test_date_partition_is_the_utc_day_or_hives_null_folder():
    ms = 1795651200000  # 2026-11-26 00:00:00 UTC
    assert date_partition({"published_at": ms}) == "date=2026-11-26"
    assert date_partition({"published_at": ms - 1}) == "date=2026-11-25"
    assert date_partition({"published_at": ms + 86_399_999}) == "date=2026-11-26"
    assert date_partition({"published_at": -1}) == "date=1969-12-31"
    assert date_partition({"published_at": -62135596800000}) == "date=0001-01-01"
    assert date_partition({"published_at": None}) == "date=__HIVE_DEFAULT_PARTITION__"


def test_batch_run_puts_every_record_into_its_days_folder_once(batch):
    out, expected, _ = batch
    found = day_folders(out)
    assert set(found) == set(expected.values())
    assert "date=0999-01-02" in found and NULL_FOLDER in found
    ids = [r["id"] for records in found.values() for r in records]
    assert sorted(ids) == sorted(expected)  # none lost, none twice
    for folder, records in found.items():
        assert {record_day(r) for r in records} == {folder}
        assert {expected[r["id"]] for r in records} == {folder}
    assert len(list((out / "date=2026-11-26").iterdir())) == 2  # --num-shards 2: files per day
    assert len(list((out / "date=2021-10-26").iterdir())) == 1  # one record: one file
    # dead letters unpartitioned; nothing else at the top, no temporary folder left
    top = sorted(p.name for p in out.iterdir() if not p.name.startswith("date="))
    assert top and all(re.fullmatch(r"deadletter-\d{5}-of-\d{5}\.avro", name) for name in top), top
    assert sorted(d["source_line"] for d in read_avro(str(out / "deadletter-*.avro"))) == [13, 14]


def test_batch_rerun_unpartitioned_replaces_the_day_folders_with_the_same_records(batch, tmp_path):
    out, expected, args = batch
    copy = tmp_path / "output"
    shutil.copytree(out, copy)
    (copy / f"{PARTITIONED_TEMP_PREFIX}articles-left-by-a-killed-run").mkdir()
    args = [a if a != str(out) else str(copy) for a in args]
    assert run_pipeline([*args, "--model-threads", "1"]) == 0
    assert sorted(p.name for p in copy.iterdir() if p.is_dir()) == []  # day folders and temp folder gone
    flat = read_avro(str(copy / "articles-*.avro"))
    partitioned = [r for records in day_folders(out).values() for r in records]
    assert without_ingested_at(flat) == without_ingested_at(partitioned)


def test_partitioned_batch_transform_numbers_shards_per_day(tmp_path):
    records = [_record(i, day) for i, day in enumerate([None, 1, 1, 1, 1, 1, 2])]
    with TestPipeline() as p:
        _ = (
            p
            | beam.Create(records)
            | WritePartitionedAvroFiles(
                str(tmp_path), "articles", schemas.ENRICHED_ARTICLE, date_partition, num_shards=3
            )
        )
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert files == [
        "date=2026-11-26",
        "date=2026-11-26/articles-00000-of-00003.avro",
        "date=2026-11-26/articles-00001-of-00003.avro",
        "date=2026-11-26/articles-00002-of-00003.avro",
        "date=2026-11-27",
        "date=2026-11-27/articles-00000-of-00001.avro",
        f"{NULL_FOLDER}",
        f"{NULL_FOLDER}/articles-00000-of-00001.avro",
    ]
    by_folder = {d.name: sorted(r["source_line"] for r in read_avro(str(d / "*.avro"))) for d in tmp_path.iterdir()}
    assert by_folder == {"date=2026-11-26": [1, 2, 3, 4, 5], "date=2026-11-27": [6], NULL_FOLDER: [0]}


def test_partitioned_batch_transform_writes_nothing_without_records(tmp_path):
    with TestPipeline() as p:
        _ = (
            p
            | beam.Create([])
            | WritePartitionedAvroFiles(str(tmp_path), "articles", schemas.ENRICHED_ARTICLE, date_partition)
        )
    assert list(tmp_path.iterdir()) == []


def test_rename_into_place_again_skips_what_an_earlier_attempt_renamed(tmp_path):
    temp = tmp_path / ".beam-temp-articles-x"
    temp.mkdir()
    (temp / "a.avro").write_bytes(b"a")
    (temp / "b.avro").write_bytes(b"b")
    written = [("date=2026-11-26", 1, str(temp / "b.avro")), ("date=2026-11-26", 0, str(temp / "a.avro"))]
    fn = _RenameIntoPlaceFn(str(tmp_path), "articles", str(temp))
    first = list(fn.process(written))
    assert [Path(p).read_bytes() for p in first] == [b"a", b"b"]
    assert list(fn.process(written)) == []  # a retry: both renamed already
    assert sorted(p.name for p in (tmp_path / "date=2026-11-26").iterdir()) == [
        "articles-00000-of-00002.avro",
        "articles-00001-of-00002.avro",
    ]
    assert not temp.exists()


def test_output_dir_cleans_partition_folders_and_their_partial_files(tmp_path):
    day = tmp_path / "date=2026-11-26"
    day.mkdir()
    (day / "articles-00000-of-00001.avro").write_bytes(b"")
    (day / ".articles-x.avro.partial").write_bytes(b"")
    (tmp_path / "date=2026-11-27").mkdir()
    (tmp_path / "date=2026-11-27" / "notes.txt").write_text("not ours")
    assert output_dir.remove_partial_window_files(str(tmp_path)) == [str(day / ".articles-x.avro.partial")]
    (tmp_path / f"{PARTITIONED_TEMP_PREFIX}articles-1").mkdir()
    output_dir.prepare(str(tmp_path), streaming=False)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "date=2026-11-27",
        os.path.join("date=2026-11-27", "notes.txt"),
    ]


# --- streaming -----------------------------------------------------------------------------------------


def _record(line: int, day: int | None) -> dict:
    """A minimal valid EnrichedArticle from input line `line`, published on 2026-11-25 + `day` (noon UTC)."""
    published = None if day is None else 1795608000000 + day * 86_400_000  # 2026-11-25 12:00 UTC + days
    return {
        "id": f"a{line}",
        "title": "t",
        "text": "x",
        "published_at": published,
        "ingested_at": 0,
        "content_hash": "h",
        "source_file": "in",
        "source_line": line,
        "entities": [],
        "topics": [],
        "topic_labels": [],
        "provenance": {"pipeline_version": "t", "ner_model": "n", "topic_model": "m", "taxonomy_version": "x"},
    }


def test_windowed_files_per_window_and_day_acknowledge_every_record(tmp_path):
    # (input line, publication day, event time in seconds): window [0, 60) has three days, [60, 120) one
    stamped = [(1, 1, 0), (2, 2, 10), (3, 1, 59), (4, None, 30), (5, 1, 60)]
    with TestPipeline() as p:
        acks = (
            p
            | beam.Create(stamped)
            | beam.MapTuple(lambda line, day, t: window.TimestampedValue(_record(line, day), t))
            | beam.WindowInto(window.FixedWindows(60))
            | WriteWindowedAvroFiles(str(tmp_path), "articles", schemas.ENRICHED_ARTICLE, partition=date_partition)
        )
        assert_that(acks, equal_to([("in", line, SINK) for line, _, _ in stamped]))
    first = "articles-1970-01-01T00:00:00-1970-01-01T00:01:00-00000-of-00001.avro"
    second = "articles-1970-01-01T00:01:00-1970-01-01T00:02:00-00000-of-00001.avro"
    files = {str(p.relative_to(tmp_path)): p for p in tmp_path.rglob("*.avro")}  # no partial file left
    lines = {name: sorted(r["source_line"] for r in read_avro(str(path))) for name, path in files.items()}
    assert lines == {
        f"date=2026-11-26/{first}": [1, 3],
        f"date=2026-11-27/{first}": [2],
        f"{NULL_FOLDER}/{first}": [4],
        f"date=2026-11-26/{second}": [5],
    }


def unit(line: int, published, t: int) -> TimestampedValue:
    article = {"id": f"s{line}", "text": "Drones hit Odesa."}
    if published is not None:
        article["published_at"] = published
    return TimestampedValue(RawUnit("stream", line, json.dumps(article).encode(), "jsonl"), t)


def test_streaming_run_writes_window_files_into_day_folders(tmp_path, tiny_ner):
    out = tmp_path / "out"
    args = ["--output", str(out), "--ner-model", str(tiny_ner), "--window-seconds", "60", "--partition-by", "date"]
    options = PipelineOptions(args)
    options.view_as(StandardOptions).streaming = True
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([unit(1, "2026-11-26T10:00:00Z", 5), unit(2, "2026-11-25T10:00:00Z", 20)])
        .add_elements([unit(3, None, 30), TimestampedValue(RawUnit("stream", 4, b"{bad json", "jsonl"), 40)])
        .advance_watermark_to(65)
        .add_elements([unit(5, "2026-11-26T23:00:00-05:00", 70)])
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(runner="BundleBasedDirectRunner", options=options) as p:
        graph.build(p, RunConfig.from_options(options), units=p | stream)

    first = "articles-1970-01-01T00:00:00-1970-01-01T00:01:00-00000-of-00001.avro"
    second = "articles-1970-01-01T00:01:00-1970-01-01T00:02:00-00000-of-00001.avro"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    dead = "deadletter-1970-01-01T00:00:00-1970-01-01T00:01:00-00000-of-00001.avro"
    assert files == sorted(
        [
            dead,
            f"date=2026-11-25/{first}",
            f"date=2026-11-26/{first}",
            f"date=2026-11-27/{second}",
            f"{NULL_FOLDER}/{first}",
        ]
    )
    assert [d["source_line"] for d in read_avro(str(out / dead))] == [4]
    ids = {f: [r["id"] for r in read_avro(str(out / f))] for f in files if f != dead}
    assert ids == {
        f"date=2026-11-25/{first}": ["s2"],
        f"date=2026-11-26/{first}": ["s1"],
        f"date=2026-11-27/{second}": ["s5"],
        f"{NULL_FOLDER}/{first}": ["s3"],
    }


# --- Spark ---------------------------------------------------------------------------------------------


def scan_of(df):
    """The file scan of a query that has run (its plan's one leaf), with the driver metrics it recorded."""
    scan = df._jdf.queryExecution().executedPlan().collectLeaves().apply(0)
    assert scan.getClass().getSimpleName() == "FileSourceScanExec", scan.toString()
    return scan


def test_spark_reads_the_day_folders_as_a_date_column(spark, batch):  # noqa: F811
    from pyspark.sql.types import DateType, StructType

    out, expected, _ = batch
    df = spark.read.format("avro").option("pathGlobFilter", "articles-*.avro").load(str(out))
    assert StructType(df.schema.fields[:-1]) == article_type()  # the record's own fields, then the folder's
    assert df.schema[-1].name == "date" and df.schema["date"].dataType == DateType()
    rows = {r["id"]: r["date"] for r in df.select("id", "date").collect()}
    assert {i: (f"date={d.isoformat()}" if d else NULL_FOLDER) for i, d in rows.items()} == expected
    undated = [r["id"] for r in df.where("date IS NULL").select("id").collect()]
    assert sorted(undated) == sorted(i for i, d in expected.items() if d == NULL_FOLDER)


def test_spark_filter_on_one_day_reads_only_that_folder(spark, batch):  # noqa: F811
    from pyspark.sql import functions as F

    out, expected, _ = batch
    df = spark.read.format("avro").option("pathGlobFilter", "articles-*.avro").load(str(out))
    one_day = df.where(F.col("date") == DAY)
    got = sorted(r["id"] for r in one_day.collect())  # this query runs, so its scan has its metrics
    assert got == sorted(i for i, d in expected.items() if d == f"date={DAY}")
    scan = scan_of(one_day)
    plan = scan.toString()
    assert re.search(r"PartitionFilters: \[.*\(date#\d+ = " + str(DAY) + r"\)\]", plan), plan
    metrics = scan.metrics()
    assert len(set(expected.values())) > 1 and metrics.apply("numPartitions").value() == 1  # folders read
    assert metrics.apply("numFiles").value() == len(list((out / f"date={DAY}").iterdir())) == 2
    assert Counter(expected.values())[f"date={DAY}"] == 4


def test_spark_partitioned_example_runs_as_written(spark, batch, tmp_path):  # noqa: F811
    """docs/consumers.md's example, from a folder laid out like the repository root with the partitioned
    output as output/, in a Python of its own (Spark resolves relative paths in its JVM's folder)."""
    out, expected, _ = batch
    (tmp_path / "output").symlink_to(out, target_is_directory=True)
    (tmp_path / ".engines").symlink_to(engines.engines_dir(), target_is_directory=True)
    report = [
        "import json",
        "print('RESULT', json.dumps({",
        "    'one_day': sorted(r['id'] for r in one_day.collect()), 'undated': undated.count(),",
        "    'per_day': [[str(r['date']), r['count']] for r in per_day.collect()],",
        "    'dead_letters': sorted(r['source_line'] for r in dead_letters.collect())}))",
        "spark.stop()",
    ]
    got = run_example_apart("spark-partitioned", report, tmp_path)
    assert got["one_day"] == sorted(i for i, d in expected.items() if d == f"date={DAY}")
    assert got["undated"] == Counter(expected.values())[NULL_FOLDER]
    per_day = {(f"date={d}" if d != "None" else NULL_FOLDER): n for d, n in got["per_day"]}
    assert per_day == dict(Counter(expected.values()))
    assert got["dead_letters"] == [13, 14]
