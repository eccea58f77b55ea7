"""Streaming: the same graph on a TestStream (BundleBasedDirectRunner) writes one Avro file per window."""

import json
import re

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue
from conftest import read_avro

from pipeline import graph
from pipeline.config import RunConfig
from transforms.article import RawUnit


def unit(i, text, t):
    return TimestampedValue(RawUnit("stream", i, json.dumps({"id": f"s{i}", "text": text}).encode(), "jsonl"), t)


def test_windows_records_and_dead_letters(tmp_path, tiny_ner):
    out = tmp_path / "out"
    options = PipelineOptions(["--output", str(out), "--ner-model", str(tiny_ner), "--window-seconds", "60"])
    options.view_as(StandardOptions).streaming = True
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([unit(1, "Drones hit Odesa.", 5), unit(2, "Talks in Istanbul.", 30)])
        .add_elements([TimestampedValue(RawUnit("stream", 3, b"{bad json", "jsonl"), 40)])
        .advance_watermark_to(65)
        .add_elements([unit(4, "NABU charged a minister with bribery.", 70)])
        .add_elements([TimestampedValue(RawUnit("stream", 5, b'{"text": "  "}', "jsonl"), 125)])
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(runner="BundleBasedDirectRunner", options=options) as p:
        graph.build(p, RunConfig.from_options(options), units=p | stream)

    files = sorted(f.name for f in out.iterdir())
    article_files = [f for f in files if f.startswith("articles-")]
    dead_files = [f for f in files if f.startswith("deadletter-")]
    assert len(article_files) == 2 and len(dead_files) == 2, files
    window = re.compile(r"-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)-")

    def ids_by_window(prefix, key):
        found = {}
        for f in files:
            if f.startswith(prefix):
                start = window.search(f).group(1)
                found[start] = sorted(r[key] for r in read_avro(str(out / f)))
        return found

    assert ids_by_window("articles-", "id") == {"1970-01-01T00:00:00": ["s1", "s2"], "1970-01-01T00:01:00": ["s4"]}
    assert ids_by_window("deadletter-", "source_line") == {"1970-01-01T00:00:00": [3], "1970-01-01T00:02:00": [5]}


def test_watch_picks_up_files_added_while_running(tmp_path, tiny_ner):
    import threading
    import time

    from conftest import run_pipeline

    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "first.jsonl").write_text(json.dumps({"id": "w1", "text": "Drones over Kyiv."}) + "\n")

    def later():
        time.sleep(3)
        (watch / "second.jsonl").write_text(json.dumps({"id": "w2", "text": "Talks resumed."}) + "\n{oops\n")

    t = threading.Thread(target=later)
    t.start()
    out = tmp_path / "out"
    rc = run_pipeline(
        [
            "--streaming",
            "--watch",
            str(watch / "*.jsonl"),
            "--output",
            str(out),
            "--ner-model",
            str(tiny_ner),
            "--poll-seconds",
            "1",
            "--max-runtime",
            "15",
            "--window-seconds",
            "3600",
        ]
    )
    t.join()
    assert rc == 0
    assert sorted(r["id"] for r in read_avro(str(out / "articles-*.avro"))) == ["w1", "w2"]
    dead = read_avro(str(out / "deadletter-*.avro"))
    assert [(d["source_line"], d["raw"]) for d in dead] == [(2, b"{oops")]
