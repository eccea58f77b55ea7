"""Waiting for a job the CLI started: until it is done, or, streaming, until Ctrl-C / SIGTERM or a time
limit cancels it; and what a job left running on a remote service reports."""

from __future__ import annotations

import logging
import signal

from apache_beam.runners.runner import PipelineResult, PipelineState

from pipeline.runtime.flink import FlinkJob

log = logging.getLogger(__name__)

# How a run ended: the job finished; Ctrl-C / SIGTERM cancelled it; its time limit did; or it runs on
# the remote service it was submitted to.
DONE, STOPPED, MAX_RUNTIME, SUBMITTED = "done", "stopped", "max-runtime", "submitted"


class _Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM while a streaming job runs."""


def _raise_stop(signum, _frame):
    raise _Stop(signal.Signals(signum).name)


def run_until_done_or_stopped(
    result: PipelineResult, streaming: bool, stop_after: float = 0, job: FlinkJob | None = None
) -> str:
    """Waits for the job. A streaming job is cancelled on Ctrl-C / SIGTERM (a clean stop, exit 0), or
    after ``stop_after`` seconds when its source never ends by itself (Kafka). Windows already written
    stay; input whose output was not written yet is read again by the next run (files: the watch
    re-reads the folder; Kafka: offsets are committed only after the output exists)."""
    if not streaming:
        result.wait_until_finish()
        return DONE
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result.wait_until_finish(duration=int(stop_after * 1000) if stop_after > 0 else None)
        if not PipelineState.is_terminal(result.state):
            log.info("--max-runtime reached: stopping the streaming job")
            cancel(result, job)
            return MAX_RUNTIME
        return DONE
    except _Stop as stop:
        log.info("%s: stopping the streaming job", stop)
        cancel(result, job)
        return STOPPED
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cancel(result: PipelineResult, job: FlinkJob | None = None) -> None:
    try:
        result.cancel()
    except Exception as e:  # noqa: BLE001 - a runner that cannot cancel is stopped by our exit
        log.warning("could not cancel the job cleanly: %s", e)
    if job is not None:  # Beam's cancel leaves the job running on a Flink session cluster
        job.cancel()


def job_status(result: PipelineResult) -> dict:
    """Job id and state of a job left running on a remote service (none for a dry run)."""
    status = {}
    try:
        status["job_id"] = result.job_id()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - dry runs and some runners have no job
        status["job_id"] = None
    try:
        status["state"] = str(result.state)
    except Exception:  # noqa: BLE001
        status["state"] = None
    return status
