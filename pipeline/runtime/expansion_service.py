"""The Java expansion service behind Beam's cross-language Kafka IO, started for the length of a run.

Beam would otherwise download ``beam-sdks-java-io-expansion-service`` from Maven (unreachable here,
and not served for this Beam version); ``make engines`` builds an equivalent jar from served
artifacts (engines/README.md). ``--alsoStartLoopbackWorker`` makes the same JVM run a Java SDK worker
pool, and ``--defaultEnvironmentType=EXTERNAL`` points the expanded Kafka transforms at it, so no runner
needs Docker: Prism and Flink both start the Java worker there. That address must be reachable from
where the Java transforms run: for a Flink cluster on other machines, run the expansion service on a
host its TaskManagers reach and pass ``--kafka-expansion-service HOST:PORT``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile

from pipeline.runtime import engines, processes

log = logging.getLogger(__name__)
JVM_HEAP = os.environ.get("NEWS_INGEST_EXPANSION_HEAP", "512m")


@contextlib.contextmanager
def kafka_expansion_service(configured: str | None):
    """Yields the address of an expansion service: ``configured`` if it is host:port, otherwise a JVM
    started from ``configured`` (a jar) or the jar fetched by `make engines`, stopped on exit."""
    if configured and not configured.endswith(".jar"):
        yield configured
        return
    jar = configured or str(engines.kafka_expansion_jar())
    if not os.path.isfile(jar):
        raise engines.EngineMissing(
            f"the Kafka expansion service jar not found at {jar}: run `make engines` "
            "(or pass --kafka-expansion-service JAR|HOST:PORT)"
        )
    if shutil.which("java") is None:
        raise engines.EngineMissing(
            "the Kafka IO runs in Java, and no `java` is on PATH: install a JDK 11+ "
            "(or pass --kafka-expansion-service HOST:PORT of a running one)"
        )
    port = processes.free_port()
    log_file = tempfile.NamedTemporaryFile("w", prefix="news-ingest-expansion-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [
            "java",
            f"-Xmx{JVM_HEAP}",
            "-jar",
            jar,
            str(port),
            f"--filesToStage={jar}",
            "--alsoStartLoopbackWorker",
            "--defaultEnvironmentType=EXTERNAL",
            f"--defaultEnvironmentConfig=127.0.0.1:{port}",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # Ctrl-C reaches us, not the JVM: we stop it in order
    try:
        try:
            processes.wait_for_port(port, proc, 90, "the Kafka expansion service", log_file.name)
        except processes.StartFailed as e:
            raise engines.EngineUnavailable(str(e)) from None
        log.info("Kafka expansion service on 127.0.0.1:%d (log %s)", port, log_file.name)
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop(proc)
        log_file.close()
