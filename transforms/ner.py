"""NER as a Beam ModelHandler: Article -> word-level entity mentions in title and text."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.article import Article, Entity
from transforms.model_loading import load_model, load_tokenizer, model_label

DEFAULT_NER_MODEL = str(Path(__file__).resolve().parent.parent / "models" / "ner-minilm-conll03")
log = logging.getLogger(__name__)


@dataclass
class NerModel:
    model: Any
    tokenizer: Any
    max_length: int
    stride: int

    def entities(self, articles: Sequence[Article]) -> list[list[Entity]]:
        from transforms.ner_inference import predict_entities

        texts = [a.title for a in articles] + [a.text for a in articles]
        spans = predict_entities(self.model, self.tokenizer, texts, max_length=self.max_length, stride=self.stride)
        n = len(articles)
        out = []
        for i, a in enumerate(articles):
            ents = [Entity("title", s.start, s.end, a.title[s.start:s.end], s.label, s.score) for s in spans[i]]
            ents += [Entity("text", s.start, s.end, a.text[s.start:s.end], s.label, s.score) for s in spans[n + i]]
            out.append(ents)
        return out


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


class NerModelHandler(ModelHandler[Article, list, NerModel]):
    """Loads a Hugging Face token-classification model once per worker and tags batches of articles.

    ``model_name``: a local model directory (default: the embedded model) or a hub id (fetched only with
    ``allow_download``). Long texts are split into windows of ``max_length`` tokens with ``stride``
    tokens of overlap (the embedded model is trained on windows of 128 tokens, so that is the
    default); windows of a batch are sorted by length before the forward pass.
    """

    def __init__(
        self,
        model_name: Optional[str] = None,
        *,
        allow_download: bool = False,
        max_length: int = 128,
        stride: int = 32,
        min_batch_size: int = 1,
        max_batch_size: int = 32,
        torch_threads: int = 0,
    ):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model_name = model_name or DEFAULT_NER_MODEL
        self.allow_download = allow_download
        self.max_length = max_length
        self.stride = stride
        self.torch_threads = torch_threads

    def load_model(self) -> NerModel:
        from transformers import AutoModelForTokenClassification

        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        tokenizer = load_tokenizer(self.model_name, self.allow_download)
        model = load_model(AutoModelForTokenClassification, self.model_name, self.allow_download)
        window = min(self.max_length, getattr(model.config, "max_position_embeddings", 512))
        return NerModel(model, tokenizer, window, min(self.stride, window // 2))

    def run_inference(
        self, batch: Sequence[Article], model: NerModel, inference_args: Optional[dict] = None
    ) -> Iterable[PredictionResult]:
        results = run_with_isolation(batch, model.entities)
        return [PredictionResult(a, r, self.model_label) for a, r in zip(batch, results)]

    @property
    def model_label(self) -> str:
        return model_label(self.model_name)

    def get_metrics_namespace(self) -> str:
        return "news_ingest_ner"

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(a.text) + len(a.title) for a in batch)
