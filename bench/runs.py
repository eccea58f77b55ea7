"""`news-ingest run` as the benchmarks start it: a fresh process per run (its memory and start-up are its
own), and the one-line summary it prints at the end read back."""

from __future__ import annotations

import json
import sys

SUMMARY_PREFIX = "summary: "


def pipeline_command(*args: str) -> list[str]:
    """The command line of `news-ingest run` with ``args``, on this interpreter."""
    return [sys.executable, "-m", "pipeline", "run", *args]


def read_summary(output: str) -> dict:
    """The run's summary from its output (the last ``summary: {json}``; log lines may surround it)."""
    return json.loads(output.split(SUMMARY_PREFIX)[-1].splitlines()[0])
