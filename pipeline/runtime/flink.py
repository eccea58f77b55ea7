"""A Flink session cluster seen from the CLI: its REST API before, during and after a run.

Beam's FlinkRunner talks to Flink through its job server; three things it does not do are done here,
through Flink's own REST API (the one its web UI uses):

* before submitting, check that ``--flink_master`` answers and runs the Flink line the job server was
  built for (a 1.20 cluster refuses a 1.19 job only after the upload, with a ClassNotFoundException);
* name the Flink job of the run (its id and web UI address go into the run summary);
* cancel it: Beam's ``result.cancel()`` reports CANCELLED while the job keeps running on the cluster.

``[local]`` (Beam starts an embedded Flink inside its job server) has no REST API to ask.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from apache_beam.options.pipeline_options import FlinkRunnerOptions, GoogleCloudOptions

from pipeline.runtime.engines import EngineUnavailable, RunnerFlags

log = logging.getLogger(__name__)

EMBEDDED_MASTERS = ("[local]", "[auto]", "[collection]")
TERMINAL_STATES = ("FINISHED", "FAILED", "CANCELED")


class FlinkUnavailable(EngineUnavailable):
    """The session cluster cannot take this job; the message is one line a user can act on."""


def rest_url(master: str) -> str | None:
    """``host:port`` or ``http(s)://host:port`` -> the REST base URL; None for an embedded Flink."""
    master = master.strip().rstrip("/")
    if master in EMBEDDED_MASTERS:
        return None
    return master if master.startswith(("http://", "https://")) else f"http://{master}"


def _request(url: str, method: str = "GET", timeout: float = 5) -> dict:
    # The REST API is on the cluster's own network: never go through a proxy configured for the internet.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, method=method), timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else {}


def check_cluster(master: str, flink_version: str) -> str:
    """The cluster's Flink version, after checking that it answers and matches ``flink_version``
    (major.minor, e.g. 1.19); raises FlinkUnavailable otherwise."""
    base = rest_url(master)
    try:
        overview = _request(f"{base}/overview")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise FlinkUnavailable(
            f"--flink_master {master}: no Flink REST API answers at {base} ({reason}); start a session cluster "
            "(make flink-up) or run on an embedded Flink with --flink_master '[local]'"
        ) from None
    version = str(overview.get("flink-version", "unknown"))
    if ".".join(version.split(".")[:2]) != flink_version:
        raise FlinkUnavailable(
            f"--flink_master {master} runs Flink {version}, but the job server is built for Flink {flink_version} "
            f"and the cluster would refuse the job: use a Flink {flink_version}.x cluster (make flink-up starts one)"
        )
    if not overview.get("taskmanagers"):
        log.warning("the Flink cluster at %s has no TaskManager yet: the job waits for one", base)
    return version


def find_job(master: str, job_name: str, timeout: float = 60) -> str | None:
    """The id of the newest job called ``job_name`` on the cluster, waiting up to ``timeout`` s for it."""
    base = rest_url(master)
    deadline = time.time() + timeout
    while True:
        try:
            jobs = _request(f"{base}/jobs/overview").get("jobs", [])
        except (urllib.error.URLError, OSError, ValueError):
            jobs = []
        named = sorted((j for j in jobs if j.get("name") == job_name), key=lambda j: j.get("start-time", 0))
        if named:
            return named[-1]["jid"]
        if time.time() >= deadline:
            return None
        time.sleep(0.5)


def job_state(master: str, job_id: str) -> str | None:
    try:
        return _request(f"{rest_url(master)}/jobs/{job_id}").get("state")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def cancel_job(master: str, job_id: str, timeout: float = 60) -> str | None:
    """Cancels the job on the cluster and waits until Flink reports it terminal; returns its last state."""
    base = rest_url(master)
    state = job_state(master, job_id)
    if state in TERMINAL_STATES:
        return state
    try:
        _request(f"{base}/jobs/{job_id}?mode=cancel", method="PATCH")
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.warning("could not cancel Flink job %s at %s: %s", job_id, base, e)
        return state
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = job_state(master, job_id)
        if state in TERMINAL_STATES:
            return state
        time.sleep(0.5)
    log.warning("Flink job %s still %s %.0f s after the cancel request", job_id, state, timeout)
    return state


class FlinkJob:
    """The Flink job of a run on a session cluster: found by its name, reported, cancelled by id."""

    def __init__(self, master: str, job_name: str):
        self.master, self.job_name = master, job_name
        self.job_id: str | None = None

    def find(self) -> None:
        self.job_id = find_job(self.master, self.job_name)
        if self.job_id:
            log.info("Flink job %s on %s: %s", self.job_id, self.master, self.web_ui())

    def web_ui(self) -> str:
        return f"{rest_url(self.master)}/#/job/running/{self.job_id}/overview"

    def cancel(self) -> None:
        if self.job_id:
            state = cancel_job(self.master, self.job_id)
            log.info("Flink job %s: %s", self.job_id, state)

    def summary(self) -> dict:
        return {"flink_job_id": self.job_id, "flink_web_ui": self.web_ui() if self.job_id else None}


def session_job(flags: RunnerFlags) -> FlinkJob | None:
    """The Flink job a run submits to a session cluster (after checking the cluster can take it), or None
    for other runners and an embedded Flink."""
    master = flags.flink_master
    if master is None or rest_url(master) is None:
        return None
    check_cluster(master, flags.options.view_as(FlinkRunnerOptions).flink_version)
    return FlinkJob(master, flags.options.view_as(GoogleCloudOptions).job_name)
