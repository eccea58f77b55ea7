"""A record never depends on batching: the same article gives byte-identical entity spans and scores
and topic scores alone and inside different batches, with every inference backend (the int8 default
quantizes activations per forward pass, so this holds only because no forward pass mixes articles)."""

import json

import pytest
from conftest import FIXTURES

from transforms.article import Article
from transforms.inference.settings import InferenceSettings
from transforms.ner.handler import NerModelHandler
from transforms.topics.embedding import EmbeddingTopicModelHandler
from transforms.topics.taxonomy import load_taxonomy

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", autouse=True)
def private_export_cache(tmp_path_factory):
    from transforms.inference.onnx_runtime import CACHE_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
        yield


def fixture_articles() -> list[Article]:
    rows = [json.loads(line) for line in (FIXTURES / "written_articles.jsonl").read_text().splitlines() if line.strip()]
    return [Article(id=r["id"], title=r.get("title") or "", text=r["text"]) for r in rows]


def result_bytes(handler, model, articles):
    """What the records carry from each model, as exact values (repr of floats: no rounding)."""
    out = {}
    for r in handler.run_inference(articles, model):
        inference = r.inference
        if hasattr(inference, "scores"):
            value = sorted((k, repr(v)) for k, v in inference.scores.items()), list(inference.labels)
        else:
            value = [(e.field, e.start, e.end, e.label, repr(e.score)) for e in inference]
        out[r.example.id] = value
    return out


@pytest.mark.parametrize("backend", ["onnxruntime-int8", "onnxruntime", "torch"])
def test_same_article_same_bytes_alone_and_in_any_batch(backend):
    articles = fixture_articles()
    target = next(a for a in articles if len(a.text) > 1500)  # several NER windows, many passages
    others = [a for a in articles if a.id != target.id]
    short = [a for a in others if len(a.text) < 800][:5]
    long = sorted(others, key=lambda a: -len(a.text))[:5]  # wider padding and larger activations around it
    batches = [[target], short[:2] + [target] + short[2:], long + [target], [long[0], target, short[0], long[1]]]
    settings = InferenceSettings(backend=backend)
    for handler in (
        NerModelHandler(None, settings),
        EmbeddingTopicModelHandler(load_taxonomy(None), settings=settings),
    ):
        model = handler.load_model()
        seen = [result_bytes(handler, model, batch)[target.id] for batch in batches]
        assert seen[0], f"{type(handler).__name__}: the article must produce something to compare"
        for other in seen[1:]:
            assert other == seen[0], f"{type(handler).__name__} ({backend}): the record changed with its batch"
