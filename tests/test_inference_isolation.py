"""One bad element inside a model batch must not take the batch down.

A real NER model (the tiny test model) is wrapped so that it raises whenever its batch holds an
article with a marker string; the real graph (``pipeline.graph.build``) runs a batch of good articles
with one culprit. Only the culprit may become a dead letter (stage ``ner``, with the model's error);
its batch neighbours must come out as records.
"""

from __future__ import annotations

import dataclasses
import json

import apache_beam as beam
import pytest
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to, is_empty
from conftest import read_avro
from fastavro.validation import validate

import schemas
from pipeline import graph
from pipeline.config import RunConfig
from pipeline.options import NewsIngestOptions
from transforms import dead_letter as dl
from transforms.article import Article, RawUnit
from transforms.enrich import EnrichWith
from transforms.inference.handler import InferenceFailed, run_with_isolation
from transforms.inference.settings import InferenceSettings
from transforms.ner.handler import NerModelHandler

MARKER = "XX-POISON-XX"
ERROR = "poisoned article: the model cannot handle the marker"
N_GOOD = 7


class PoisonedNer:
    """Delegates to a real NerModel; raises for any batch that holds the marker; logs every call."""

    def __init__(self, real, log_path: str):
        self.real, self.log_path = real, log_path

    def entities(self, articles):
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps([a.id for a in articles]) + "\n")
        if any(MARKER in a.text for a in articles):
            raise ValueError(ERROR)
        return self.real.entities(articles)


class PoisonedNerHandler(NerModelHandler):
    log_path = ""  # set per test (class attribute: graph.build constructs the handler itself)

    def __init__(self, model_name=None, settings=None, ner=None):
        # min = max batch size: every batch of a bundle is as large as it can be (culprit + neighbours)
        settings = settings or InferenceSettings()
        super().__init__(model_name, dataclasses.replace(settings, min_batch_size=settings.max_batch_size), ner)
        self.log = PoisonedNerHandler.log_path

    def load_model(self):
        return PoisonedNer(super().load_model(), self.log)


def _units() -> list[RawUnit]:
    lines = [
        {"id": f"good-{i}", "text": f"Officials in Kyiv met delegation number {i} on Tuesday."} for i in range(N_GOOD)
    ]
    lines.insert(3, {"id": "culprit", "text": f"This article carries the marker {MARKER} in its text."})
    return [RawUnit("batch.jsonl", i + 1, json.dumps(d).encode(), "jsonl") for i, d in enumerate(lines)]


def test_one_bad_element_does_not_take_the_batch_down(tmp_path, tiny_ner, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setattr(PoisonedNerHandler, "log_path", str(log))
    monkeypatch.setattr(graph, "NerModelHandler", PoisonedNerHandler)
    out = tmp_path / "out"
    n = N_GOOD + 1
    opts = PipelineOptions(
        ["--output", str(out), "--ner-model", str(tiny_ner), "--batch-size", str(n), "--num-shards", "1"]
    ).view_as(NewsIngestOptions)
    with beam.Pipeline(runner=FnApiRunner(), options=opts) as p:
        graph.build(p, RunConfig.from_options(opts), units=p | beam.Create(_units()))
    records = read_avro(str(out / "articles-*.avro"))
    dead = read_avro(str(out / "deadletter-*.avro"))

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    full = [c for c in calls if "culprit" in c and len(c) > 1]
    assert full, f"the culprit never shared a batch with good articles: {calls}"
    assert ["culprit"] in calls  # the failed batch was retried one by one

    assert sorted(r["id"] for r in records) == sorted(f"good-{i}" for i in range(N_GOOD))
    assert len(dead) == 1
    (d,) = dead
    assert d["stage"] == dl.NER and d["article_id"] == "culprit" and d["source_line"] == 4
    assert ERROR in d["error_message"] and d["error_type"] == "ValueError"
    assert MARKER.encode() in d["raw"] and d["raw_truncated"] is False
    for r in records:  # the neighbours got the real model's output (offsets into their text)
        for e in r["entities"]:
            assert r[e["field"]][e["start"] : e["end"]] == e["text"]


def test_ner_dead_letter_names_the_models_exception_type():
    article = Article(id="x", title="", text="t", raw=b"{}", source_file="f", source_line=1)
    from apache_beam.ml.inference.base import PredictionResult

    from transforms.enrich import _MergeFn

    (tagged,) = list(
        _MergeFn(dl.NER, _RaisingHandler()).process(PredictionResult(article, InferenceFailed(ValueError(ERROR))))
    )
    assert tagged.value["error_type"] == "ValueError"


class _RaisingHandler(ModelHandler):
    """A handler without per-element isolation: every batch raises inside run_inference."""

    def __init__(self):
        super().__init__(min_batch_size=3, max_batch_size=3)

    def load_model(self):
        return None

    def run_inference(self, batch, model, inference_args=None):
        raise RuntimeError("whole batch failed")

    def merge(self, article, prediction):
        return article


def test_a_batch_that_raises_outside_isolation_is_dead_letters_not_a_crash():
    """RunInference's exception handling: nothing is lost when a handler's batch raises."""
    articles = [
        Article(id=f"a{i}", title="", text=f"text {i}", raw=f"raw{i}".encode(), source_file="f", source_line=i)
        for i in range(5)
    ]
    expected = [(f"a{i}", "ner", "RuntimeError", "whole batch failed", f"raw{i}".encode(), True) for i in range(5)]

    def summary(d):  # schema-valid: a failed batch's error tuple must not reach the Avro sink
        return (
            d["article_id"],
            d["stage"],
            d["error_type"],
            d["error_message"],
            d["raw"],
            validate(d, schemas.parsed(schemas.DEAD_LETTER), raise_errors=False),
        )

    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(articles) | EnrichWith(_RaisingHandler(), dl.NER)
        assert_that(out["articles"], is_empty(), label="NoArticles")
        assert_that(out[dl.DEAD_LETTER] | beam.Map(summary), equal_to(expected), label="AllDeadLetters")


# --- run_with_isolation ------------------------------------------------------------------------


class _Infer:
    def __init__(self, bad=()):
        self.bad, self.calls = set(bad), []

    def __call__(self, batch):
        self.calls.append(list(batch))
        culprits = [x for x in batch if x in self.bad]
        if culprits:
            raise ValueError(f"cannot infer {culprits[0]}")
        return [x * 10 for x in batch]


def test_isolation_passes_a_good_batch_through_in_one_call():
    infer = _Infer()
    assert run_with_isolation([1, 2, 3], infer) == [10, 20, 30]
    assert infer.calls == [[1, 2, 3]]


def test_isolation_fails_only_the_culprit_and_keeps_order():
    infer = _Infer(bad={3})
    out = run_with_isolation([1, 2, 3, 4, 5], infer)
    assert [x for x in out if not isinstance(x, InferenceFailed)] == [10, 20, 40, 50]
    assert isinstance(out[2], InferenceFailed)
    assert (out[2].error_type, out[2].message) == ("ValueError", "cannot infer 3")
    assert infer.calls == [[1, 2, 3, 4, 5], [1], [2], [3], [4], [5]]


def test_isolation_of_single_element_and_all_bad_batches():
    infer = _Infer(bad={7})
    (only,) = run_with_isolation([7], infer)
    assert isinstance(only, InferenceFailed) and infer.calls == [[7]]
    out = run_with_isolation([7, 8], _Infer(bad={7, 8}))
    assert all(isinstance(x, InferenceFailed) for x in out) and len(out) == 2
    assert [x.message for x in out] == ["cannot infer 7", "cannot infer 8"]


def test_isolation_handles_errors_without_a_message_and_lazy_results():
    def infer(batch):
        for x in batch:
            if x == "bad":
                raise KeyError  # no message: repr is used
            yield x.upper()

    out = run_with_isolation(["a", "bad", "c"], infer)
    assert out[0] == "A" and out[2] == "C"
    assert out[1].error_type == "KeyError" and out[1].message == "KeyError()"


def test_isolation_does_not_swallow_interrupts():
    def infer(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_with_isolation([1, 2], infer)


def test_isolation_treats_a_short_result_list_as_a_failure():
    out = run_with_isolation([1, 2, 3], lambda batch: [x for x in batch if x != 2])
    # the batch is retried one by one: only the element the model dropped fails, in its place
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], InferenceFailed)
    assert (out[1].error_type, out[1].message) == ("RuntimeError", "model returned 0 results for 1 inputs")
