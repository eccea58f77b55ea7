"""Run a ModelHandler over Articles with RunInference, sending failures to dead letters.

Failures come two ways and both end as one dead letter per article: the handler marks an element
whose inference raised (``InferenceFailed``, after retrying its batch one by one), and RunInference's
own exception handling catches anything else a batch raised.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult, RunInference

from transforms import dead_letter as dl
from transforms.inference.handler import ArticleModelHandler, InferenceFailed


class EnrichWith(beam.PTransform):
    """Articles -> Articles with their result put in by ``handler.merge(article, result)`` | dead
    letters (stage ``stage``)."""

    def __init__(self, handler: ArticleModelHandler, stage: str):
        super().__init__()
        self.handler, self.stage = handler, stage

    def expand(self, articles):
        results, failed = articles | "RunInference" >> RunInference(self.handler).with_exception_handling()
        merged = results | "Apply" >> beam.ParDo(_MergeFn(self.stage, self.handler)).with_outputs(
            dl.DEAD_LETTER, main="articles"
        )
        batch_failures = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
            lambda batch_and_error, stage=self.stage: [
                dl.from_article(stage, batch_and_error[1], a) for a in batch_and_error[0]
            ]
        )
        dead = (merged[dl.DEAD_LETTER], batch_failures) | "DeadLetters" >> beam.Flatten()
        return {"articles": merged["articles"], dl.DEAD_LETTER: dead}


class _MergeFn(beam.DoFn):
    def __init__(self, stage: str, handler: ArticleModelHandler):
        self.stage, self.handler = stage, handler

    def process(self, result: PredictionResult):
        article, inference = result.example, result.inference
        if isinstance(inference, InferenceFailed):
            yield dl.tagged(dl.from_article(self.stage, inference, article))
            return
        try:
            yield self.handler.merge(article, inference)
        except Exception as e:  # noqa: BLE001 - a bad result is this article's dead letter
            yield dl.tagged(dl.from_article(self.stage, e, article))
