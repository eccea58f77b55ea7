"""Articles of a batch scored concurrently (``--article-threads``): the same records as one at a time,
a failing article fails alone, and the threads and intra-op threads fill the cores as documented."""

import pytest
from test_batch_independence import fixture_articles, private_export_cache, result_bytes  # noqa: F401 - fixture

from transforms.article import Article
from transforms.inference.handler import InferenceFailed
from transforms.inference.settings import InferenceSettings
from transforms.inference.threads import ArticleThreads
from transforms.ner.handler import NerModelHandler
from transforms.topics.embedding import EmbeddingTopicModelHandler
from transforms.topics.taxonomy import load_taxonomy

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("backend", ["onnxruntime-int8", "torch"])
def test_concurrent_articles_give_the_records_of_one_at_a_time(backend):
    batch = fixture_articles()
    for make in (
        lambda s: NerModelHandler(None, s),
        lambda s: EmbeddingTopicModelHandler(load_taxonomy(None), settings=s),
    ):
        outputs = []
        for n in (1, 3):
            handler = make(InferenceSettings(backend=backend, article_threads=n, model_threads=1))
            model = handler.load_model()
            assert (handler.article_threads(model) is None) == (n == 1)
            outputs.append(result_bytes(handler, model, batch))
        assert outputs[0] == outputs[1] and outputs[0][batch[0].id]


def test_a_failing_article_fails_alone_among_concurrent_ones():
    handler = NerModelHandler(None, InferenceSettings(backend="onnxruntime-int8", article_threads=2, model_threads=1))
    model = handler.load_model()
    bad = Article(id="bad", title="", text="x")
    real_entities = type(model).entities

    def entities(self, arts):
        if any(a.id == "bad" for a in arts):
            raise ValueError("cannot tag this one")
        return real_entities(self, arts)

    batch = fixture_articles()[:4] + [bad]
    type(model).entities = entities
    try:
        results = handler.run_inference(batch, model)
    finally:
        type(model).entities = real_entities
    assert [r.example.id for r in results] == [a.id for a in batch]
    assert isinstance(results[-1].inference, InferenceFailed) and "cannot tag" in results[-1].inference.message
    assert not any(isinstance(r.inference, InferenceFailed) for r in results[:-1])


def test_threads_have_their_own_tokenizer_and_share_the_session():
    handler = EmbeddingTopicModelHandler(load_taxonomy(None), settings=InferenceSettings(article_threads=2))
    model = handler.load_model()
    view = model.for_thread()
    assert view.encoder.tokenizer is not model.encoder.tokenizer
    assert view.encoder.model is model.encoder.model and view.topics is model.topics


@pytest.mark.parametrize(
    "settings, device, cores, expected",
    [
        (InferenceSettings(), "cpu", 8, (8, 1)),  # onnxruntime on CPU: a single-threaded article per core
        (InferenceSettings(model_threads=2), "cpu", 8, (4, 2)),
        (InferenceSettings(article_threads=2), "cpu", 8, (2, 4)),
        (InferenceSettings(article_threads=3, model_threads=1), "cpu", 8, (3, 1)),
        (InferenceSettings(backend="torch"), "cpu", 8, (1, 0)),  # torch: its own threading
        (InferenceSettings(backend="torch", model_threads=2), "cpu", 8, (1, 2)),
        (InferenceSettings(), "cuda", 8, (1, 0)),
        (InferenceSettings(), "cpu", 1, (1, 1)),
    ],
)
def test_concurrency_fills_the_cores(settings, device, cores, expected):
    assert settings.concurrency(device, cores) == expected


def test_handler_pickles_without_its_threads():
    import pickle

    handler = NerModelHandler(None, InferenceSettings(article_threads=2))
    handler._threads = object()  # a pool in this process...
    assert "_threads" not in pickle.loads(pickle.dumps(handler)).__dict__  # ...stays here


def test_costliest_articles_start_first_and_results_keep_their_order():
    """Longest-first scheduling: a batch's long articles never start last, so the threads finish it
    together; results still come back in the batch's order."""

    class Model:
        def for_thread(self):
            return self

    started = []
    pool = ArticleThreads(1)  # one thread: the start order is the submission order
    items = ["bb", "a", "dddd", "ccc"]
    out = pool.map(Model(), lambda view, item: started.append(item) or item.upper(), items, cost=len)
    assert started == ["dddd", "ccc", "bb", "a"]
    assert out == ["BB", "A", "DDDD", "CCC"]
    assert ArticleThreads(2).map(Model(), lambda view, item: item * 2, [3, 1, 2]) == [6, 2, 4]


def test_language_identifier_preloads_once_in_the_background():
    import threading

    from transforms import language

    language.preload()
    for t in threading.enumerate():
        if t.name == "news-ingest-langid-load":
            t.join(timeout=60)
    first = language._identifier()
    language.preload()  # already loaded: starts nothing, builds nothing new
    assert language._identifier() is first
    assert language.detect_language("Air defence", "The ministry said the drones were shot down overnight.") == "en"
