"""How the pipeline's models run, decided once: one frozen object built from the options
(``InferenceSettings.from_options``) and handed to every ModelHandler, instead of a dozen keyword
arguments threaded through the graph, each handler, its base class and the engine."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.ner.encoding import STRIDE_TOKENS, WINDOW_TOKENS

# Defaults shared by the options and by handlers built without options (tests, benchmarks, notebooks).
# onnxruntime-int8 is the default engine: per-article forward passes (see ner_inference,
# topic_embedding) make its per-call activation ranges a function of the article alone, so records do
# not depend on batching; speed and quality against torch are in bench/RESULTS.md.
DEFAULT_BACKEND = "onnxruntime-int8"
MAX_NER_CHARS = 100_000  # characters of an article's text NER reads: bounds what one huge article costs


@dataclass(frozen=True)
class InferenceSettings:
    backend: str = DEFAULT_BACKEND  # torch | onnxruntime | onnxruntime-int8
    threads: int = 0  # intra-op threads per forward pass (0: see ``concurrency``)
    article_threads: int = 0  # articles scored at once per worker (0: see ``concurrency``)
    device: str = "cpu"  # cpu | cuda | auto
    allow_download: bool = False  # hub ids may be fetched
    min_batch_size: int = 1  # articles per RunInference batch
    max_batch_size: int = 32
    ner_window: int = WINDOW_TOKENS  # NER window length in tokens
    ner_stride: int = STRIDE_TOKENS  # tokens shared by neighbouring NER windows
    max_ner_chars: int = MAX_NER_CHARS  # 0: no limit

    @classmethod
    def from_options(cls, opts) -> InferenceSettings:
        """From NewsIngestOptions (or anything with the same attribute names)."""
        return cls(
            backend=opts.inference_backend,
            threads=opts.torch_threads,
            article_threads=opts.article_threads,
            device=opts.device,
            allow_download=opts.allow_download,
            # Beam's adaptive batching otherwise settles on ~5 articles; the topic encoder is faster
            # on 16 (bench/RESULTS.md).
            min_batch_size=max(1, min(opts.min_batch_size, opts.batch_size)),
            max_batch_size=opts.batch_size,
            ner_window=opts.ner_window,
            ner_stride=opts.ner_stride,
            max_ner_chars=opts.max_ner_chars,
        )

    def concurrency(self, device: str, cores: int) -> tuple[int, int]:
        """(articles scored at once, intra-op threads per forward pass; 0: the backend's default) for a
        worker with ``cores`` cores and a resolved ``device``. Unset, the onnxruntime backends on a CPU
        run one article per core, each in single-threaded passes (faster than spreading one article's
        small passes over all cores: bench/RESULTS.md); torch, and any GPU, one article at a time with
        the backend's own threading. A set value wins; the other one then fills the cores."""
        if self.article_threads:
            return self.article_threads, self.threads or max(1, cores // self.article_threads)
        if self.backend != "torch" and device == "cpu":
            intra = self.threads or 1
            return max(1, cores // intra), intra
        return 1, self.threads

    def batch_kwargs(self) -> dict:
        return {"min_batch_size": self.min_batch_size, "max_batch_size": self.max_batch_size}
