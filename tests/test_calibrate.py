import numpy as np
import pytest

from pipeline.commands.eval.labelled_topics import label_matrix, read_labelled
from pipeline.commands.eval.topic_metrics import f1_scores
from pipeline.commands.train.calibrate import PooledLogistic, calibrate, choose_threshold, cross_validate
from transforms.article import Article
from transforms.topics.keywords import keyword_labels
from transforms.topics.taxonomy import load_taxonomy, save_taxonomy, taxonomy_from_dict


def synthetic(n=200, k=3, seed=0):
    """evidence ~ N(0.5, 0.05) for positives, N(0.3, 0.05) for negatives; topic-specific prevalence."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) < np.array([0.2, 0.4, 0.1])[:k]).astype(float)
    X = (0.3 + 0.2 * Y + rng.normal(0, 0.05, (n, k)))[..., None]
    return X, Y


def test_f1_scores():
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], float)
    p = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], float)
    m = f1_scores(y, p)
    assert m["precision"].tolist() == [0.5, 1.0]
    assert m["recall"].tolist() == [0.5, 0.5]
    assert m["f1"][1] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_pooled_logistic_recovers_separation_and_is_calibrated():
    X, Y = synthetic()
    model = PooledLogistic(("evidence",), C=10.0).fit(X, Y)
    p = model.predict(X)
    assert ((p >= 0.5) == (Y == 1)).mean() > 0.95
    # calibrated: mean predicted probability ~ observed frequency per topic
    assert np.allclose(p.mean(0), Y.mean(0), atol=0.02)
    per_topic, default = model.calibrations()
    assert len(per_topic) == 3 and default.weights["evidence"] > 0
    # raw-space calibrations reproduce predict()
    for j, cal in enumerate(per_topic):
        assert cal.probability({"evidence": float(X[0, j, 0])}) == pytest.approx(p[0, j], abs=1e-9)


def test_cross_validation_is_out_of_fold_and_threshold_choice():
    X, Y = synthetic()
    oofs = cross_validate(X, Y, ("evidence",), folds=5, repeats=2, seed=1)
    assert len(oofs) == 2 and oofs[0].shape == Y.shape
    thr, table = choose_threshold(Y, oofs)
    assert 0.2 <= thr <= 0.8 and thr in table
    assert table[thr][0] > 0.85
    # a label-noise dataset cannot be memorised: OOF scores are far from perfect
    rng = np.random.default_rng(0)
    noise = rng.random(Y.shape).round()
    oof = cross_validate(X, noise, ("evidence",), folds=5, repeats=1)[0]
    assert f1_scores(noise, (oof >= 0.5).astype(float))["micro_f1"] < 0.8


class FakeScorer:
    """Stands in for the embedding model: evidence from a keyword count (fast, deterministic)."""

    def features(self, articles):
        out = []
        for a in articles:
            words = a.text.lower().split()
            out.append({t: {"evidence": 0.3 + 0.1 * words.count(t)} for t in ("alpha", "beta")})
        return out


def test_calibrate_writes_calibration_and_thresholds(tmp_path):
    tax = taxonomy_from_dict(
        {
            "name": "t",
            "version": "2",
            "topics": [
                {"id": "alpha", "description": "Alpha things."},
                {"id": "beta", "description": "Beta things."},
            ],
        }
    )
    rng = np.random.default_rng(0)
    articles, labels = [], []
    for i in range(60):
        lab = [t for t in ("alpha", "beta") if rng.random() < 0.4]
        text = " ".join(lab * 2 + ["filler"] * 5)
        articles.append(Article(id=str(i), title="", text=text))
        labels.append(lab)
    tax, report = calibrate(tax, articles, labels, FakeScorer(), "embedding", folds=3, repeats=2, log=lambda *a: None)
    cv = report["cv"]
    assert cv["micro_f1"] > 0.95 and set(cv["per_topic_f1"]) == {"alpha", "beta"}
    assert all(t.threshold == cv["threshold"] for t in tax.topics)
    assert tax.topic("alpha").calibration["embedding"].weights["evidence"] > 0
    out = tmp_path / "cal.yaml"
    save_taxonomy(tax, out)
    again = load_taxonomy(out)
    assert again.calibration["embedding"]["cv"]["micro_f1"] == cv["micro_f1"]
    assert again.default_calibration("embedding").weights["evidence"] > 0
    a = Article(id="x", title="", text="alpha alpha filler")
    assert again.topic("alpha").calibration["embedding"].probability(FakeScorer().features([a])[0]["alpha"]) > 0.5


def test_read_labelled(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(
        '{"id": "1", "title": "T", "text": "x", "labels": ["drones"]}\n\n{"id": "2", "text": "y", "labels": []}\n',
        encoding="utf-8",
    )
    arts, labels = read_labelled(str(p))
    assert [a.id for a in arts] == ["1", "2"] and labels == [["drones"], []]
    assert label_matrix(labels, ["drones", "x"]).tolist() == [[1, 0], [0, 0]]
    p.write_text('{"id": "1", "text": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="labels"):
        read_labelled(str(p))


def test_keyword_baseline():
    ids = ["air_defense", "drones", "eu_integration", "anti_corruption", "negotiations"]
    a = Article(id="1", title="Shahed drones shot down", text="NABU opened a case. Peace talks resume.")
    assert keyword_labels(a, ids) == ["air_defense", "drones", "anti_corruption", "negotiations"]
    assert keyword_labels(Article(id="2", title="Weather", text="Sunny."), ids) == []


def test_eval_table_format():
    from pipeline.commands.eval.topics import evaluate, format_table

    ids = ["a", "b"]
    m = evaluate([["a"], ["b"], []], [["a"], [], ["b"]], ids)
    text = format_table(ids, {"sys": m, "keyword regex baseline": m})
    assert "micro-F1" in text and "macro-F1" in text and "keyword regex baseline" in text
