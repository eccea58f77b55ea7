"""Output seams: Avro container files (deflate) for batch runs and per-window files for streaming."""

from __future__ import annotations

import os

import apache_beam as beam
import fastavro
from apache_beam.io.avroio import WriteToAvro
from apache_beam.io.filesystems import FileSystems

import schemas


class WriteAvroFiles(beam.PTransform):
    """Batch: ``DIR/<prefix>-SSSSS-of-NNNNN.avro``. Beam writes shards to a temporary folder and renames
    them only when the run succeeds, so readers never see half-written files."""

    def __init__(self, directory: str, prefix: str, schema_name: str, num_shards: int = 0):
        super().__init__()
        self.directory, self.prefix, self.schema_name, self.num_shards = directory, prefix, schema_name, num_shards

    def expand(self, records):
        return records | WriteToAvro(
            os.path.join(self.directory, self.prefix),
            schema=schemas.parsed(self.schema_name),
            file_name_suffix=".avro",
            codec="deflate",
            num_shards=self.num_shards,
        )


SINK = "files"  # the name acknowledgements carry (kafka_offsets)


def window_file_name(prefix: str, window, pane_index: int) -> str:
    """``<prefix>-<start>-<end>-00000-of-00001.avro``; a late pane of the same window adds ``-pane<N>``."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    start, end = window.start.to_utc_datetime().strftime(fmt), window.end.to_utc_datetime().strftime(fmt)
    pane = f"-pane{pane_index}" if pane_index else ""
    return f"{prefix}-{start}-{end}{pane}-00000-of-00001.avro"


class _WriteWindowFileFn(beam.DoFn):
    """All records of one window pane -> one Avro file, written beside its final name and renamed into
    place, so a reader never sees half a file; then one acknowledgement per record."""

    def __init__(self, directory: str, prefix: str, schema_name: str):
        self.directory, self.prefix, self.schema_name = directory, prefix, schema_name

    def process(self, keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        _, records = keyed
        records = list(records)
        final = FileSystems.join(self.directory, window_file_name(self.prefix, window, pane.index))
        partial = FileSystems.join(self.directory, "." + window_file_name(self.prefix, window, pane.index) + ".partial")
        with FileSystems.create(partial) as fh:
            fastavro.writer(fh, schemas.parsed(self.schema_name), records, codec="deflate")
        if FileSystems.exists(final):  # a retried bundle wrote it already: same pane, same records
            FileSystems.delete([final])
        FileSystems.rename([partial], [final])
        for r in records:
            yield r["source_file"], r["source_line"], SINK


class WriteWindowedAvroFiles(beam.PTransform):
    """Streaming: one ``<prefix>-<window start>-<window end>-00000-of-00001.avro`` per window (late data
    adds a ``-pane<N>`` file for its window). Outputs ``(source_file, source_line, "files")`` for every
    record once its file is in place."""

    def __init__(self, directory: str, prefix: str, schema_name: str):
        super().__init__()
        self.directory, self.prefix, self.schema_name = directory, prefix, schema_name

    def expand(self, records):
        return (
            records
            | "OneKey" >> beam.Map(lambda r: (self.prefix, r))
            | "PerWindow" >> beam.GroupByKey()
            | "WriteFile" >> beam.ParDo(_WriteWindowFileFn(self.directory, self.prefix, self.schema_name))
        )
