"""Where the engine files fetched by ``make engines`` live, and the runner flags that find them.

Beam's own downloaders (Prism from GitHub, job-server and expansion-service jars from Maven) cannot
reach anything on an offline machine and some of them wait a long time before failing, so the CLI
never leaves a runner to download: it fills in ``--prism_location`` / ``--flink_job_server_jar``
from the engines folder, or stops with one line naming the make target that fetches the file.

The engines folder is ``$NEWS_INGEST_ENGINES``, else ``.engines/`` at the root of the source tree.
Runner flags are read once, by Beam's own parser (``RunnerFlags``): their values through Beam's option
views, and which of them the command line set.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    PipelineOptions,
    StandardOptions,
)

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
# --max_bundle_time_mills (1000 ms by default), so an article can wait that long before its batch runs.
# Shorter bundles bring Flink's latency close to Prism's (bench/RESULTS-engines.md).
FLINK_STREAMING_BUNDLE_MS = 250
# Streaming on Flink: operator chaining off. Chained, the Kafka read (a Java stage) and the model stage share
# one task thread, so the read's next poll waits until the models have scored the last batch and articles
# leave in groups one read plus one scoring apart; unchained, the next read runs while a batch is scored
# (bench/RESULTS-engines.md, Latency). The flag is Beam's --operator_chaining, a Java boolean that defaults
# to true, which Beam's portable runner turns into a Python flag that *stores false* when given.
FLINK_STREAMING_UNCHAINED_FLAG = "--operator_chaining"
# Beam's portable runner opens the job's state and message streams with --job_server_timeout as their
# gRPC deadline (default 300 s): a job running longer would be torn down by its own client ("Deadline
# Exceeded"), and a streaming job is meant to run for days.
JOB_STREAM_TIMEOUT_SECONDS = 365 * 24 * 3600
# The Flink job server's JVM: C1 only and one serial collector. It runs Flink's translation and (with
# `[local]`) the whole embedded Flink, whose Java work here is light (the models run in Python); the JIT's
# and the parallel collector's threads otherwise take CPU seconds the models need on a small machine
# (bench/RESULTS-engines.md, Flink). A user's own --job_server_jvm_properties replace these.
FLINK_JOB_SERVER_JVM_PROPERTIES = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
# Runners whose job runs on a service and outlives the CLI: it submits, reports the job and exits 0.
REMOTE_RUNNERS = ("dataflowrunner",)


class EngineUnavailable(Exception):
    """An engine cannot run this job; the message is one line a user can act on (the CLI exits 2)."""


class EngineMissing(EngineUnavailable):
    """An engine file a runner needs is not there; the message names the make target."""


def log_engine_output() -> str | None:
    """Sends what Beam relays from a job server JVM (Flink's whole log, line by line at INFO) to a file
    of its own instead of the console; returns its path."""
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


def _require(path: Path, what: str, made_by: str = "") -> str:
    if not path.is_file():
        raise EngineMissing(f"{what} not found at {path}: run `make engines`{made_by} (or pass its path yourself)")
    return str(path)


def given_options(argv: Sequence[str]) -> dict[str, Any]:
    """The Beam options ``argv`` sets, by name, and only those: parsed by Beam's own parser (``--flag
    value``, ``--flag=value`` and Beam's aliases alike) with every default left out, so that a flag given
    with its default value still counts as given. Flags no Python option declares (the Java runner's,
    e.g. ``--checkpointing_interval``) are kept the way Beam keeps them for the runner."""

    def without_defaults(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:  # argparse lists its arguments nowhere public
            action.default = argparse.SUPPRESS

    return PipelineOptions(list(argv)).get_all_options(add_extra_args_fn=without_defaults, retain_unknown_options=True)


class RunnerFlags:
    """A run's Beam flags, read once: ``options`` holds their values (read through Beam's views:
    StandardOptions, FlinkRunnerOptions, PortableOptions, ...), ``given`` the names the command line set."""

    def __init__(self, argv: Sequence[str]):
        self.argv = list(argv)
        self.options = PipelineOptions(self.argv)
        self.given = given_options(self.argv)

    @property
    def runner(self) -> str:
        """The runner's class name in lower case (``flinkrunner``); "" where none is given."""
        name = self.options.view_as(StandardOptions).runner or ""
        return name.split(".")[-1].lower()

    @property
    def streaming(self) -> bool:
        return bool(self.options.view_as(StandardOptions).streaming)

    @property
    def runs_remotely(self) -> bool:
        return self.runner in REMOTE_RUNNERS

    @property
    def flink_master(self) -> str | None:
        """``--flink_master`` of a FlinkRunner run, else None."""
        return self.options.view_as(FlinkRunnerOptions).flink_master if self.runner == "flinkrunner" else None

    @property
    def flink_job_server_jar(self) -> str | None:
        return self.options.view_as(FlinkRunnerOptions).flink_job_server_jar


def complete_runner_args(argv: Sequence[str]) -> list[str]:
    """argv with the engine files and the SDK worker environment the chosen runner needs added at its end.

    Only what the user left out is added, so a completed argv completes to itself. Python SDK workers run
    in this process (LOOPBACK) unless the user picks another ``--environment_type``: there is no Docker
    here, and LOOPBACK needs no setup."""
    flags = RunnerFlags(argv)
    runner = flags.runner
    extra: list[str] = []
    if runner in ("prismrunner", "directrunner") and "prism_location" not in flags.given:
        if runner == "prismrunner" or prism_binary().is_file():
            # DirectRunner hands supported pipelines to Prism, which it would otherwise download
            extra += ["--prism_location", _require(prism_binary(), "the Prism runner binary")]
    if runner in ("prismrunner", "flinkrunner", "portablerunner") and "job_server_timeout" not in flags.given:
        extra += ["--job_server_timeout", str(JOB_STREAM_TIMEOUT_SECONDS)]
    if runner == "flinkrunner":
        extra += _flink_args(flags)
    return [*flags.argv, *extra]


def _flink_args(flags: RunnerFlags) -> list[str]:
    given = flags.given
    flink = flags.options.view_as(FlinkRunnerOptions)
    version = flink.flink_version if "flink_version" in given else FLINK_VERSION
    extra: list[str] = []
    if "flink_job_server_jar" not in given:
        made_by = (
            " (it fetches Beam's job server jar, or builds it with Maven from Maven Central: "
            "engines/fetch-flink-job-server.sh)"
        )
        extra += [
            "--flink_job_server_jar",
            _require(flink_job_server_jar(version), f"Beam's Flink {version} job server jar", made_by),
        ]
    if "flink_version" not in given:
        extra += ["--flink_version", version]
    if "job_server_jvm_properties" not in given:
        extra += [f"--job_server_jvm_properties={p}" for p in FLINK_JOB_SERVER_JVM_PROPERTIES]
    if "flink_master" not in given:
        extra += ["--flink_master", "[local]"]  # an embedded Flink inside the job server
    if "environment_type" not in given:
        extra += ["--environment_type", "LOOPBACK"]
    if "job_name" not in given:
        # a name of our own finds the job on the cluster's REST API (its id and web UI in the summary)
        extra += ["--job_name", f"news-ingest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"]
    if flags.streaming:
        extra += _flink_streaming_args(given, embedded=flink.flink_master.startswith("["))
    return extra


def _flink_streaming_args(given: dict[str, Any], embedded: bool) -> list[str]:
    extra: list[str] = []
    if "checkpointing_interval" not in given:
        extra += ["--checkpointing_interval", str(FLINK_CHECKPOINT_MS)]
    if "finish_bundle_before_checkpointing" not in given:
        extra += ["--finish_bundle_before_checkpointing"]
    if "shutdown_sources_after_idle_ms" not in given:
        extra += ["--shutdown_sources_after_idle_ms", NEVER_MS]
    if "max_bundle_time_mills" not in given:
        extra += ["--max_bundle_time_mills", str(FLINK_STREAMING_BUNDLE_MS)]
    if "operator_chaining" not in given:
        extra += [FLINK_STREAMING_UNCHAINED_FLAG]
    if embedded and "state_backend" not in given:
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
