"""Beam's Flink job server, started as soon as a run's flags are read, so that its JVM starts while the CLI
is still importing the models' libraries.

Beam's FlinkRunner starts the job server (``FlinkJarJobServer``) only when the pipeline runs: after the CLI
has imported Beam's ML code, torch and transformers and built the graph, and the JVM then needs seconds of
its own before it takes the job; on a batch run that is a fixed cost the in-process runner does not pay
(bench/RESULTS-engines.md). ``news-ingest run`` starts the same server itself, with the command line Beam
would use, right after argument parsing (``start_early``); ``run_pipeline`` takes it (``take``) and hands
Beam its address as ``--job_endpoint``, so Beam starts none and this module stops it when the run ends.

Only where Beam would start a job server from a jar: a FlinkRunner run without ``--job_endpoint`` and
without ``--flink_submit_uber_jar``. Anything unusual (a missing jar, a flag Beam will reject) starts
nothing here: the run then meets the problem itself and reports it as before.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from apache_beam.options.pipeline_options import FlinkRunnerOptions, JobServerOptions
from apache_beam.runners.portability.flink_runner import FlinkRunner

from pipeline.runtime import engines, processes

log = logging.getLogger(__name__)
READY_SECONDS = 120  # the JVM listens within a few seconds; a busy machine gets time


@dataclass
class StartedJobServer:
    proc: subprocess.Popen
    port: int
    command: list[str]  # what Beam would have run (``command``), so a run with other flags does not take it
    log_path: str
    artifacts_dir: str
    archive: ClassArchive | None = None

    @property
    def endpoint(self) -> str:
        return f"localhost:{self.port}"

    def stop(self) -> None:
        processes.stop(self.proc)
        shutil.rmtree(self.artifacts_dir, ignore_errors=True)
        if self.archive is not None:
            self.archive.publish()


@dataclass
class ClassArchive:
    """A class data sharing archive for the job server's JVM (JDK 13+ dynamic CDS): the first early-started
    server records the classes it loaded into ``draft`` when it exits, which is then published as ``path``;
    later servers map them from there instead of loading and verifying them from the 160 MB jar again
    (bench/RESULTS-engines.md). The name holds the JVM and the jar, whose change makes a new one; a JVM that
    finds an archive it cannot use ignores it and starts as without."""

    path: Path
    draft: Path | None  # None: ``path`` exists and is used

    @classmethod
    def for_jar(cls, java: str, jar: str) -> ClassArchive | None:
        java_path, stat = shutil.which(java), os.stat(jar)
        if java_path is None:
            return None
        key = f"{os.path.realpath(java_path)}|{os.path.realpath(jar)}|{stat.st_size}|{stat.st_mtime_ns}"
        folder = Path(jar).parent / ".class-archives"
        path = folder / f"{Path(jar).stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"
        if path.is_file():
            return cls(path, None)
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            return None  # a read-only engines folder: no archive
        return cls(path, folder / f".{path.name}.{os.getpid()}.draft")

    def jvm_options(self) -> list[str]:
        if self.draft is None:
            return [f"-XX:SharedArchiveFile={self.path}"]
        return [f"-XX:ArchiveClassesAtExit={self.draft}"]

    def publish(self) -> None:
        if self.draft is None:
            return
        if self.draft.is_file() and self.draft.stat().st_size > 0:
            os.replace(self.draft, self.path)  # whole or not at all, for runs starting meanwhile
        self.draft.unlink(missing_ok=True)


_started: StartedJobServer | None = None


def command(flags: engines.RunnerFlags) -> list[str] | None:
    """The command Beam's FlinkJarJobServer would run for ``flags``, up to one server's own arguments
    (``server_args``), or None where Beam would start none from a jar (``FlinkRunner.default_job_server`` and
    ``JavaJarJobServer.subprocess_cmd_and_endpoint``)."""
    flink = flags.options.view_as(FlinkRunnerOptions)
    if flags.runner != "flinkrunner" or "job_endpoint" in flags.given or flink.flink_submit_uber_jar:
        return None
    jar = flags.flink_job_server_jar
    if not jar or not jar.endswith(".jar"):
        return None
    server = flags.options.view_as(JobServerOptions)
    return [
        server.job_server_java_launcher,
        "-jar",
        *server.job_server_jvm_properties,
        jar,
        "--flink-master",
        FlinkRunner.add_http_scheme(flink.flink_master),
    ]


def server_args(job_port: int, artifacts_dir: str) -> list[str]:
    # Beam asks the server for its artifact and expansion ports; port 0 lets it pick free ones
    return [
        "--artifacts-dir",
        artifacts_dir,
        "--job-port",
        str(job_port),
        "--artifact-port",
        "0",
        "--expansion-port",
        "0",
    ]


def start_early(beam_args: list[str]) -> None:
    """Starts the job server of this run's Flink flags (if Beam would start one) without waiting for it."""
    global _started
    try:
        flags = engines.RunnerFlags(engines.complete_runner_args(beam_args))
    except Exception:  # noqa: BLE001 - the run reports its own flag and engine problems, with their messages
        return
    cmd = command(flags)
    if cmd is None or shutil.which(cmd[0]) is None:
        return
    port, artifacts_dir = processes.free_port(), tempfile.mkdtemp(prefix="news-ingest-artifacts-")
    # the user's own JVM options go as given; ours (engines.FLINK_JOB_SERVER_JVM_PROPERTIES) with the class archive
    own_jvm_options = "job_server_jvm_properties" in engines.given_options(beam_args)
    archive = None if own_jvm_options else ClassArchive.for_jar(cmd[0], str(flags.flink_job_server_jar))
    launch = cmd[:2] + (archive.jvm_options() if archive else []) + cmd[2:] + server_args(port, artifacts_dir)
    log_file = tempfile.NamedTemporaryFile("w", prefix="news-ingest-job-server-", suffix=".log", delete=False)
    with log_file:
        proc = subprocess.Popen(launch, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    _started = StartedJobServer(proc, port, cmd, log_file.name, artifacts_dir, archive)
    atexit.register(_started.stop)  # also when the run stops before it takes the server


def take(flags: engines.RunnerFlags) -> StartedJobServer | None:
    """The job server started early for exactly these flags, listening; None if there is none (then Beam
    starts its own as usual). One that does not match, or did not come up, is stopped."""
    global _started
    started, _started = _started, None
    if started is None:
        return None
    if command(flags) != started.command:
        started.stop()
        return None
    try:
        processes.wait_for_port(started.port, started.proc, READY_SECONDS, "the Flink job server", started.log_path)
    except processes.StartFailed as e:
        log.warning("%s: Beam starts its own", e)
        started.stop()
        return None
    log.info("the Flink job server started with the run listens on %s", started.endpoint)
    return started
