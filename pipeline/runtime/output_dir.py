"""Keeping a local batch output folder consistent across reruns and killed runs.

Beam writes every shard into ``DIR/beam-temp-<prefix>-<uuid>/`` and renames shards into place only
after the whole run succeeded, so a killed run never leaves a half-written ``articles-*.avro``
visible. What it can leave is its temporary folder, and a rerun that picks a different shard count
would leave the previous run's extra shards beside the new ones (duplicates). So a batch run starts
by removing leftover ``beam-temp-*`` folders and the previous run's ``articles-*.avro`` and
``deadletter-*.avro``: the folder always holds the output of one run, complete or (while running or
after a failure) none. (Deleting stale shards *after* the run is not reliable: Beam skips renaming a
shard whose content matches the file already there, so "not rewritten" can't be told from "stale".)
The same holds for the partitioned layout (``--partition-by``): its temporary folders
(``.beam-temp-*``) and the ``articles-*.avro`` of its partition folders (``date=*/``, removed when
empty) go too, whichever layout the new run writes, so a folder never mixes the records of two runs.
Do not point two concurrent runs at one output folder.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil

from transforms.io.avro_files import PARTITIONED_TEMP_PREFIX
from transforms.io.partitions import PARTITION_FOLDER_GLOBS

log = logging.getLogger(__name__)
OUTPUT_PATTERNS = ("articles-*.avro", "deadletter-*.avro")


def is_local(output: str | None) -> bool:
    """A folder on this machine (not on a Beam filesystem such as gs://)."""
    return bool(output) and "://" not in str(output)


def prepare(directory: str, streaming: bool) -> None:
    """Creates the local output folder; a batch run first clears what an earlier run left there."""
    os.makedirs(directory, exist_ok=True)
    if streaming:
        return
    for path in remove_leftover_temp_dirs(directory):
        log.info("removed leftover temporary folder %s (an earlier run was interrupted)", path)
    removed = remove_previous_outputs(directory)
    if removed:
        log.info("replacing %d output files of an earlier run in %s", len(removed), directory)


def partition_folders(directory: str) -> list[str]:
    return sorted(p for pattern in PARTITION_FOLDER_GLOBS for p in glob.glob(os.path.join(directory, pattern)))


def output_files(directory: str) -> set[str]:
    found: set[str] = set()
    for folder in [directory, *partition_folders(directory)]:
        for pattern in OUTPUT_PATTERNS:
            found.update(glob.glob(os.path.join(folder, pattern)))
    return found


def remove_leftover_temp_dirs(directory: str) -> list[str]:
    removed = []
    temp_dirs = glob.glob(os.path.join(directory, "beam-temp-*"))
    temp_dirs += glob.glob(os.path.join(directory, glob.escape(PARTITIONED_TEMP_PREFIX) + "*"))
    for path in temp_dirs:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _remove_files(paths) -> list[str]:
    removed = []
    for path in sorted(paths):
        try:
            os.remove(path)
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def remove_previous_outputs(directory: str) -> list[str]:
    removed = _remove_files(output_files(directory))
    for folder in partition_folders(directory):
        try:
            os.rmdir(folder)  # only when empty: anything else someone put there stays
        except OSError:
            pass
    return removed


def remove_partial_window_files(directory: str) -> list[str]:
    """Streaming writes each window file as ``DIR/.<name>.partial`` (``DIR/<partition>/.<name>.partial``
    when partitioned) and renames it into place; a job stopped in the middle of a write leaves the
    partial file (never visible as output: it starts with a dot). Called when a streaming run ends."""
    partial: list[str] = []
    for folder in [directory, *partition_folders(directory)]:
        partial += glob.glob(os.path.join(folder, ".*.avro.partial"))
    return _remove_files(partial)
