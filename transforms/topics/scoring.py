"""The one scorer of the topic models: features -> calibrated probability per topic -> thresholds."""

from __future__ import annotations

from collections.abc import Sequence

from transforms.article import Article
from transforms.topics.result import TopicResult
from transforms.topics.taxonomy import Calibration, Taxonomy


class CalibratedTopicModel:
    """Base of the topic models. A subclass sets ``taxonomy``, ``calibrations`` (one per taxonomy
    topic, in taxonomy order) and implements ``features(articles)``: per article, topic id -> raw
    features of the model's ``method``. ``score`` turns them into a ``TopicResult`` per article."""

    method = ""
    taxonomy: Taxonomy
    calibrations: list[Calibration]

    def features(self, articles: Sequence[Article]) -> list[dict[str, dict[str, float]]]:
        raise NotImplementedError

    def score(self, articles: Sequence[Article]) -> list[TopicResult]:
        thresholds = self.taxonomy.thresholds
        results = []
        for feats in self.features(articles):
            scores = {t.id: cal.probability(feats[t.id]) for t, cal in zip(self.taxonomy.topics, self.calibrations)}
            results.append(TopicResult.from_scores(scores, thresholds))
        return results
