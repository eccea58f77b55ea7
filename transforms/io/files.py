"""Input seams: file globs read once (batch) or watched (streaming) -> RawUnits.

A message source (Pub/Sub, Kafka) plugs in by producing RawUnits too; the rest of the graph does
not change.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import MAX_TIMESTAMP

from transforms import dead_letter as dl
from transforms.parse import read_units


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.AUTO)


class _ReadUnitsFn(beam.DoFn):
    """File path -> RawUnits; a file that cannot be read becomes one dead letter (stage ``read``)."""

    def __init__(self, fmt: str, max_bytes: int):
        self.fmt, self.max_bytes = fmt, max_bytes

    def process(self, path: str):
        emitted = 0
        try:
            for unit in read_units(path, self.fmt, _open, self.max_bytes):
                emitted += 1
                yield unit
        except Exception as e:  # noqa: BLE001 - I/O or decompression errors
            yield dl.tagged(
                dl.dead_letter(dl.READ, e, raw=b"", source_file=path, source_line=emitted + 1 if emitted else None)
            )


class ReadFiles(beam.PTransform):
    """Globs -> RawUnits (main) | dead letters. Files are spread over workers before reading."""

    def __init__(self, patterns: list[str], fmt: str = "auto", max_bytes: int = 5 << 20):
        super().__init__()
        self.patterns, self.fmt, self.max_bytes = list(patterns), fmt, max_bytes

    def expand(self, pbegin):
        paths = (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda m: m.path)
            | "Distinct" >> beam.Distinct()
        )
        return paths | "Read" >> beam.ParDo(_ReadUnitsFn(self.fmt, self.max_bytes)).with_outputs(
            dl.DEAD_LETTER, main="units"
        )


class _FirstSightingFn(beam.DoFn):
    """(path, path) -> path, the first time a path is seen (per-key state: works on every runner)."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN)):
        if not seen.read():
            seen.write(True)
            yield keyed[1]


def _list_files(_tick, pattern: str) -> list[str]:
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


class WatchFiles(beam.PTransform):
    """A glob polled every ``interval`` seconds for ``max_runtime`` seconds; each new file is read once
    and its units carry the poll time as event time.

    Built on ``PeriodicImpulse`` (which waits for wall-clock time on every runner, the local ones
    included) rather than ``fileio.MatchContinuously``, whose poll budget the in-process runner spends
    without waiting between polls."""

    def __init__(
        self, pattern: str, *, interval: float, max_runtime: float, fmt: str = "auto", max_bytes: int = 5 << 20
    ):
        super().__init__()
        self.pattern, self.interval, self.max_runtime = pattern, interval, max_runtime
        self.fmt, self.max_bytes = fmt, max_bytes

    def expand(self, pbegin):
        start = time.time()
        stop = start + self.max_runtime if self.max_runtime > 0 else MAX_TIMESTAMP  # 0: until the job is stopped
        return (
            pbegin
            | "Poll" >> PeriodicImpulse(start_timestamp=start, stop_timestamp=stop, fire_interval=self.interval)
            | "List" >> beam.FlatMap(_list_files, self.pattern)
            | "KeyByPath" >> beam.Map(lambda path: (path, path)).with_output_types(beam.typehints.KV[str, str])
            | "New" >> beam.ParDo(_FirstSightingFn())
            | "Read" >> beam.ParDo(_ReadUnitsFn(self.fmt, self.max_bytes)).with_outputs(dl.DEAD_LETTER, main="units")
        )
