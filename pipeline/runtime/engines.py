"""Where the engine files fetched by ``make engines`` live, and how runner flags find them.

Beam's own downloaders (Prism from GitHub, job-server and expansion-service jars from Maven) cannot
reach anything on an offline machine and some of them wait a long time before failing, so the CLI
never leaves a runner to download: it fills in ``--prism_location`` / ``--flink_job_server_jar``
from the engines folder, or stops with one line naming the make target that fetches the file.

The engines folder is ``$NEWS_INGEST_ENGINES``, else ``.engines/`` at the root of the source tree.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import apache_beam

BEAM_VERSION = apache_beam.__version__
FLINK_VERSION = "1.19"  # the only Flink line whose Beam runner Maven Central serves here (engines/README.md)
# The Beam Java version of the job server that `make engines` builds when the official jar is not served
# (engines/flink-job-server/pom.xml): the newest release of Beam's Flink runner on Maven Central.
BUILT_FLINK_RUNNER_VERSION = "2.70.0"
# Streaming on Flink: a checkpoint every 10 s bounds what a failure replays (records after the last
# checkpoint are written again: at least once). Bundles finish before each checkpoint: otherwise a
# checkpoint taken during the Kafka read's first bundle buffers its restriction in operator state and
# the read never starts (engines/README.md, Flink).
FLINK_CHECKPOINT_MS = 10_000
# With checkpointing off, Flink's runner shuts idle sources down, and the end of its impulse source
# starves the steps after a Kafka read; a streaming job's sources never end.
NEVER_MS = str(2**63 - 1)
# Streaming on Flink: a model batch is scored when its bundle ends, and Flink ends a bundle only after
# --max_bundle_time_mills (1000 ms by default), so articles waited up to a second longer than on Prism;
# 250 ms took the Kafka latency at 5 articles/s from p95 3.2-3.6 s to 2.6-3.1 s (bench/RESULTS-engines.md).
FLINK_STREAMING_BUNDLE_MS = 250
# Beam's portable runner opens the job's state and message streams with --job_server_timeout as their
# gRPC deadline (default 300 s), so every job running longer than five minutes was torn down by its
# own client ("Deadline Exceeded"); a streaming job is meant to run for days.
JOB_STREAM_TIMEOUT_SECONDS = 365 * 24 * 3600


class EngineUnavailable(Exception):
    """An engine cannot run this job; the message is one line a user can act on (the CLI exits 2)."""


class EngineMissing(EngineUnavailable):
    """An engine file a runner needs is not there; the message names the make target."""


def log_engine_output() -> str | None:
    """Sends what Beam relays from a job server JVM (Flink's whole log, line by line at INFO) to a file
    of its own instead of the console; returns its path."""
    import logging
    import tempfile

    handler_file = tempfile.NamedTemporaryFile("w", prefix="news-ingest-job-server-", suffix=".log", delete=False)
    handler_file.close()
    for name in ("FlinkJarJobServer", "JavaJarJobServer"):  # Beam names the relay after the server's class
        relay = logging.getLogger(name)
        relay.propagate = False
        relay.handlers = [logging.FileHandler(handler_file.name)]
    return handler_file.name


def engines_dir() -> Path:
    configured = os.environ.get("NEWS_INGEST_ENGINES")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / ".engines"


def prism_binary() -> Path:
    return engines_dir() / "bin" / "prism"


def flink_job_server_jars(flink_version: str = FLINK_VERSION) -> list[Path]:
    """Where `make engines` puts a Flink job server, in order of preference: Beam's own jar for this Beam
    version (where a registry serves it), then the one built from Beam's Java libraries."""
    jars = engines_dir() / "jars"
    return [
        jars / f"beam-runners-flink-{flink_version}-job-server-{BEAM_VERSION}.jar",
        jars / f"beam-flink-{flink_version}-job-server-java{BUILT_FLINK_RUNNER_VERSION}.jar",
    ]


def flink_job_server_jar(flink_version: str = FLINK_VERSION) -> Path:
    """The job server jar to use: the first of ``flink_job_server_jars`` that exists (else the built one's
    path, for the error message)."""
    candidates = flink_job_server_jars(flink_version)
    return next((jar for jar in candidates if jar.is_file()), candidates[-1])


def kafka_expansion_jar() -> Path:
    return engines_dir() / "jars" / f"beam-kafka-expansion-service-{BEAM_VERSION}.jar"


def given(argv: list[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` or ``--flag=VALUE`` in argv (last one wins), else None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def _require(path: Path, what: str, made_by: str = "") -> str:
    if not path.is_file():
        raise EngineMissing(f"{what} not found at {path}: run `make engines`{made_by} (or pass its path yourself)")
    return str(path)


def flag_given(argv: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def runner_name(argv: list[str]) -> str | None:
    runner = given(argv, "--runner")
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
    if runner in ("prismrunner", "directrunner") and given(argv, "--prism_location") is None:
        if runner == "prismrunner" or prism_binary().is_file():
            # DirectRunner hands supported pipelines to Prism, which it would otherwise download
            extra += ["--prism_location", _require(prism_binary(), "the Prism runner binary")]
    if runner in ("prismrunner", "flinkrunner", "portablerunner") and given(argv, "--job_server_timeout") is None:
        extra += ["--job_server_timeout", str(JOB_STREAM_TIMEOUT_SECONDS)]
    if runner == "flinkrunner":
        extra += _flink_args(argv)
    return argv + extra


def _flink_args(argv: list[str]) -> list[str]:
    version = given(argv, "--flink_version") or FLINK_VERSION
    extra: list[str] = []
    if given(argv, "--flink_job_server_jar") is None:
        made_by = (
            " (it fetches Beam's job server jar, or builds it with Maven from Maven Central: "
            "engines/fetch-flink-job-server.sh)"
        )
        extra += [
            "--flink_job_server_jar",
            _require(flink_job_server_jar(version), f"Beam's Flink {version} job server jar", made_by),
        ]
    if given(argv, "--flink_version") is None:
        extra += ["--flink_version", version]
    if given(argv, "--flink_master") is None:
        extra += ["--flink_master", "[local]"]  # an embedded Flink inside the job server
    if given(argv, "--environment_type") is None:
        extra += ["--environment_type", "LOOPBACK"]
    if given(argv, "--job_name") is None:
        # a name of our own finds the job on the cluster's REST API (its id and web UI in the summary)
        extra += ["--job_name", f"news-ingest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"]
    if flag_given(argv, "--streaming"):
        if given(argv, "--checkpointing_interval") is None:
            extra += ["--checkpointing_interval", str(FLINK_CHECKPOINT_MS)]
        if not flag_given(argv, "--finish_bundle_before_checkpointing"):
            extra += ["--finish_bundle_before_checkpointing"]
        if given(argv, "--shutdown_sources_after_idle_ms") is None:
            extra += ["--shutdown_sources_after_idle_ms", NEVER_MS]
        if given(argv, "--max_bundle_time_mills") is None:
            extra += ["--max_bundle_time_mills", str(FLINK_STREAMING_BUNDLE_MS)]
        master = given(argv, "--flink_master")
        if (master is None or master.startswith("[")) and given(argv, "--state_backend") is None:
            # the embedded Flink keeps checkpoints in memory, limited to 5 MB: a window's buffered records
            # outgrow it and the failed checkpoint fails the job. (A session cluster's own configuration
            # decides there: `make flink-up` puts them on disk.)
            extra += [
                "--state_backend",
                "filesystem",
                "--state_backend_storage_path",
                f"file://{tempfile.gettempdir()}/news-ingest-flink-checkpoints",
            ]
    return extra


def flink_master(argv: list[str]) -> str | None:
    """``--flink_master`` of a FlinkRunner run (after ``complete_runner_args``), else None."""
    return given(argv, "--flink_master") if (runner_name(argv) or "").lower() == "flinkrunner" else None
