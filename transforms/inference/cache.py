"""Folders kept on a machine between runs (model copies, ONNX exports), published whole.

A folder is filled under a private name next to its final one and renamed into place, so concurrent
workers never read half of it; the first rename wins and a worker that loses it uses the winner's
folder. A cache that cannot be written to only means working in a temporary folder."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable

PARTIAL_PREFIX = ".partial-"
log = logging.getLogger(__name__)


def remove_stale_partials(root: str, older_than_s: float = 86400) -> None:
    """Folders of copies or exports that were interrupted (a killed worker) more than a day ago."""
    for entry in os.scandir(root):
        if entry.name.startswith(PARTIAL_PREFIX) and time.time() - entry.stat().st_mtime > older_than_s:
            shutil.rmtree(entry.path, ignore_errors=True)


def filled(folder: str, fill: Callable[[str], object]) -> str:
    """``folder`` after ``fill(folder)``; removed again if filling it fails."""
    try:
        fill(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def publish(root: str, name: str, fill: Callable[[str], object], temp_prefix: str) -> str:
    """The folder ``root/name`` after ``fill(work)`` has written its files into a private folder that is
    then renamed to it; where ``root`` is not writable, a temporary folder (``temp_prefix``) filled
    instead. ``fill``'s errors propagate, its partial folder removed."""
    folder = os.path.join(root, name)
    try:
        os.makedirs(root, exist_ok=True)
        remove_stale_partials(root)
        work = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root)
    except OSError as e:
        log.warning("cache %s not writable (%s); writing %s to a temporary folder instead", root, e, name)
        return filled(tempfile.mkdtemp(prefix=temp_prefix), fill)
    filled(work, fill)
    try:
        os.rename(work, folder)
    except OSError:  # another worker published the same folder first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    return folder
