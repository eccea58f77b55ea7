"""Keeping a local batch output folder consistent across reruns and killed runs.

Beam writes every shard into ``DIR/beam-temp-<prefix>-<uuid>/`` and renames shards into place only
after the whole run succeeded, so a killed run never leaves a half-written ``articles-*.avro``
visible. What it can leave is its temporary folder, and a rerun that picks a different shard count
would leave the previous run's extra shards beside the new ones (duplicates). So a batch run
1. removes leftover ``beam-temp-*`` folders before it starts, and
2. after it succeeded, deletes the previous run's output files that it did not rewrite.
Do not point two concurrent runs at one output folder.
"""
from __future__ import annotations

import glob
import os
import shutil

OUTPUT_PATTERNS = ("articles-*.avro", "deadletter-*.avro")


def output_files(directory: str) -> set[str]:
    found: set[str] = set()
    for pattern in OUTPUT_PATTERNS:
        found.update(glob.glob(os.path.join(directory, pattern)))
    return found


def remove_leftover_temp_dirs(directory: str) -> list[str]:
    removed = []
    for path in glob.glob(os.path.join(directory, "beam-temp-*")):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def remove_stale_outputs(before: set[str], started_at: float) -> list[str]:
    """Delete files listed in ``before`` that this run (started at ``started_at``) did not rewrite."""
    stale = []
    for path in sorted(before):
        try:
            if os.path.getmtime(path) < started_at:
                os.remove(path)
                stale.append(path)
        except FileNotFoundError:
            pass
    return stale
