"""Where the engine files fetched by ``make engines`` live, and how runner flags find them.

Beam's own downloaders (Prism from GitHub, job-server and expansion-service jars from Maven) cannot
reach anything on an offline machine and some of them wait a long time before failing, so the CLI
never leaves a runner to download: it fills in ``--prism_location`` / ``--flink_job_server_jar``
from the engines folder, or stops with one line naming the make target that fetches the file.

The engines folder is ``$NEWS_INGEST_ENGINES``, else ``.engines/`` at the root of the source tree.
"""
from __future__ import annotations

import os
from pathlib import Path

import apache_beam

BEAM_VERSION = apache_beam.__version__
FLINK_VERSION = "1.19"  # the only Flink line whose Beam runner Maven Central serves here (engines/README.md)
# Beam's portable runner opens the job's state and message streams with --job_server_timeout as their
# gRPC deadline (default 300 s), so every job running longer than five minutes was torn down by its
# own client ("Deadline Exceeded"); a streaming job is meant to run for days.
JOB_STREAM_TIMEOUT_SECONDS = 365 * 24 * 3600


class EngineMissing(Exception):
    """An engine file a runner needs is not there; the message names the make target."""


def engines_dir() -> Path:
    configured = os.environ.get("NEWS_INGEST_ENGINES")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parent.parent / ".engines"


def prism_binary() -> Path:
    return engines_dir() / "bin" / "prism"


def flink_job_server_jar(flink_version: str = FLINK_VERSION) -> Path:
    return engines_dir() / "jars" / f"beam-runners-flink-{flink_version}-job-server-{BEAM_VERSION}.jar"


def kafka_expansion_jar() -> Path:
    return engines_dir() / "jars" / f"beam-kafka-expansion-service-{BEAM_VERSION}.jar"


def _given(argv: list[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` or ``--flag=VALUE`` in argv (last one wins), else None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def _require(path: Path, what: str) -> str:
    if not path.is_file():
        raise EngineMissing(f"{what} not found at {path}: run `make engines` (or pass its path yourself)")
    return str(path)


def runner_name(argv: list[str]) -> str | None:
    runner = _given(argv, "--runner")
    return runner.split(".")[-1] if runner else None


def runs_remotely(argv: list[str]) -> bool:
    """Runners whose job runs on a service and outlives the CLI: submit, report the job, exit 0."""
    return (runner_name(argv) or "").lower() == "dataflowrunner"


def complete_runner_args(argv: list[str]) -> list[str]:
    """argv with the engine files and the SDK worker environment the chosen runner needs filled in.

    Only what the user left out is added. Python SDK workers run in this process (LOOPBACK) unless the
    user picks another ``--environment_type``: there is no Docker here, and LOOPBACK needs no setup."""
    runner = (runner_name(argv) or "").lower()
    extra: list[str] = []
    if runner in ("prismrunner", "directrunner") and _given(argv, "--prism_location") is None:
        if runner == "prismrunner" or prism_binary().is_file():
            # DirectRunner hands supported pipelines to Prism, which it would otherwise download
            extra += ["--prism_location", _require(prism_binary(), "the Prism runner binary")]
    if runner in ("prismrunner", "flinkrunner", "portablerunner") and _given(argv, "--job_server_timeout") is None:
        extra += ["--job_server_timeout", str(JOB_STREAM_TIMEOUT_SECONDS)]
    if runner == "flinkrunner":
        if _given(argv, "--flink_job_server_jar") is None:
            version = _given(argv, "--flink_version") or FLINK_VERSION
            extra += ["--flink_job_server_jar",
                      _require(flink_job_server_jar(version), f"Beam's Flink {version} job server jar")]
            if _given(argv, "--flink_version") is None:
                extra += ["--flink_version", version]
        if _given(argv, "--environment_type") is None:
            extra += ["--environment_type", "LOOPBACK"]
    return argv + extra
