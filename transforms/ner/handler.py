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
from transforms.inference.settings import InferenceSettings
from transforms.ner.agreement import agreed_types
from transforms.ner.encoding import STRIDE_TOKENS, WINDOW_TOKENS
from transforms.ner.inference import predict_entities
from transforms.text import word_boundary_end

DEFAULT_NER_MODEL = str(Path(__file__).resolve().parents[2] / "models" / "ner-minilm-conll03")
MAX_NER_CHARS = 100_000  # characters of an article's text NER reads: bounds what one huge article costs


@dataclass(frozen=True)
class NerSettings:
    """How NER reads an article (``--ner-window``, ``--ner-stride``, ``--max-ner-chars``)."""

    window_tokens: int = WINDOW_TOKENS  # tokens per model window; longer texts are split into several
    stride_tokens: int = STRIDE_TOKENS  # tokens shared by neighbouring windows
    max_chars: int = MAX_NER_CHARS  # characters of an article's text NER reads, cut at a word (0: all)


@dataclass
class NerModel:
    """A loaded NER model with the windows it reads: ``window_tokens`` is the settings' window, at most
    the model's ``max_position_embeddings``; ``stride_tokens`` at most half of it."""

    model: Any
    tokenizer: Any
    window_tokens: int
    stride_tokens: int
    max_chars: int = MAX_NER_CHARS

    def for_thread(self) -> NerModel:
        """The same model with a tokenizer of its own, for one of several concurrent threads."""
        return dataclasses.replace(self, tokenizer=copy.deepcopy(self.tokenizer))

    def entities(self, articles: Sequence[Article]) -> list[list[Entity]]:
        texts = [a.title for a in articles] + [a.text[: word_boundary_end(a.text, self.max_chars)] for a in articles]
        n = len(articles)
        # an article's title and text share forward passes, never with another article's windows
        spans = predict_entities(
            self.model,
            self.tokenizer,
            texts,
            max_length=self.window_tokens,
            stride=self.stride_tokens,
            groups=list(range(n)) * 2,
        )
        out = []
        for i, a in enumerate(articles):
            ents = [Entity("title", s.start, s.end, a.title[s.start : s.end], s.label, s.score) for s in spans[i]]
            ents += [Entity("text", s.start, s.end, a.text[s.start : s.end], s.label, s.score) for s in spans[n + i]]
            out.append(agreed_types(ents))
        return out


class NerModelHandler(ArticleModelHandler):
    """Loads a Hugging Face token-classification model once per worker and tags batches of articles.

    ``model_name``: a local model directory (default: the embedded model) or a hub id (fetched only with
    ``settings.allow_download``). ``ner`` says how an article is read: at most ``ner.max_chars``
    characters of its text (cut at a word: ``transforms.text.word_boundary_end``; 0: all), in windows of
    ``ner.window_tokens`` tokens with ``ner.stride_tokens`` tokens of overlap (the embedded model is
    trained on windows of 128 tokens, so that is the default); an article's windows are never batched
    with another article's. ``merge`` records where the text was cut (``Article.ner_truncated_at``).
    """

    metrics_namespace = "news_ingest_ner"

    def __init__(
        self, model_name: str | None = None, settings: InferenceSettings | None = None, ner: NerSettings | None = None
    ):
        super().__init__(settings)
        self.model_name = model_name or DEFAULT_NER_MODEL
        check_remote(self.model_name)
        self.allow_download = self.settings.allow_download
        self.ner = ner or NerSettings()

    def load_model(self) -> NerModel:
        tokenizer = load_tokenizer(self.model_name, self.allow_download)
        model = self.load_engine("AutoModelForTokenClassification", self.model_name, "logits")
        window = min(self.ner.window_tokens, getattr(model.config, "max_position_embeddings", 512))
        return NerModel(model, tokenizer, window, min(self.ner.stride_tokens, window // 2), self.ner.max_chars)

    def predict(self, model: NerModel, articles: Sequence[Article]) -> list[list[Entity]]:
        return model.entities(articles)

    def merge(self, article: Article, prediction: list[Entity]) -> Article:
        """The article with its entities, and where NER stopped reading its text (None: all of it)."""
        end = word_boundary_end(article.text, self.ner.max_chars)
        return dataclasses.replace(
            article, entities=prediction, ner_truncated_at=end if end < len(article.text) else None
        )

    @property
    def model_id(self) -> str:
        return model_label(self.model_name)
