"""Stopping the helper processes a run starts (a JVM for the Kafka expansion service, Beam's job server):
SIGTERM first, so a process can shut down in order, and SIGKILL for one that has not exited in time."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _children_running(needle: str) -> list[int]:
    mine = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] != mine:
                continue
            if needle in (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _exited(pid: int, deadline: float) -> bool:
    """Waits for the child ``pid`` until ``deadline`` (a time.time()); True once it has exited."""
    while time.time() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already, or not ours
            return True
        if done:
            return True
        time.sleep(0.1)
    return False


def stop_children_running(needle: str, timeout: float = 15) -> list[int]:
    """Stops this process's children whose command line contains ``needle`` (e.g. a jar path): Beam starts
    its job server JVM as a child and, when its own cleanup fails, leaves it running after the job. All of
    them get SIGTERM at once and share the ``timeout``."""
    pids = _children_running(needle)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    for pid in pids:
        if not _exited(pid, deadline):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    if pids:
        log.info("stopped %d leftover process(es) running %s", len(pids), needle)
    return pids
