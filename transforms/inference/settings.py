"""How the pipeline's models run, decided once: one frozen object handed to every ModelHandler (built
from the options by ``pipeline.config``), rather than a dozen keyword arguments threaded through the
graph, each handler, its base class and the engine."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Backend(str, enum.Enum):
    """The engine of the forward passes. A str, so a name compares equal to it ("torch")."""

    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"
    ONNXRUNTIME_INT8 = "onnxruntime-int8"

    def __str__(self) -> str:  # the name as a user writes it, in logs, help texts and f-strings
        return self.value


BACKENDS = tuple(b.value for b in Backend)
# The default engine, for the options and for handlers built without them (tests, benchmarks, notebooks).
# Per-article forward passes (transforms.ner.inference, transforms.topics.encoder) make int8's per-call
# activation ranges a function of the article alone, so records do not depend on batching; speed and
# quality against torch are in bench/RESULTS.md.
DEFAULT_BACKEND = Backend.ONNXRUNTIME_INT8


def backend_named(name: str) -> Backend:
    """The Backend called ``name``; a ValueError that lists the choices for any other name."""
    try:
        return Backend(name)
    except ValueError:
        raise ValueError(f"unknown inference backend {name!r} (choose from {', '.join(BACKENDS)})") from None


@dataclass(frozen=True)
class InferenceSettings:
    backend: Backend = DEFAULT_BACKEND
    model_threads: int = 0  # intra-op threads per forward pass (0: see ``concurrency``)
    article_threads: int = 0  # articles scored at once per worker (0: see ``concurrency``)
    device: str = "cpu"  # cpu | cuda | auto
    allow_download: bool = False  # hub ids may be fetched
    min_batch_size: int = 1  # articles per RunInference batch
    max_batch_size: int = 32

    def __post_init__(self) -> None:
        # a backend given by its name ("torch") becomes the Backend, and an unknown name fails here
        object.__setattr__(self, "backend", backend_named(self.backend))

    def concurrency(self, device: str, cores: int) -> tuple[int, int]:
        """(articles scored at once, intra-op threads per forward pass; 0: the backend's default) for a
        worker with ``cores`` cores and a resolved ``device``. Unset, the onnxruntime backends on a CPU
        run one article per core, each in single-threaded passes (faster than spreading one article's
        small passes over all cores: bench/RESULTS.md); torch, and any GPU, one article at a time with
        the backend's own threading. A set value wins; the other one then fills the cores."""
        if self.article_threads:
            return self.article_threads, self.model_threads or max(1, cores // self.article_threads)
        if self.backend != Backend.TORCH and device == "cpu":
            intra = self.model_threads or 1
            return max(1, cores // intra), intra
        return 1, self.model_threads

    def batch_kwargs(self) -> dict[str, Any]:
        """RunInference's batching arguments (``ModelHandler.__init__``'s keywords)."""
        return {"min_batch_size": self.min_batch_size, "max_batch_size": self.max_batch_size}
