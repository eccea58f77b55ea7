"""Several articles of a batch scored at once, on threads that share one loaded model.

Every article still runs in forward passes of its own (its record never depends on the articles around
it); what runs concurrently is whole articles. ONNX Runtime releases the GIL inside ``session.run``,
and a session with one intra-op thread runs on the calling thread, so N such calls use N cores with no
synchronisation inside an operator. For the small per-article passes of this pipeline that beats one
call at a time spread over N intra-op threads (measured: bench/RESULTS.md).

Each thread works on its own *view* of the model (``model.for_thread()``): the same session and
weights, but its own Hugging Face tokenizer, because a fast tokenizer keeps its truncation settings as
mutable Rust state and fails ("Already borrowed") when two threads call it at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class ArticleThreads:
    """A pool of ``threads`` threads; ``map(model, fn, items)`` calls ``fn(view, item)`` for every item,
    ``view`` being the calling thread's own view of ``model``, and returns the results in order."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="news-ingest-articles")
        self._local = threading.local()

    def view(self, model):
        views = self._local.__dict__.setdefault("views", {})
        if id(model) not in views:
            views.clear()  # a reloaded model replaces the old one's view
            views[id(model)] = (model, model.for_thread())  # the model kept alive: its id stays unique
        return views[id(model)][1]

    def map(self, model, fn: Callable, items: Sequence, cost: Callable | None = None) -> list:
        """Results in the order of ``items``. With ``cost`` (an item's expected work), the costliest items
        are started first: the threads then finish a batch close together instead of one thread
        running a long article alone at the end (longest-processing-time-first scheduling)."""
        order = list(range(len(items)))
        if cost is not None:
            order.sort(key=lambda i: cost(items[i]), reverse=True)
        futures = {i: self._pool.submit(lambda item: fn(self.view(model), item), items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]
