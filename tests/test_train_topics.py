"""Labelled exemplars + per-topic calibration (news-ingest train-topics), on tiny in-test data."""

import json
import os
import re

import numpy as np
import pytest
import yaml

from transforms.article import Article
from transforms.topics.embedding import EmbeddingTopicModel
from transforms.topics.encoder import SentenceEncoder
from transforms.topics.exemplars import Exemplars, exemplar_path, exemplar_scores, top_k_mean
from transforms.topics.taxonomy import load_taxonomy, taxonomy_from_dict


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder.load()


def test_exemplars_round_trip_fp16(tmp_path):
    rng = np.random.default_rng(0)
    ex = Exemplars(
        pos={"a": rng.normal(size=(3, 8)).astype(np.float32)},
        neg={"a": rng.normal(size=(5, 8)).astype(np.float32)},
        top_k=2,
        meta={"n": 3},
    )
    path = tmp_path / "ex.safetensors"
    ex.save(path)
    back = Exemplars.load(path)
    assert back.top_k == 2 and back.meta == {"n": 3}
    assert back.pos["a"].dtype == np.float32 and back.neg["a"].shape == (5, 8)
    assert np.allclose(back.pos["a"], ex.pos["a"], atol=1e-2)


def test_exemplar_scores_top_k_and_leave_own_article_out():
    assert np.allclose(top_k_mean(np.array([[1.0, 3.0, 2.0]]), 2), [2.5])
    assert np.allclose(top_k_mean(np.array([[1.0]]), 3), [1.0])
    assert np.allclose(top_k_mean(np.zeros((2, 0)), 3), [0.0, 0.0])
    e = np.eye(3, dtype=np.float32)
    pos, neg = e[[0]], e[[1]]
    assert np.allclose(exemplar_scores(e, pos, neg, 1), [1.0, -1.0, 0.0])
    # passage 0 belongs to article 7, which supplied the positive exemplar: it does not count
    s = exemplar_scores(e[[0]], pos, neg, 1, owner=7, pos_owner=[7], neg_owner=[8])
    assert np.allclose(s, [-1.0])


DOCS = {
    "energy": [
        (
            "Missile strike hits the power grid",
            "Russian missiles hit thermal power plants; blackouts followed in Kyiv.",
        ),
        ("Substations damaged", "Shelling damaged substations and the electricity grid lost generation capacity."),
        ("Hydro plant attacked", "An attack on the hydroelectric power station cut the electricity supply."),
        ("Rolling outages", "The grid operator announced rolling power outages after strikes on energy facilities."),
        ("Repair crews restore power", "Engineers restored power lines damaged by drone strikes on the energy system."),
        ("Energy minister on winter", "The energy minister said the power system is preparing for winter attacks."),
    ],
    "sport": [
        ("Club wins the cup", "The football team scored twice in the second half and won the national cup."),
        ("Olympic medal", "The athlete won a gold medal in the high jump at the championships."),
        ("Tennis final", "She won the tennis final in three sets in front of a home crowd."),
        ("Coach resigns", "The national football coach resigned after the team lost the qualifier."),
        ("Marathon record", "A runner broke the course record at the city marathon on Sunday."),
        ("Boxing title", "The boxer defended his heavyweight title with a unanimous decision."),
    ],
    "none": [
        ("Museum exhibition", "Paintings by nineteenth-century artists go on display in Lviv this week."),
        ("School curriculum", "Lawmakers discussed changes to history lessons for secondary schools."),
        ("Book festival", "Publishers presented new novels and poetry at the book festival."),
        ("Weather", "Forecasters expect rain and cooler temperatures at the weekend."),
    ],
}


def write_data(tmp_path):
    rows = []
    for topic, docs in DOCS.items():
        for j, (title, text) in enumerate(docs):
            rows.append(
                {"id": f"{topic}{j}", "title": title, "text": text, "labels": [] if topic == "none" else [topic]}
            )
    train = tmp_path / "train.jsonl"
    dev = tmp_path / "dev.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[::2]), encoding="utf-8")
    dev.write_text("".join(json.dumps(r) + "\n" for r in rows[1::2]), encoding="utf-8")
    tax = {
        "name": "tiny",
        "version": "1",
        "topics": [
            {"id": "energy", "description": "Attacks on power plants, the electricity grid and energy infrastructure."},
            {"id": "sport", "description": "Sport competitions, teams, athletes and results."},
            {
                "id": "elections",
                "description": "Elections, voting, candidates and election campaigns.",
                "aliases": ["election*", "ballot*"],
            },
        ],
    }
    tp = tmp_path / "tax.yaml"
    tp.write_text(yaml.safe_dump(tax), encoding="utf-8")
    return train, dev, tp


def test_train_topics_end_to_end_and_unlabelled_topic_stays_zero_shot(tmp_path, encoder, capsys):
    from pipeline.cli import COMMANDS
    from pipeline.commands.train.topics import main

    assert COMMANDS["train-topics"][0] == "pipeline.commands.train.topics"
    train, dev, tp = write_data(tmp_path)
    out = tmp_path / "out.yaml"
    report = tmp_path / "report.json"
    rc = main(
        [
            "--data",
            str(train),
            "--dev",
            str(dev),
            "--topics",
            str(tp),
            "--out",
            str(out),
            "--report",
            str(report),
            "--folds",
            "2",
            "--repeats",
            "1",
            "--version",
            "2",
            "--cache",
            str(tmp_path / "cache.npz"),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "keyword regex" in printed and "chosen:" in printed
    rep = json.loads(report.read_text())
    assert set(rep["candidates"]) >= {"pooled-evidence", "exemplars-1/3-top3"}
    assert "dev" in rep and rep["dev"]["n_articles"] == 8
    tax = load_taxonomy(out)
    assert tax.version == "2"
    block = tax.calibration["embedding"]
    assert block["features"][:3] == ["evidence", "knn", "evknn"] and block["cv"]["method"] == rep["chosen"]
    assert exemplar_path(tax).exists() and exemplar_path(tax).suffix == ".safetensors"
    assert set(tax.topic("energy").calibration["embedding"].weights) == set(block["features"])
    assert "embedding" not in tax.topic("elections").calibration  # no labels: the zero-shot default

    model = EmbeddingTopicModel(tax, encoder)
    assert set(model.exemplars.pos) == {"energy", "sport"}
    arts = [
        Article(id="e", title="Strikes on power plants", text="Missiles hit a power plant and the grid failed."),
        Article(id="s", title="Cup final", text="The team won the football cup final on penalties."),
        Article(
            id="v",
            title="Presidential election",
            text="Voters cast their ballots in the presidential election; the election commission counted the votes.",
        ),
    ]
    feats = model.features(arts)
    assert "knn" in feats[0]["energy"] and "knn" not in feats[0]["elections"]
    res = model.score(arts)
    assert res[0].scores["energy"] > res[1].scores["energy"]
    assert res[1].scores["sport"] > res[0].scores["sport"]
    # the topic with only a description + aliases is scored by anchors and aliases
    assert res[2].scores["elections"] > max(res[0].scores["elections"], res[1].scores["elections"])

    # the cache is reused (no re-encoding) and gives the same result
    rc = main(
        [
            "--data",
            str(train),
            "--dev",
            str(dev),
            "--topics",
            str(tp),
            "--out",
            str(tmp_path / "o2.yaml"),
            "--folds",
            "2",
            "--repeats",
            "1",
            "--cache",
            str(tmp_path / "cache.npz"),
        ]
    )
    assert rc == 0 and "read from" in capsys.readouterr().out
    assert load_taxonomy(tmp_path / "o2.yaml").calibration["embedding"]["cv"] == block["cv"]


def test_tuned_encoder_is_written_referenced_and_loaded(tmp_path, encoder, monkeypatch, capsys):
    """A candidate that fine-tunes the encoder's last layer: the tuned layer is saved (fp16 safetensors,
    parameter names of the encoder), the taxonomy references it, and every loader of the taxonomy
    (the Beam handler, and the offline commands' loader on any engine) gets the tuned encoder; each fold's
    tuned encoder is embedded on the production engine, exported into a cache of its own."""
    import torch

    from pipeline.commands.topic_models import load_topic_model
    from pipeline.commands.train import topics as train_topics
    from transforms.inference.settings import InferenceSettings
    from transforms.topics.embedding import EmbeddingTopicModelHandler
    from transforms.topics.exemplars import tuned_weights_path

    monkeypatch.setitem(
        train_topics.CANDIDATES,
        "tiny-tuned",
        {
            "method": "exemplars",
            "npos": 1,
            "nneg": 3,
            "top_k": 3,
            "C": 0.3,
            "tune": {"layers": 1, "epochs": 3, "lr": 1e-3, "candidates": 3, "batch": 4},
        },
    )
    cache = tmp_path / "onnx-cache"
    monkeypatch.setenv("NEWS_INGEST_ONNX_CACHE", str(cache))
    train, dev, tp = write_data(tmp_path)
    out = tmp_path / "out.yaml"
    rc = train_topics.main(
        [
            "--data",
            str(train),
            "--dev",
            str(dev),
            "--topics",
            str(tp),
            "--out",
            str(out),
            "--folds",
            "2",
            "--repeats",
            "1",
            "--candidates",
            "tiny-tuned",
        ]
    )
    assert rc == 0
    # the base encoder's export is kept; the folds' tuned encoders were exported into caches of their own
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 1
    assert os.environ["NEWS_INGEST_ONNX_CACHE"] == str(cache)
    printed = capsys.readouterr().out
    losses = [float(x) for x in re.findall(r"tuning epoch \d/3: loss ([\d.]+)", printed)]
    assert len(losses) == 3 * 4 and losses[2] < losses[0]  # 2 folds + dev + final, 3 epochs each: it learns
    tax = load_taxonomy(out)
    weights = tuned_weights_path(tax)
    assert weights is not None and weights.exists() and weights.parent == exemplar_path(tax).parent
    from safetensors.torch import load_file

    tuned = load_file(str(weights))
    assert tuned and all(k.startswith("encoder.layer.5.") and v.dtype == torch.float16 for k, v in tuned.items())
    own = encoder.model.state_dict()
    assert any(not torch.equal(v.float(), own[k]) for k, v in tuned.items())

    handler_model = EmbeddingTopicModelHandler(tax, settings=InferenceSettings(backend="torch")).load_model()
    calibrate_model = load_topic_model(tax, "embedding", None, InferenceSettings(backend="torch"))
    for m in (handler_model, calibrate_model):
        state = m.encoder.model.state_dict()
        assert all(torch.equal(state[k], v.float()) for k, v in tuned.items())
    art = Article(id="e", title="Strikes on power plants", text="Missiles hit a power plant and the grid failed.")
    assert handler_model.score([art])[0].scores == calibrate_model.score([art])[0].scores

    # an evidence-only recalibration of that taxonomy is fitted with, and keeps, the tuned encoder
    from pipeline.commands.train.calibrate import main as calibrate_main

    (tmp_path / "elsewhere").mkdir()
    recal = tmp_path / "elsewhere" / "recal.yaml"
    assert (
        calibrate_main(
            ["--data", str(train), "--topics", str(out), "--out", str(recal), "--folds", "2", "--repeats", "1"]
        )
        == 0
    )
    again = load_taxonomy(recal)
    assert exemplar_path(again) is None and tuned_weights_path(again).resolve() == weights.resolve()


def test_tuned_weights_for_another_encoder_fail_clearly(tmp_path):
    import torch
    from safetensors.torch import save_file

    from transforms.topics.encoder import apply_tuned_weights

    model = SentenceEncoder.load().model
    bad = tmp_path / "bad.safetensors"
    save_file({"encoder.layer.5.output.dense.weight": torch.zeros(3, 3)}, str(bad))
    with pytest.raises(ValueError, match="do not fit the encoder"):
        apply_tuned_weights(model, bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        apply_tuned_weights(model, tmp_path / "missing.safetensors")


def test_packaged_taxonomy_uses_exemplars_and_new_topic_is_zero_shot():
    """The packaged model (exemplars for the five labelled topics, the encoder tuned on them) plus a
    topic given only by its description and aliases: the new topic is scored zero-shot with the same
    encoder."""
    from transforms.topics.exemplars import tuned_weights_path

    base = load_taxonomy()
    path = exemplar_path(base)
    assert path is not None and path.exists() and path.suffix == ".safetensors"
    encoder = SentenceEncoder.load(tuned_weights=tuned_weights_path(base))
    data = yaml.safe_load(open(base.source, encoding="utf-8"))
    data["topics"].append(
        {
            "id": "energy_infrastructure",
            "name": "Energy infrastructure",
            "description": "Attacks on and damage to power plants, the electricity grid and "
            "energy infrastructure, power outages and blackouts.",
            "aliases": ["power plant*", "blackout*", "power grid"],
        }
    )
    tax = taxonomy_from_dict(data, source=base.source)
    model = EmbeddingTopicModel(tax, encoder)
    assert set(model.exemplars.pos) == set(base.ids)
    arts = [
        Article(
            id="1",
            title="Missile strike hits Ukraine's power grid",
            text="Russia launched missiles at thermal power plants and substations overnight. "
            "Rolling blackouts were introduced in Kyiv.",
        ),
        Article(
            id="2",
            title="New museum exhibition opens",
            text="Paintings by nineteenth-century artists go on display in Lviv this week.",
        ),
        Article(
            id="3",
            title="Germany sends more air defense",
            text="Berlin will deliver another IRIS-T air defense system and Patriot missiles to protect "
            "Ukrainian cities from Russian missile attacks.",
        ),
    ]
    res = model.score(arts)
    assert "energy_infrastructure" in res[0].labels and res[1].labels == []
    assert "air_defense" in res[2].labels and "energy_infrastructure" not in res[2].labels


def test_training_starts_from_the_taxonomy_without_its_learned_files(tmp_path):
    """train-topics embeds with the base encoder whatever an earlier training left in the taxonomy, and
    loads a fold's tuned layers by a copy that names them; the taxonomy itself stays as it is."""
    from pathlib import Path

    from pipeline.commands.topic_models import untrained, with_tuned_encoder
    from transforms.topics.exemplars import tuned_weights_path

    base = load_taxonomy()
    assert exemplar_path(base) is not None and tuned_weights_path(base) is not None
    plain = untrained(base)
    assert exemplar_path(plain) is None and tuned_weights_path(plain) is None
    assert plain.calibration["embedding"].get("alias_bonus") == base.calibration["embedding"].get("alias_bonus")
    tuned = with_tuned_encoder(base, tmp_path / "layers.safetensors")
    assert tuned_weights_path(tuned) == Path(tmp_path / "layers.safetensors").resolve() and exemplar_path(tuned) is None
    assert exemplar_path(base) is not None and tuned_weights_path(base) is not None
