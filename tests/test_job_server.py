"""The Flink job server the CLI starts while it imports (pipeline/runtime/job_server.py): the command is Beam's
own, only Flink runs that Beam would start a server for get one, one started for other flags is not used, and
the JVM's class archive is drafted, published whole and then used. The real server on real runs: test_flink.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.flink_runner import FlinkJarJobServer

from pipeline.runtime import engines, job_server


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / "jars" / "beam-flink-job-server.jar"
    path.parent.mkdir()
    path.write_bytes(b"PK")
    return str(path)


def flags_of(*argv: str) -> engines.RunnerFlags:
    return engines.RunnerFlags(engines.complete_runner_args(list(argv)))


@pytest.mark.parametrize("master", ["[local]", "localhost:8081"])
def test_the_command_is_the_one_beam_would_run(jar, tmp_path, master):
    flags = flags_of("--runner", "FlinkRunner", "--flink_job_server_jar", jar, "--flink_master", master)
    beam_options = PipelineOptions(flags.argv + ["--job_port", "4711", "--artifacts_dir", str(tmp_path)])
    server = FlinkJarJobServer(beam_options)
    server._master_url = "http://localhost:8081" if master != "[local]" else master  # FlinkRunner.default_job_server
    beams, endpoint = server.subprocess_cmd_and_endpoint()
    ours = job_server.command(flags) + job_server.server_args(4711, str(tmp_path))
    assert ours == [str(a) for a in beams] and endpoint == "localhost:4711"


@pytest.mark.parametrize(
    "argv",
    [
        ["--runner", "PrismRunner"],
        ["--runner", "FlinkRunner", "--job_endpoint", "localhost:8099"],
        ["--runner", "FlinkRunner", "--flink_master", "h:8081", "--flink_submit_uber_jar"],
    ],
)
def test_no_server_where_beam_would_start_none_from_a_jar(jar, tmp_path, monkeypatch, argv):
    monkeypatch.setenv("NEWS_INGEST_ENGINES", str(tmp_path))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "prism").write_bytes(b"")
    assert job_server.command(flags_of(*argv, "--flink_job_server_jar", jar)) is None


def test_a_server_started_for_other_flags_is_stopped_not_used(jar, tmp_path):
    started_for = flags_of("--runner", "FlinkRunner", "--flink_job_server_jar", jar)
    command = job_server.command(started_for)
    proc = subprocess.Popen(["sleep", "60"])
    server_log, artifacts = tmp_path / "server.log", tmp_path / "artifacts"
    server_log.write_text("")
    artifacts.mkdir()
    job_server._started = job_server.StartedJobServer(proc, 4711, command, str(server_log), str(artifacts))
    other = flags_of("--runner", "FlinkRunner", "--flink_job_server_jar", jar, "--flink_master", "h:8081")
    assert job_server.take(other) is None
    assert proc.poll() is not None and job_server._started is None
    assert not artifacts.exists()  # the log stays (run_pipeline names it); the artifacts go
    assert job_server.take(started_for) is None  # taken once: nothing left


def test_the_class_archive_is_drafted_published_whole_then_used(jar):
    first = job_server.ClassArchive.for_jar("java" if _java() else "sh", jar)
    assert first is not None and first.draft is not None and not first.path.exists()
    assert first.jvm_options() == [f"-XX:ArchiveClassesAtExit={first.draft}"]
    first.publish()  # the JVM wrote nothing (it failed, or was killed): nothing is published
    assert not first.path.exists()
    first.draft.write_bytes(b"CDS")
    first.publish()
    assert first.path.read_bytes() == b"CDS" and not first.draft.exists()
    again = job_server.ClassArchive.for_jar("java" if _java() else "sh", jar)
    assert again.path == first.path and again.jvm_options() == [f"-XX:SharedArchiveFile={first.path}"]
    os.utime(jar, ns=(1, 1))  # another jar: another archive
    assert job_server.ClassArchive.for_jar("java" if _java() else "sh", jar).path != first.path


def _java() -> bool:
    from shutil import which

    return which("java") is not None


def test_our_jvm_options_come_with_the_class_archive_a_users_own_alone(jar, tmp_path):
    launcher = tmp_path / "java"  # a launcher that writes down the command line it was given
    launcher.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/launched"\n')
    launcher.chmod(0o755)

    def launched_with(*extra: str) -> list[str]:
        (tmp_path / "launched").unlink(missing_ok=True)
        argv = ["--runner", "FlinkRunner", "--flink_job_server_jar", jar, "--job_server_java_launcher", str(launcher)]
        job_server.start_early([*argv, *extra])
        started, job_server._started = job_server._started, None
        assert started is not None
        started.proc.wait(30)
        started.stop()
        return (tmp_path / "launched").read_text().split()

    ours = launched_with()
    assert [a for a in ours if a.startswith("-XX:") and "Archive" not in a] == list(
        engines.FLINK_JOB_SERVER_JVM_PROPERTIES
    )
    assert any(a.startswith("-XX:ArchiveClassesAtExit=") for a in ours)
    own = launched_with("--job_server_jvm_properties=-Xmx1g")
    assert "-Xmx1g" in own and not any(a.startswith("-XX:") for a in own)
