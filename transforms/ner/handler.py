"""NER as a Beam ModelHandler: Article -> word-level entity mentions in title and text."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transforms.article import Article, Entity
from transforms.inference.handler import ArticleModelHandler
from transforms.inference.loading import check_remote, load_tokenizer, model_label
from transforms.inference.settings import MAX_NER_CHARS, InferenceSettings

DEFAULT_NER_MODEL = str(Path(__file__).resolve().parents[2] / "models" / "ner-minilm-conll03")


def ner_text_end(text: str, max_chars: int) -> int:
    """Where NER stops reading ``text``: its end, or the last whitespace at or before ``max_chars``
    (``max_chars`` itself when the text has no whitespace near it), so no word is cut in two."""
    if max_chars <= 0 or len(text) <= max_chars:
        return len(text)
    space = max(text.rfind(" ", 0, max_chars + 1), text.rfind("\n", 0, max_chars + 1))
    return space if space > max_chars // 2 else max_chars


@dataclass
class NerModel:
    model: Any
    tokenizer: Any
    max_length: int
    stride: int
    max_chars: int = MAX_NER_CHARS

    def for_thread(self) -> NerModel:
        """The same model with a tokenizer of its own, for one of several concurrent threads."""
        return dataclasses.replace(self, tokenizer=copy.deepcopy(self.tokenizer))

    def entities(self, articles: Sequence[Article]) -> list[list[Entity]]:
        from transforms.ner.inference import predict_entities

        texts = [a.title for a in articles] + [a.text[: ner_text_end(a.text, self.max_chars)] for a in articles]
        n = len(articles)
        # an article's title and text share forward passes, never with another article's windows
        spans = predict_entities(
            self.model, self.tokenizer, texts, max_length=self.max_length, stride=self.stride, groups=list(range(n)) * 2
        )
        out = []
        for i, a in enumerate(articles):
            ents = [Entity("title", s.start, s.end, a.title[s.start : s.end], s.label, s.score) for s in spans[i]]
            ents += [Entity("text", s.start, s.end, a.text[s.start : s.end], s.label, s.score) for s in spans[n + i]]
            out.append(ents)
        return out


class NerModelHandler(ArticleModelHandler):
    """Loads a Hugging Face token-classification model once per worker and tags batches of articles.

    ``model_name``: a local model directory (default: the embedded model) or a hub id (fetched only with
    ``settings.allow_download``). NER reads at most ``settings.max_ner_chars`` characters of an article's
    text (``ner_text_end``; 0: all). Long texts are split into windows of ``settings.ner_window`` tokens
    with ``settings.ner_stride`` tokens of overlap (the embedded model is trained on windows of 128 tokens,
    so that is the default); an article's windows are never batched with another article's.
    """

    def __init__(self, model_name: str | None = None, settings: InferenceSettings | None = None):
        super().__init__(settings)
        self.model_name = model_name or DEFAULT_NER_MODEL
        check_remote(self.model_name)
        self.allow_download = self.settings.allow_download
        self.max_length = self.settings.ner_window
        self.stride = self.settings.ner_stride
        self.max_chars = self.settings.max_ner_chars

    def load_model(self) -> NerModel:
        tokenizer = load_tokenizer(self.model_name, self.allow_download)
        model = self.load_engine("AutoModelForTokenClassification", self.model_name, "logits")
        window = min(self.max_length, getattr(model.config, "max_position_embeddings", 512))
        return NerModel(model, tokenizer, window, min(self.stride, window // 2), self.max_chars)

    metrics_namespace = "news_ingest_ner"

    def predict(self, model: NerModel, articles: Sequence[Article]) -> list[list[Entity]]:
        return model.entities(articles)

    @property
    def model_id(self) -> str:
        return model_label(self.model_name)
