"""The input and output seams alone in a TestPipeline: ReadFiles (globs -> units | read dead letters),
WriteAvroFiles (sharded batch files) and WriteWindowedAvroFiles (one file per window, with an
acknowledgement per record), read back with fastavro."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

import apache_beam as beam
import fastavro
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

import schemas
from transforms import dead_letter as dl
from transforms.io.avro_files import SINK, WriteAvroFiles, WriteWindowedAvroFiles
from transforms.io.files import ReadFiles


def _unit(u) -> tuple:
    return u.source_file.rsplit("/", 1)[-1], u.line, u.data, u.format, u.truncated


def test_read_files_gives_one_unit_per_line_or_file_and_one_dead_letter_per_unreadable_file(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "one"}\n  \n{"text": "two"}\r\n' + b'{"text": "' + b"x" * 40 + b'"}')
    (tmp_path / "b.txt").write_bytes(b"Title\nBody")
    (tmp_path / "c.txt").write_bytes(b"date 2025-07-27 Seed title\nSeed body")
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(b'{"text": "zipped"}\n'))
    (tmp_path / "e.jsonl.gz").write_bytes(b"not gzip at all")
    units = [
        ("a.jsonl", 1, b'{"text": "one"}', "jsonl", False),
        # line 2 is blank: not a unit; the CR of a CRLF ending is not part of the line
        ("a.jsonl", 3, b'{"text": "two"}', "jsonl", False),
        ("a.jsonl", 4, b'{"text": "' + b"x" * 30, "jsonl", True),  # over max_bytes: cut there and flagged
        ("b.txt", None, b"Title\nBody", "text", False),  # a whole file, its format detected from its first line
        ("c.txt", None, b"date 2025-07-27 Seed title\nSeed body", "seed", False),
        ("d.jsonl.gz", 1, b'{"text": "zipped"}', "jsonl", False),
    ]
    with TestPipeline() as p:
        # the same file matched twice is read once
        out = p | ReadFiles([str(tmp_path / "*"), str(tmp_path / "a.jsonl")], max_bytes=40)
        assert_that(out["units"] | "Units" >> beam.Map(_unit), equal_to(units), label="Units")
        assert_that(
            out[dl.DEAD_LETTER]
            | "Dead"
            >> beam.Map(
                lambda d: (d["source_file"].rsplit("/", 1)[-1], d["source_line"], d["stage"], d["error_type"], d["raw"])
            ),
            # zlib's exception class is called `error`; nothing of the file was read, so no raw bytes
            equal_to([("e.jsonl.gz", None, dl.READ, "error", b"")]),
            label="DeadLetters",
        )


def _dead_letter(i: int) -> dict:
    return dl.dead_letter(dl.PARSE, ValueError(f"bad {i}"), raw=f"raw {i}".encode(), source_file="in", source_line=i)


def _read(path) -> tuple[dict, list[dict]]:
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return reader.writer_schema, list(reader)


def _as_written(record: dict) -> dict:
    """A record as fastavro reads it back: timestamp-millis fields come back as datetimes."""
    return dict(record, failed_at=datetime.fromtimestamp(record["failed_at"] / 1000, tz=timezone.utc))


def test_write_avro_files_writes_shards_fastavro_reads_back(tmp_path):
    records = [_dead_letter(i) for i in range(10)]
    with TestPipeline() as p:
        _ = p | beam.Create(records) | WriteAvroFiles(str(tmp_path), "deadletter", schemas.DEAD_LETTER, num_shards=2)
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == ["deadletter-00000-of-00002.avro", "deadletter-00001-of-00002.avro"]
    read = []
    for name in files:
        schema, rows = _read(tmp_path / name)
        assert schema["name"] == "newsingest.DeadLetter"
        read.extend(rows)
    assert sorted(read, key=lambda r: r["source_line"]) == [_as_written(r) for r in records]


def test_windowed_avro_files_write_one_file_per_window_and_acknowledge_every_record(tmp_path):
    # two records in the minute from 00:00, one in the minute from 00:01 (event time, unix seconds)
    stamped = [(_dead_letter(1), 0), (_dead_letter(2), 59), (_dead_letter(3), 60)]
    with TestPipeline() as p:
        acks = (
            p
            | beam.Create(stamped)
            | beam.MapTuple(lambda r, t: window.TimestampedValue(r, t))
            | beam.WindowInto(window.FixedWindows(60))
            | WriteWindowedAvroFiles(str(tmp_path), "deadletter", schemas.DEAD_LETTER)
        )
        assert_that(acks, equal_to([("in", 1, SINK), ("in", 2, SINK), ("in", 3, SINK)]))
    first = "deadletter-1970-01-01T00:00:00-1970-01-01T00:01:00-00000-of-00001.avro"
    second = "deadletter-1970-01-01T00:01:00-1970-01-01T00:02:00-00000-of-00001.avro"
    assert sorted(path.name for path in tmp_path.iterdir()) == [first, second]  # no partial file left
    assert [r["source_line"] for r in _read(tmp_path / first)[1]] == [1, 2]
    assert _read(tmp_path / second)[1] == [_as_written(stamped[2][0])]
