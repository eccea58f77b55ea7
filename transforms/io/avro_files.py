"""Output seams: Avro container files (deflate) for batch runs and per-window files for streaming, flat in
the output folder or in one folder per partition (``transforms.io.partitions``)."""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections import defaultdict
from collections.abc import Callable

import apache_beam as beam
import fastavro
from apache_beam.io.avroio import WriteToAvro
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

import schemas

log = logging.getLogger(__name__)
# The temporary folder of a partitioned batch sink starts with a dot: Spark, Hive and Hadoop skip hidden
# folders, so a reader of the partitioned tree never sees its files (pipeline.runtime.output_dir removes
# the folder an interrupted run left).
PARTITIONED_TEMP_PREFIX = ".beam-temp-"


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


class _ShardKeyFn(beam.DoFn):
    """record -> ((partition, shard), record): round robin over ``num_shards`` from a random start, as
    Beam's own sharded writes do, or shard 0 (one file per partition)."""

    def __init__(self, partition: Callable[[dict], str], num_shards: int):
        self.partition, self.num_shards = partition, num_shards

    def start_bundle(self):
        self.next_shard = random.randrange(max(1, self.num_shards))

    def process(self, record):
        shard = self.next_shard % self.num_shards if self.num_shards else 0
        self.next_shard += 1
        yield (self.partition(record), shard), record


class _WriteTempFileFn(beam.DoFn):
    """The records of one (partition, shard) -> one Avro file in the temporary folder, streamed (the group
    is never held in memory); outputs (partition, shard, temporary path)."""

    def __init__(self, temp_dir: str, schema_name: str):
        self.temp_dir, self.schema_name = temp_dir, schema_name

    def process(self, keyed):
        (partition, shard), records = keyed
        path = FileSystems.join(self.temp_dir, f"{uuid.uuid4().hex}.avro")  # a retried bundle writes a new file
        with FileSystems.create(path) as fh:
            fastavro.writer(fh, schemas.parsed(self.schema_name), records, codec="deflate")
        yield partition, shard, path


def partitioned_file_names(prefix: str, written: list[tuple[str, int, str]]) -> dict[str, str]:
    """Temporary path -> final ``<partition>/<prefix>-SSSSS-of-NNNNN.avro``, numbered per partition in
    shard order."""
    by_partition: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for partition, shard, path in written:
        by_partition[partition].append((shard, path))
    names = {}
    for partition, files in by_partition.items():
        for i, (_, path) in enumerate(sorted(files)):
            names[path] = f"{partition}/{prefix}-{i:05d}-of-{len(files):05d}.avro"
    return names


class _RenameIntoPlaceFn(beam.DoFn):
    """Once every file of the sink is written (all of them arrive as one list): renames each into its
    partition folder, then removes the temporary folder. A retry skips the files already renamed."""

    def __init__(self, directory: str, prefix: str, temp_dir: str):
        self.directory, self.prefix, self.temp_dir = directory, prefix, temp_dir

    def process(self, written):
        sources, targets = [], []
        for source, name in sorted(partitioned_file_names(self.prefix, written).items(), key=lambda kv: kv[1]):
            target = FileSystems.join(self.directory, *name.split("/"))
            if not FileSystems.exists(source):
                if FileSystems.exists(target):
                    continue  # renamed by an earlier attempt of this step
                raise BeamIOError(f"neither {source} nor {target} exists")
            sources.append(source)
            targets.append(target)
        for folder in sorted({FileSystems.split(t)[0] for t in targets}):
            if not FileSystems.exists(folder):  # object stores have no folders: a no-op there
                FileSystems.mkdirs(folder)
        if sources:
            FileSystems.rename(sources, targets)
        try:
            FileSystems.delete([self.temp_dir])
        except (BeamIOError, OSError):  # nothing was written, or it went already
            log.debug("no temporary folder %s to remove", self.temp_dir)
        yield from targets


class WritePartitionedAvroFiles(beam.PTransform):
    """Batch, one folder per partition: ``DIR/<partition(record)>/<prefix>-SSSSS-of-NNNNN.avro`` (for
    instance ``DIR/date=2026-11-26/articles-00000-of-00001.avro``), ``num_shards`` files per partition (0:
    one). As with WriteAvroFiles, every file is written into a temporary folder first and renamed into
    place only when all of them are written, so readers never see half-written files or half a run."""

    def __init__(
        self, directory: str, prefix: str, schema_name: str, partition: Callable[[dict], str], num_shards: int = 0
    ):
        super().__init__()
        self.directory, self.prefix, self.schema_name = directory, prefix, schema_name
        self.partition, self.num_shards = partition, num_shards

    def expand(self, records):
        temp_dir = FileSystems.join(self.directory, f"{PARTITIONED_TEMP_PREFIX}{self.prefix}-{uuid.uuid4().hex}")
        return (
            records
            | "ToShards"
            >> beam.ParDo(_ShardKeyFn(self.partition, self.num_shards)).with_output_types(
                beam.typehints.KV[beam.typehints.Tuple[str, int], beam.typehints.Any]
            )
            | "PerShard" >> beam.GroupByKey()
            | "WriteTemporary" >> beam.ParDo(_WriteTempFileFn(temp_dir, self.schema_name))
            | "AllWritten" >> beam.combiners.ToList()
            | "RenameIntoPlace" >> beam.ParDo(_RenameIntoPlaceFn(self.directory, self.prefix, temp_dir))
        )


SINK = "files"  # the name acknowledgements carry (kafka_offsets)


def window_file_name(prefix: str, window, pane_index: int) -> str:
    """``<prefix>-<start>-<end>-00000-of-00001.avro``; a late pane of the same window adds ``-pane<N>``."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    start, end = window.start.to_utc_datetime().strftime(fmt), window.end.to_utc_datetime().strftime(fmt)
    pane = f"-pane{pane_index}" if pane_index else ""
    return f"{prefix}-{start}-{end}{pane}-00000-of-00001.avro"


class _WriteWindowFileFn(beam.DoFn):
    """All records of one window pane (and partition) -> one Avro file, written beside its final name and
    renamed into place, so a reader never sees half a file; then one acknowledgement per record."""

    def __init__(self, directory: str, prefix: str, schema_name: str, partitioned: bool = False):
        self.directory, self.prefix, self.schema_name, self.partitioned = directory, prefix, schema_name, partitioned

    def process(self, keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        key, records = keyed  # the partition's folder, or the prefix when there are no partitions
        records = list(records)
        directory = FileSystems.join(self.directory, key) if self.partitioned else self.directory
        name = window_file_name(self.prefix, window, pane.index)
        final, partial = FileSystems.join(directory, name), FileSystems.join(directory, "." + name + ".partial")
        with FileSystems.create(partial) as fh:  # creates the partition folder where there are folders
            fastavro.writer(fh, schemas.parsed(self.schema_name), records, codec="deflate")
        if FileSystems.exists(final):  # a retried bundle wrote it already: same pane, same records
            FileSystems.delete([final])
        FileSystems.rename([partial], [final])
        for r in records:
            yield r["source_file"], r["source_line"], SINK


class WriteWindowedAvroFiles(beam.PTransform):
    """Streaming: one ``<prefix>-<window start>-<window end>-00000-of-00001.avro`` per window (late data
    adds a ``-pane<N>`` file for its window); with ``partition``, one per window and partition, in the
    partition's folder (``date=2026-11-26/articles-...``). Outputs ``(source_file, source_line, "files")``
    for every record once its file is in place."""

    def __init__(self, directory: str, prefix: str, schema_name: str, partition: Callable[[dict], str] | None = None):
        super().__init__()
        self.directory, self.prefix, self.schema_name, self.partition = directory, prefix, schema_name, partition

    def expand(self, records):
        partition, prefix = self.partition, self.prefix
        # unpartitioned: the step names and keys of before, so a running streaming job can be updated
        keyed = (
            records | "ByPartition" >> beam.Map(lambda r: (partition(r), r))
            if partition
            else records | "OneKey" >> beam.Map(lambda r: (prefix, r))
        )
        return (
            keyed
            | "PerWindow" >> beam.GroupByKey()
            | "WriteFile"
            >> beam.ParDo(_WriteWindowFileFn(self.directory, self.prefix, self.schema_name, partition is not None))
        )
