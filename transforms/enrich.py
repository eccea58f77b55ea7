"""Run a ModelHandler over Articles with RunInference, sending failures to dead letters.

Failures come two ways and both end as one dead letter per article: the handler marks an element
whose inference raised (``InferenceFailed``, after retrying its batch one by one), and RunInference's
own exception handling catches anything else a batch raised.
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from transforms import dead_letter as dl
from transforms.article import Article
from transforms.inference.handler import InferenceFailed


class EnrichWith(beam.PTransform):
    """Articles -> Articles updated by ``apply(article, inference)`` | dead letters (stage ``stage``)."""

    def __init__(self, handler: ModelHandler, stage: str, apply: Callable[[Article, object], Article]):
        super().__init__()
        self.handler, self.stage, self.apply = handler, stage, apply

    def expand(self, articles):
        results, failed = articles | "RunInference" >> RunInference(self.handler).with_exception_handling()
        merged = results | "Apply" >> beam.ParDo(_ApplyFn(self.stage, self.apply)).with_outputs(
            dl.DEAD_LETTER, main="articles"
        )
        batch_failures = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
            lambda batch_and_error, stage=self.stage: [
                dl.from_article(stage, batch_and_error[1], a) for a in batch_and_error[0]
            ]
        )
        dead = (merged[dl.DEAD_LETTER], batch_failures) | "DeadLetters" >> beam.Flatten()
        return {"articles": merged["articles"], dl.DEAD_LETTER: dead}


class _ApplyFn(beam.DoFn):
    def __init__(self, stage: str, apply):
        self.stage, self.apply = stage, apply

    def process(self, result: PredictionResult):
        article, inference = result.example, result.inference
        if isinstance(inference, InferenceFailed):
            yield dl.tagged(dl.from_article(self.stage, inference, article))
            return
        try:
            yield self.apply(article, inference)
        except Exception as e:  # noqa: BLE001 - a bad result is this article's dead letter
            yield dl.tagged(dl.from_article(self.stage, e, article))
