"""The optional ONNX Runtime backends: same call signature as torch, same records (fp32), close (int8)."""

import json

import pytest
from conftest import FIXTURES, ROOT, read_avro, run_pipeline

from pipeline.commands.eval.ner_metrics import score_spans
from transforms.article import Article
from transforms.inference.settings import InferenceSettings
from transforms.ner.handler import NerModelHandler
from transforms.topics.embedding import EmbeddingTopicModelHandler
from transforms.topics.taxonomy import load_taxonomy

pytest.importorskip("onnxruntime")

SEED = next((ROOT / "seeds").glob("*.txt"))


@pytest.fixture(autouse=True, scope="module")
def private_export_cache(tmp_path_factory):
    """Exports go to a cache of this test module, not the user's ~/.cache."""
    from transforms.inference.onnx_runtime import CACHE_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
        yield


def spans(record):
    return {(e["field"], e["start"], e["end"], e["label"]) for e in record["entities"]}


@pytest.fixture(scope="module")
def torch_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch-out")
    assert run_pipeline(["--input", str(SEED), "--output", str(out), "--inference-backend", "torch"]) == 0
    (record,) = read_avro(str(out / "articles-*.avro"))
    return record


def test_onnxruntime_backend_writes_the_same_records(tmp_path, torch_record):
    out = tmp_path / "out"
    assert run_pipeline(["--input", str(SEED), "--output", str(out), "--inference-backend", "onnxruntime"]) == 0
    (record,) = read_avro(str(out / "articles-*.avro"))
    assert spans(record) == spans(torch_record)
    assert record["topic_labels"] == torch_record["topic_labels"]
    for a, b in zip(record["topics"], torch_record["topics"]):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-3)
    for e, f in zip(
        sorted(record["entities"], key=lambda e: (e["field"], e["start"])),
        sorted(torch_record["entities"], key=lambda e: (e["field"], e["start"])),
    ):
        assert e["score"] == pytest.approx(f["score"], abs=1e-3)


def test_int8_backend_writes_the_seed_record_of_torch(tmp_path, torch_record):
    """On the seed article the int8 export finds torch's mentions exactly (same spans, same labels but for one
    close call: the bare "Macron" of "Zelenskyy briefs Macron on ...", PER in int8, ORG in torch) and the same
    topic labels; its scores differ (by up to 0.005 for topics)."""
    out = tmp_path / "out"
    assert run_pipeline(["--input", str(SEED), "--output", str(out), "--inference-backend", "onnxruntime-int8"]) == 0
    (record,) = read_avro(str(out / "articles-*.avro"))
    for e in record["entities"]:
        assert record[e["field"]][e["start"] : e["end"]] == e["text"]
    assert {m[:3] for m in spans(record)} == {m[:3] for m in spans(torch_record)}
    assert spans(record) ^ spans(torch_record) <= {("text", 849, 855, "PER"), ("text", 849, 855, "ORG")}
    assert record["topic_labels"] == torch_record["topic_labels"]


@pytest.fixture(scope="module")
def fixture_articles() -> list[Article]:
    lines = (FIXTURES / "written_articles.jsonl").read_text(encoding="utf-8").splitlines()
    return [Article(id=d["id"], title=d["title"], text=d["text"]) for d in map(json.loads, lines)]


def _settings(backend: str) -> InferenceSettings:
    # one article at a time in one thread: the least time on a shared CI core, for torch most of all
    return InferenceSettings(backend=backend, model_threads=1, article_threads=1)


def _ner_mentions(backend: str, articles: list[Article]) -> list[set[tuple]]:
    handler = NerModelHandler(settings=_settings(backend))
    found = handler.predict(handler.load_model(), articles)
    return [{(e.field, e.start, e.end, e.label) for e in mentions} for mentions in found]


def _topic_labels(backend: str, articles: list[Article]) -> list[list[str]]:
    handler = EmbeddingTopicModelHandler(load_taxonomy(), settings=_settings(backend))
    return [result.labels for result in handler.predict(handler.load_model(), articles)]


def test_int8_agrees_with_torch_on_the_fixture_articles(fixture_articles):
    """What a clone can check of the README's int8 claim. The README's "NER F1 within 0.002 of torch"
    compares two F1 scores against CoNLL's gold labels (in ../shared, not in a clone). Without gold labels
    the fixture articles (40, tests/fixtures) measure agreement instead, torch's mentions as the reference:
    int8's entity-level F1 against them is at least 0.98 (measured 0.994: 569 of torch's 573 mentions; of the
    other 4, two change label, one ends elsewhere and one is not found; the CoNLL-only model before: 0.986,
    561 of 569). That bounds the F1
    difference on any gold labels by about 2 x 4 / (573 + gold) (~0.007), not by 0.002: the 0.002 itself
    needs the gold labels. The topic claim ("the same micro-F1 for torch and int8") is checked as what
    it rests on here: the same labels for every fixture article."""
    reference, int8 = _ner_mentions("torch", fixture_articles), _ner_mentions("onnxruntime-int8", fixture_articles)
    agreement = score_spans(reference, int8)["overall"]
    assert agreement["support"] == 573  # torch's mentions in the 40 articles: the whole reference
    assert agreement["f1"] >= 0.98, agreement
    assert _topic_labels("onnxruntime-int8", fixture_articles) == _topic_labels("torch", fixture_articles)


def test_export_keeps_the_torch_call_signature(tiny_ner):
    """Token types (the case shapes of the embedded model) reach the exported graph."""
    import torch
    from transformers import AutoModelForTokenClassification

    from transforms.inference.onnx_runtime import to_onnxruntime
    from transforms.ner.inference import accepts_token_types

    model = AutoModelForTokenClassification.from_pretrained(tiny_ner).eval()
    ort_model = to_onnxruntime(model, "logits", threads=1)
    assert accepts_token_types(ort_model)
    ids = torch.randint(5, 1000, (3, 17))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    types = torch.randint(0, 2, (3, 17))
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    got = ort_model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4)


def test_unknown_backend_is_a_clear_error(tiny_ner):
    from transforms.inference.onnx_runtime import with_backend

    with pytest.raises(ValueError, match="unknown inference backend"):
        with_backend(object(), "tensorrt", "logits")


def test_missing_onnxruntime_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    rc = run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "o"), "--inference-backend", "onnxruntime"])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install onnxruntime onnx" in err and "--inference-backend torch" in err


def test_export_is_cached_by_weights(tiny_ner, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForTokenClassification

    from transforms.inference import onnx_runtime

    monkeypatch.setenv(onnx_runtime.CACHE_ENV, str(tmp_path / "cache"))
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner).eval()
    ids = torch.randint(5, 1000, (2, 9))
    first = onnx_runtime.to_onnxruntime(model, "logits", threads=1, int8=True)
    assert len(list((tmp_path / "cache").iterdir())) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache has it")

    monkeypatch.setattr(onnx_runtime, "export_onnx", no_export)
    again = onnx_runtime.to_onnxruntime(model, "logits", threads=1, int8=True)
    mask = torch.ones_like(ids)
    assert torch.equal(
        first(input_ids=ids, attention_mask=mask).logits, again(input_ids=ids, attention_mask=mask).logits
    )

    with torch.no_grad():  # other weights: another key, so a new export (which no_export refuses)
        next(model.parameters()).add_(0.5)
    with pytest.raises(AssertionError, match="exported again"):
        onnx_runtime.to_onnxruntime(model, "logits", threads=1, int8=True)
    assert [p.name.startswith(".partial-") for p in (tmp_path / "cache").iterdir()] == [False]  # failed one removed


def test_cache_off_exports_to_a_temporary_folder(tiny_ner, monkeypatch):
    import tempfile

    from transformers import AutoModelForTokenClassification

    from transforms.inference import onnx_runtime

    monkeypatch.setenv(onnx_runtime.CACHE_ENV, "off")
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner).eval()
    path, names = onnx_runtime.exported(model, "logits", int8=False)
    assert path.startswith(tempfile.gettempdir()) and "input_ids" in names


def test_warm_cache_never_loads_the_torch_model(tiny_ner, tmp_path, monkeypatch):
    """A handler finds its export by the model folder's files: the second load builds the session from the
    cache without loading (or exporting) the torch model, and scores the same; changed weights miss."""
    import shutil

    from transforms.inference import loading, onnx_runtime

    monkeypatch.setenv(onnx_runtime.CACHE_ENV, str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(tiny_ner, folder)
    handler = NerModelHandler(str(folder), InferenceSettings(backend="onnxruntime-int8", article_threads=1))
    article = Article(id="a", title="Talks in Kyiv", text="Olena Kovalenko met NATO officials in Brussels on Monday.")
    first = handler.run_inference([article], handler.load_model())[0].inference

    def refuse(*args, **kwargs):
        raise AssertionError("the torch model was loaded although the cache has its export")

    monkeypatch.setattr(loading, "load_model", refuse)
    monkeypatch.setattr(onnx_runtime, "export_onnx", refuse)
    again = handler.run_inference([article], handler.load_model())[0].inference
    assert [(e.start, e.end, e.label, e.score) for e in again] == [(e.start, e.end, e.label, e.score) for e in first]

    weights = next(folder.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")  # other weights: another key
    with pytest.raises(AssertionError, match="torch model was loaded"):
        handler.load_model()


def test_config_keeps_named_matmuls_in_fp32(tiny_ner, tmp_path, monkeypatch):
    """``int8_keep_fp32`` in a model's config: those MatMuls of the int8 export stay fp32 (the shipped
    NER model keeps its first layer so: model card), the others are quantized; the export's key changes."""
    import onnx
    from transformers import AutoModelForTokenClassification

    from transforms.inference import onnx_runtime

    monkeypatch.setenv(onnx_runtime.CACHE_ENV, str(tmp_path / "cache"))
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner).eval()

    def ops(path):
        return [(n.op_type, n.name) for n in onnx.load(path).graph.node if n.op_type in ("MatMul", "MatMulInteger")]

    plain, _ = onnx_runtime.exported(model, "logits", int8=True)
    assert not [name for op, name in ops(plain) if op == "MatMul" and "dense" in name]  # all weights int8
    model.config.int8_keep_fp32 = ["layer.0/"]
    kept, _ = onnx_runtime.exported(model, "logits", int8=True)
    assert kept != plain
    weights = {name for op, name in ops(kept) if op == "MatMul" and ("dense" in name or "query" in name)}
    assert weights and all("layer.0/" in n for n in weights)
    assert any("layer.1/" in name for op, name in ops(kept) if op == "MatMulInteger")
    model.config.int8_keep_fp32 = "layer.1/"  # a bare string is one fragment, not its characters
    one, _ = onnx_runtime.exported(model, "logits", int8=True)
    assert {n for op, n in ops(one) if op == "MatMul" and "dense" in n} == {
        n for op, n in ops(one) if "layer.1/" in n and "dense" in n
    }
