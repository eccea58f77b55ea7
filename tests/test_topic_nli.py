"""The NLI backend with a tiny randomly initialised entailment model built here (no network)."""

import math

import pytest
import torch

from transforms.article import Article
from transforms.inference.settings import InferenceSettings
from transforms.topics.nli import (
    NliTopicModel,
    NliTopicModelHandler,
    hypotheses_for,
    nli_indices,
    sentence_windows,
)
from transforms.topics.result import TopicResult
from transforms.topics.taxonomy import Calibration, load_taxonomy, taxonomy_from_dict

WORDS = (
    "this text is about air defense drones eu integration anti corruption peace negotiations energy the a of "
    "and to in russia ukraine missiles shot down talks war power grid plant attack court bribe . , !"
).split()


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-nli")
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=3,
        id2label={0: "ENTAILMENT", 1: "neutral", 2: "Contradiction"},
        label2id={"ENTAILMENT": 0, "neutral": 1, "Contradiction": 2},
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(path, safe_serialization=True)
    assert list(path.glob("*.safetensors"))
    return str(path)


ARTICLES = [
    Article(
        id="n1", title="Peace talks", text="Ukraine and Russia held peace negotiations . The talks ended the war ?"
    ),
    Article(id="n2", title="Air defense", text="Air defense shot down missiles . Drones attack the power grid !"),
    Article(id="n3", title="", text=""),
]


def test_label_indices_from_config(tiny_nli):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_nli, local_files_only=True)
    assert nli_indices(config) == (0, 2)  # case-insensitive, wherever the labels sit

    class NotNli:
        label2id = {"POSITIVE": 0, "NEGATIVE": 1}
        num_labels = 2

    with pytest.raises(ValueError, match="entailment"):
        nli_indices(NotNli())


def test_scores_match_manual_zero_shot_computation(tiny_nli):
    """Multi-label HF zero-shot: softmax over [contradiction, entailment] per (premise, hypothesis),
    max over the article's passages. Uncalibrated -> the probability itself."""
    tax = load_taxonomy()
    for t in tax.topics:
        t.calibration.pop("nli", None)
    model = NliTopicModel.load(tax, tiny_nli)
    res = model.score(ARTICLES)
    assert all(isinstance(r, TopicResult) and list(r.scores) == tax.ids for r in res)
    assert all(0.0 <= v <= 1.0 for r in res for v in r.scores.values())

    # manual computation for article 0, topic negotiations
    topic = tax.topic("negotiations")
    hyp = hypotheses_for(topic)[0]
    from transforms.topics.passages import split_passages

    windows = sentence_windows(
        split_passages(ARTICLES[0].title, ARTICLES[0].text), model.tokenizer, model.window_tokens
    )
    with torch.inference_mode():
        probs = []
        for w in windows:
            enc = model.tokenizer(w, hyp, return_tensors="pt")
            logits = model.model(**enc).logits[0]
            probs.append(torch.softmax(logits[[2, 0]], dim=-1)[1].item())
    assert res[0].scores["negotiations"] == pytest.approx(max(probs), abs=1e-5)


def test_default_template_and_calibration(tiny_nli):
    data = {
        "name": "t",
        "version": "1",
        "topics": [
            {
                "id": "energy_infrastructure",
                "name": "energy infrastructure",
                "description": "Attacks on power plants and the grid.",
            }
        ],
        "calibration": {"nli": {"default": {"weights": {"entail_logit": 0.0}, "bias": 5.0}}},
    }
    tax = taxonomy_from_dict(data)
    assert hypotheses_for(tax.topics[0]) == ["This text is about energy infrastructure."]
    model = NliTopicModel.load(tax, tiny_nli)
    r = model.score(ARTICLES[:1])[0]
    assert r.scores["energy_infrastructure"] == pytest.approx(1 / (1 + math.exp(-5.0)))
    assert r.labels == ["energy_infrastructure"]
    feats = model.features(ARTICLES[1:2])[0]["energy_infrastructure"]
    assert set(feats) == {"entail_logit", "alias"}


def test_handler_in_run_inference(tiny_nli):
    import apache_beam as beam
    from apache_beam.ml.inference.base import PredictionResult, RunInference
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that

    tax = load_taxonomy()
    handler = NliTopicModelHandler(tax, model_name=tiny_nli, settings=InferenceSettings(max_batch_size=2))
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 2}
    assert handler.get_metrics_namespace() and handler.model_id.startswith("nli:")

    def check(results):
        assert sorted(r.example.id for r in results) == ["n1", "n2", "n3"]
        for r in results:
            assert isinstance(r, PredictionResult) and list(r.inference.scores) == tax.ids

    with TestPipeline() as p:
        assert_that(p | beam.Create(ARTICLES) | RunInference(handler), check)


def test_handler_needs_a_model():
    with pytest.raises(ValueError, match="needs a model"):
        NliTopicModelHandler(load_taxonomy(), model_name=None)


def test_calibrate_nli_backend(tiny_nli, tmp_path):
    """calibrate works for the nli backend too (tiny model, a few labelled articles)."""
    import json

    from pipeline.commands.train.calibrate import main

    data = tmp_path / "l.jsonl"
    rows = [
        {"id": a.id, "title": a.title, "text": a.text, "labels": lab}
        for a, lab in zip(ARTICLES, [["negotiations"], ["air_defense", "drones"], []])
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows * 2), encoding="utf-8")
    out = tmp_path / "cal.yaml"
    assert (
        main(
            [
                "--data",
                str(data),
                "--out",
                str(out),
                "--backend",
                "nli",
                "--model",
                tiny_nli,
                "--folds",
                "2",
                "--repeats",
                "1",
            ]
        )
        == 0
    )
    tax = load_taxonomy(out)
    assert isinstance(tax.default_calibration("nli"), Calibration)
    assert "nli" in tax.topic("negotiations").calibration
