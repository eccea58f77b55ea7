"""The ModelHandler base of the topic models: Article -> TopicResult, merged into the Article."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from transforms.article import Article
from transforms.inference.handler import ArticleModelHandler
from transforms.inference.loading import check_remote, model_label
from transforms.inference.settings import InferenceSettings
from transforms.topics.result import TopicResult
from transforms.topics.taxonomy import Taxonomy


class TopicModelHandler(ArticleModelHandler):
    """Base of the topic model handlers: a taxonomy, a model name (None: the method's default) and
    ``model.score(articles) -> list[TopicResult]``. ``model_id`` ("<method>:<model>") is what records
    carry as ``provenance.topic_model``."""

    method = "topics"  # the topic method, "embedding" or "nli" (the engine is settings.backend)
    default_model_label = ""

    def __init__(self, taxonomy: Taxonomy, model_name: str | None = None, settings: InferenceSettings | None = None):
        super().__init__(settings)
        self.taxonomy = taxonomy
        self.model_name = model_name
        self.allow_download = self.settings.allow_download
        check_remote(model_name)

    @property
    def model_id(self) -> str:
        return f"{self.method}:{model_label(self.model_name) if self.model_name else self.default_model_label}"

    def predict(self, model, articles: Sequence[Article]) -> list:
        return model.score(list(articles))

    def merge(self, article: Article, prediction: TopicResult) -> Article:
        return dataclasses.replace(article, topic_scores=dict(prediction.scores), topic_labels=list(prediction.labels))
