"""The ModelHandler base of the pipeline's models: batches of Articles in, one result per Article out,
and a failing Article never takes its batch down."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from types import SimpleNamespace
from typing import Any, Literal

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.article import Article
from transforms.inference import loading
from transforms.inference.onnx_runtime import cached_export, file_key, onnx_session, with_backend
from transforms.inference.settings import Backend, InferenceSettings
from transforms.inference.threads import ArticleThreads, available_cores

log = logging.getLogger(__name__)


class InferenceFailed:
    """Marker result for one element whose inference raised (after the batch was retried one by one)."""

    def __init__(self, error: BaseException):
        self.error_type = type(error).__name__
        self.message = str(error) or repr(error)


def run_with_isolation(batch: Sequence, infer: Callable[[Sequence], Iterable]) -> list:
    """infer(batch) -> list; if the batch raises, retry element by element so that only the
    culprit fails (as InferenceFailed) and its neighbours still get results."""

    def checked(elements):
        results = list(infer(elements))
        if len(results) != len(elements):
            raise RuntimeError(f"model returned {len(results)} results for {len(elements)} inputs")
        return results

    try:
        return checked(batch)
    except Exception as batch_error:  # noqa: BLE001 - isolate below
        if len(batch) == 1:
            return [InferenceFailed(batch_error)]
        log.warning("batch of %d failed (%s); retrying one by one", len(batch), batch_error)
        results = []
        for element in batch:
            try:
                results.extend(checked([element]))
            except Exception as e:  # noqa: BLE001
                results.append(InferenceFailed(e))
        return results


class OnDevice:
    """A torch model moved to a GPU, called like the model on the CPU: inputs go to its device and the
    output tensors come back, so the forward-pass code (NER windows, encoder pooling, NLI softmax) and
    everything after it stay as they are. ``model.forward``'s signature stays visible (``__wrapped__``),
    as ``onnx_runtime.accepts_token_types`` reads it."""

    def __init__(self, model: Any, device: str):
        import torch

        self.model, self.config, self.device = model.to(device), model.config, torch.device(device)

        @functools.wraps(model.forward)
        def forward(**inputs):
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
            return SimpleNamespace(**{k: v.cpu() for k, v in out.items() if torch.is_tensor(v)})

        self.forward = forward

    def __call__(self, **inputs):
        return self.forward(**inputs)


# (model, safetensors file): puts the file's tensors over the model's parameters
TunedWeights = Callable[[Any, str | os.PathLike[str]], None]


class ArticleModelHandler(ModelHandler[Article, Any, Any]):
    """Subclasses implement ``load_model``, ``predict(model, articles) -> list`` (one result per article)
    and ``merge(article, result) -> Article`` (the article with its result in it), and name
    ``metrics_namespace`` and ``model_id``. ``run_inference`` retries a failing batch one article at a
    time, so only the culprit gets an ``InferenceFailed`` result (a dead letter). A model with
    ``for_thread()`` (a view of it for one thread) has a batch's articles scored concurrently instead, one
    ``predict`` call per article (``transforms.inference.threads``)."""

    metrics_namespace = "news_ingest"
    # this worker's article threads: None until the first batch decides, False for one at a time
    _threads: ArticleThreads | Literal[False] | None = None

    def __init__(self, settings: InferenceSettings | None = None):
        self.settings = settings or InferenceSettings()
        super().__init__(**self.settings.batch_kwargs())

    def load_engine(
        self,
        auto_class: str,
        name: str,
        output_name: str,
        tuned_weights: str | os.PathLike[str] | None = None,
        apply_tuned_weights: TunedWeights | None = None,
    ) -> Any:
        """The model ``name`` loaded with transformers' ``auto_class`` (its name, e.g. "AutoModel"), ready
        on the settings' backend (``engine``). ``tuned_weights``, a safetensors file, is put over the
        model's own parameters by ``apply_tuned_weights`` (given by the caller, which knows the file's
        format). With an onnxruntime backend and a model folder on this machine, the export is looked up
        by the folder's files first: a warm cache never loads the torch model, nor imports its class."""
        key = None
        if self.settings.backend != Backend.TORCH:
            files = loading.local_model_files(name, self.settings.allow_download)
            if files and (tuned_weights is None or os.path.exists(tuned_weights)):
                extra = [str(tuned_weights)] if tuned_weights else []
                key = file_key(
                    files + extra, auto_class, output_name, self.settings.backend == Backend.ONNXRUNTIME_INT8
                )
                found = cached_export(key)
                if found:
                    config = loading.plain_config(os.path.dirname(files[0]))
                    return self.engine(None, output_name, exported=(found, config))
        import transformers

        model = loading.load_model(getattr(transformers, auto_class), name, self.settings.allow_download)
        if tuned_weights is not None:
            if apply_tuned_weights is None:
                raise ValueError(f"tuned weights {tuned_weights} given without the function that applies them")
            apply_tuned_weights(model, tuned_weights)
        return self.engine(model, output_name, key=key)

    def engine(
        self,
        model: Any,
        output_name: str,
        key: str | None = None,
        exported: tuple[tuple[str, list[str]], Any] | None = None,
    ) -> Any:
        """The loaded torch model (on the settings' device), or its ONNX Runtime export (see
        ``transforms.inference.onnx_runtime``; cached under ``key`` when given, or the already cached ``exported``
        one; CUDA execution provider for a cuda device when onnxruntime has it), with the settings'
        intra-op threads (``InferenceSettings.concurrency``). torch's setting is per process, so every
        handler sets it: a topic handler alone must not depend on the NER handler having run first."""
        s = self.settings
        device = loading.torch_device(s.device)
        _, intra = s.concurrency(device, available_cores())
        if intra:
            # torch also runs the small tensor work around every backend's passes (pooling, exemplar
            # similarities): with the other backends' threads, its own pool would only spin beside them
            import torch

            torch.set_num_threads(intra)
        if exported is not None:  # ((path, input names), config) of a cached export
            (path, names), config = exported
            return onnx_session(path, names, config, output_name, intra, cuda=device == "cuda")
        if s.backend == Backend.TORCH:
            return model if device == "cpu" else OnDevice(model, device)
        return with_backend(model, s.backend, output_name, intra, cuda=device == "cuda", key=key)

    def article_threads(self, model: Any) -> ArticleThreads | None:
        """The pool that scores this worker's articles concurrently (``InferenceSettings.concurrency``),
        or None: one article thread, or a model without per-thread views (``for_thread``)."""
        if not hasattr(model, "for_thread"):
            return None
        if self._threads is None:
            n, _ = self.settings.concurrency(loading.torch_device(self.settings.device), available_cores())
            self._threads = ArticleThreads(n) if n > 1 else False
        return self._threads or None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_threads", None)  # threads stay in the process that started them
        return state

    @property
    def model_id(self) -> str:
        return type(self).__name__

    def predict(self, model: Any, articles: Sequence[Article]) -> list:
        raise NotImplementedError

    def merge(self, article: Article, prediction: Any) -> Article:
        """``article`` with this model's ``prediction`` for it (a result of ``predict``) put in."""
        raise NotImplementedError

    def run_inference(
        self, batch: Sequence[Article], model, inference_args: dict | None = None
    ) -> Iterable[PredictionResult]:
        batch = list(batch)
        pool = self.article_threads(model)
        if pool is None:
            results = run_with_isolation(batch, lambda articles: self.predict(model, articles))
        else:
            results = pool.map(model, self._predict_one, batch, cost=self.article_chars)
        return [PredictionResult(a, r, self.model_id) for a, r in zip(batch, results)]

    def _predict_one(self, model, article: Article):
        """One article's result, or its InferenceFailed (concurrent articles fail alone by construction)."""
        try:
            results = list(self.predict(model, [article]))
            if len(results) != 1:
                raise RuntimeError(f"model returned {len(results)} results for 1 input")
            return results[0]
        except Exception as e:  # noqa: BLE001 - this article's dead letter
            return InferenceFailed(e)

    @staticmethod
    def article_chars(article: Article) -> int:
        return len(article.text) + len(article.title)

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(map(self.article_chars, batch))

    def get_metrics_namespace(self) -> str:
        return self.metrics_namespace
