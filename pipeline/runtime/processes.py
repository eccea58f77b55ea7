"""The helper processes a run starts (a JVM for the Kafka expansion service, Beam's job server): waiting for
one to listen, and stopping it: SIGTERM first, so a process can shut down in order, and SIGKILL for one that
has not exited in time."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class StartFailed(RuntimeError):
    """A helper process exited at start or did not listen in time; the message is one line."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float, what: str, log_path: str) -> None:
    """Until ``proc`` (``what``, logging to ``log_path``) listens on ``port``; StartFailed if it exits first
    or does not listen within ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"{what} exited at start (rc {proc.returncode}); see {log_path}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise StartFailed(f"{what} did not listen on port {port} within {timeout:.0f} s; see {log_path}")


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
