"""Output seams: Avro container files (deflate) for batch runs and per-window files for streaming."""
from __future__ import annotations

import os

import apache_beam as beam
import fastavro
from apache_beam.io import fileio
from apache_beam.io.avroio import WriteToAvro

import schemas


class AvroFileSink(fileio.FileSink):
    """fastavro writer for ``fileio.WriteToFiles`` (one container file per window and shard)."""

    def __init__(self, schema_name: str, codec: str = "deflate"):
        self.schema_name, self.codec = schema_name, codec
        self._writer = None

    def open(self, fh):
        self._writer = fastavro.write.Writer(fh, schemas.parsed(self.schema_name), codec=self.codec)

    def write(self, record):
        self._writer.write(record)

    def flush(self):
        self._writer.flush()


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


class WriteWindowedAvroFiles(beam.PTransform):
    """Streaming: one ``<prefix>-<window>-<pane>-00000-of-00001.avro`` per window."""

    def __init__(self, directory: str, prefix: str, schema_name: str):
        super().__init__()
        self.directory, self.prefix, self.schema_name = directory, prefix, schema_name

    def expand(self, records):
        return records | fileio.WriteToFiles(
            path=self.directory,
            file_naming=fileio.default_file_naming(prefix=self.prefix, suffix=".avro"),
            sink=lambda _dest: AvroFileSink(self.schema_name),
            shards=1,
            max_writers_per_bundle=0,
        )
