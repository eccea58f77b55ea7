"""The ModelHandler base of the pipeline's models: batches of Articles in, one result per Article out,
and a failing Article never takes its batch down."""
from __future__ import annotations

import functools
import logging
from types import SimpleNamespace
from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.article import Article
from transforms.inference_settings import InferenceSettings
from transforms.model_loading import check_remote, torch_device
from transforms.onnx_backend import with_backend

log = logging.getLogger(__name__)


class InferenceFailed:
    """Marker result for one element whose inference raised (after the batch was retried one by one)."""

    def __init__(self, error: BaseException):
        self.error_type = type(error).__name__
        self.message = str(error) or repr(error)


def run_with_isolation(batch: Sequence, infer) -> list:
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
    as ``ner_inference.accepts_token_types`` reads it."""

    def __init__(self, model, device: str):
        import torch

        self.model, self.config, self.device = model.to(device), model.config, torch.device(device)

        @functools.wraps(model.forward)
        def forward(**inputs):
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
            return SimpleNamespace(**{k: v.cpu() for k, v in out.items() if torch.is_tensor(v)})

        self.forward = forward

    def __call__(self, **inputs):
        return self.forward(**inputs)


class ArticleModelHandler(ModelHandler[Article, Any, Any]):
    """Subclasses implement ``load_model`` and ``predict(model, articles) -> list`` (one result per
    article) and name ``metrics_namespace`` and ``model_id``. ``run_inference`` retries a failing batch
    one article at a time, so only the culprit gets an ``InferenceFailed`` result (a dead letter)."""

    metrics_namespace = "news_ingest"

    def __init__(self, settings: Optional[InferenceSettings] = None):
        self.settings = settings or InferenceSettings()
        super().__init__(**self.settings.batch_kwargs())

    def engine(self, model, output_name: str):
        """The loaded torch model (on the settings' device), or its ONNX Runtime export (see
        ``transforms.onnx_backend``; CUDA execution provider for a cuda device when onnxruntime has it), with
        the settings' intra-op threads (0: the backend's default). torch's setting is per process, so every
        handler sets it: a topic handler alone must not depend on the NER handler having run first."""
        s = self.settings
        device = torch_device(s.device)
        if s.backend == "torch":
            if s.threads:
                import torch

                torch.set_num_threads(s.threads)
            return model if device == "cpu" else OnDevice(model, device)
        return with_backend(model, s.backend, output_name, s.threads, cuda=device == "cuda")

    @property
    def model_id(self) -> str:
        return type(self).__name__

    def predict(self, model, articles: Sequence[Article]) -> list:
        raise NotImplementedError

    def run_inference(
        self, batch: Sequence[Article], model, inference_args: Optional[dict] = None
    ) -> Iterable[PredictionResult]:
        batch = list(batch)
        results = run_with_isolation(batch, lambda articles: self.predict(model, articles))
        return [PredictionResult(a, r, self.model_id) for a, r in zip(batch, results)]

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(a.text) + len(a.title) for a in batch)

    def get_metrics_namespace(self) -> str:
        return self.metrics_namespace


class TopicModelHandler(ArticleModelHandler):
    """Base of the zero-shot topic backends: a taxonomy, a model name (None: the backend's default)
    and ``model.score(articles) -> list[TopicResult]``. ``model_id`` is what records carry as
    ``provenance.topic_model``."""

    backend = "topics"
    default_model_label = ""

    def __init__(self, taxonomy, model_name: Optional[str] = None, settings: Optional[InferenceSettings] = None):
        super().__init__(settings)
        self.taxonomy = taxonomy
        self.model_name = model_name
        self.allow_download = self.settings.allow_download
        check_remote(model_name)

    @property
    def model_id(self) -> str:
        from transforms.model_loading import model_label

        return f"{self.backend}:{model_label(self.model_name) if self.model_name else self.default_model_label}"

    def predict(self, model, articles: Sequence[Article]) -> list:
        return model.score(list(articles))
