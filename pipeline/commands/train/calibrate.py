"""news-ingest calibrate: fit topic score calibration and thresholds from labelled articles.

    news-ingest calibrate --data LABELLED.jsonl --topics FILE [--out FILE] [--backend embedding|nli]
                          [--model DIR_OR_ID] [--inference-backend B] [--folds 5] [--repeats 5] [--seed 0]
                          [--C 1.0] [--alias-bonus 0.2]

The topic method's raw features (see transforms/topics/embedding.py, transforms/topics/nli.py; computed
by the pipeline's own handler and engine, pipeline/commands/topic_models.py) are mapped to a probability
by ONE logistic model shared by all topics (shared feature weights, a bias per topic, L2-regularised on
standardised features): a handful of parameters, so 100-odd labelled articles do not get memorised.
Cross-validation (repeated k-fold) measures the out-of-fold micro/macro F1 and chooses one global
decision threshold; the final model is refitted on all data and written into the taxonomy (per-topic
calibration and threshold, plus the default calibration that topics added later without labels use).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.commands.eval.labelled_topics import label_matrix, read_labelled
from pipeline.commands.eval.topic_metrics import f1_scores, mean_f1
from pipeline.commands.topic_models import (
    CALIBRATION_FEATURES,
    add_topic_model_flags,
    load_topic_model,
    offline_settings,
)
from transforms.article import Article
from transforms.inference.loading import model_label
from transforms.topics.embedding import DEFAULT_ALIAS_BONUS
from transforms.topics.exemplars import tuned_weights_path
from transforms.topics.taxonomy import DEFAULT_TAXONOMY, Calibration, Taxonomy, load_taxonomy, save_taxonomy

THRESHOLD_GRID = tuple(round(float(x), 2) for x in np.arange(0.2, 0.81, 0.05))


# ------------------------------------------------------------------------------------ calibration


def newton_logistic(
    design: np.ndarray, y: np.ndarray, penalty: np.ndarray, tol: float, max_iter: int = 100
) -> np.ndarray:
    """Coefficients of an L2-penalised logistic regression (``penalty`` per coefficient; a tiny one
    leaves a bias free), by Newton's method until no step exceeds ``tol``."""
    theta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        grad = design.T @ (p - y) + penalty * theta
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < tol:
            break
    return theta


@dataclass
class PooledLogistic:
    """p(topic t | x) = sigmoid(bias[t] + w . (x - mean) / std), fitted by Newton's method."""

    features: tuple[str, ...]
    C: float = 1.0  # inverse L2 strength on the standardised weights (biases are not penalised)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    w: np.ndarray | None = None
    b: np.ndarray | None = None

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PooledLogistic:
        """X: [n_articles, n_topics, n_features], Y: [n_articles, n_topics]."""
        n, k, d = X.shape
        flat = X.reshape(-1, d)
        self.mean = flat.mean(0)
        self.std = np.where(flat.std(0) > 1e-9, flat.std(0), 1.0)
        Z = (X - self.mean) / self.std
        design = np.concatenate([Z.reshape(-1, d), np.tile(np.eye(k), (n, 1))], axis=1)
        penalty = np.concatenate([np.full(d, 1.0 / self.C), np.full(k, 1e-6)])
        theta = newton_logistic(design, Y.reshape(-1), penalty, tol=1e-8)
        self.w, self.b = theta[:d], theta[d:]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = ((X - self.mean) / self.std) @ self.w + self.b
        return 1.0 / (1.0 + np.exp(-z))

    def calibrations(self) -> tuple[list[Calibration], Calibration]:
        """Per-topic calibrations in raw feature space, and the default one (mean bias) for new topics."""
        raw_w = self.w / self.std
        shift = float(raw_w @ self.mean)
        weights = {f: float(v) for f, v in zip(self.features, raw_w)}
        per_topic = [Calibration(weights=dict(weights), bias=float(b) - shift) for b in self.b]
        default = Calibration(weights=dict(weights), bias=float(np.mean(self.b)) - shift)
        return per_topic, default


def feature_tensor(feats: Sequence[dict], topic_ids: Sequence[str], names: Sequence[str]) -> np.ndarray:
    return np.array([[[f[t][n] for n in names] for t in topic_ids] for f in feats], dtype=float)


def cross_validate(
    X: np.ndarray,
    Y: np.ndarray,
    features: Sequence[str],
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    C: float = 1.0,
) -> list[np.ndarray]:
    """Out-of-fold probabilities, one [n_articles, n_topics] array per repeat."""
    rng = np.random.default_rng(seed)
    n = len(X)
    folds = max(2, min(folds, n))
    out = []
    for _ in range(repeats):
        perm = rng.permutation(n)
        oof = np.zeros(Y.shape)
        for f in range(folds):
            test = perm[f::folds]
            train = np.setdiff1d(perm, test)
            model = PooledLogistic(tuple(features), C=C).fit(X[train], Y[train])
            oof[test] = model.predict(X[test])
        out.append(oof)
    return out


def choose_threshold(Y: np.ndarray, oofs: Sequence[np.ndarray]) -> tuple[float, dict]:
    """The global threshold with the best mean of micro and macro F1 over the out-of-fold runs."""
    best, best_key, table = 0.5, -1.0, {}
    for thr in THRESHOLD_GRID:
        runs = [f1_scores(Y, (p >= thr).astype(float)) for p in oofs]
        mi = float(np.mean([r["micro_f1"] for r in runs]))
        ma = float(np.mean([r["macro_f1"] for r in runs]))
        table[thr] = (mi, ma)
        if (mi + ma) / 2 > best_key + 1e-9:
            best, best_key = thr, (mi + ma) / 2
    return best, table


def calibrate(
    taxonomy: Taxonomy,
    articles: Sequence[Article],
    labels: Sequence[Sequence[str]],
    scorer,
    method: str,
    folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    C: float = 1.0,
    model_label: str = "",
    log=print,
    extra: dict | None = None,
) -> tuple[Taxonomy, dict]:
    """Fit calibration + thresholds of the topic method ``method`` on the features of ``scorer``; returns
    the updated taxonomy and a report dict."""
    ids = taxonomy.ids
    names = CALIBRATION_FEATURES[method]
    unknown = sorted({l for ls in labels for l in ls} - set(ids))
    if unknown:
        log(f"warning: labels not in the taxonomy are ignored: {unknown}")
    Y = label_matrix(labels, ids)
    X = feature_tensor(scorer.features(list(articles)), ids, names)
    oofs = cross_validate(X, Y, names, folds=folds, repeats=repeats, seed=seed, C=C)
    threshold, table = choose_threshold(Y, oofs)
    scores = mean_f1(Y, [(p >= threshold).astype(float) for p in oofs], ids)
    cv = {
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "C": C,
        "n_articles": len(articles),
        "threshold": threshold,
        "micro_f1": scores["micro_f1"],
        "macro_f1": scores["macro_f1"],
        "micro_f1_at_0.5": round(table[0.5][0], 4),
        "macro_f1_at_0.5": round(table[0.5][1], 4),
        "per_topic_f1": scores["per_topic_f1"],
    }
    final = PooledLogistic(names, C=C).fit(X, Y)
    per_topic, default = final.calibrations()
    for t, cal in zip(taxonomy.topics, per_topic):
        if Y[:, ids.index(t.id)].sum() > 0:  # a topic with no positive example keeps the default
            t.calibration[method] = cal
        else:
            t.calibration.pop(method, None)
        t.threshold = threshold
    taxonomy.calibration[method] = {
        "model": model_label,
        "features": list(names),
        **(extra or {}),
        "default": default,
        "cv": cv,
    }
    return taxonomy, {"cv": cv, "thresholds": table}


# ------------------------------------------------------------------------------------------ command


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="news-ingest calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="labelled JSONL (id, title, text, labels)")
    ap.add_argument("--topics", default=None, help="taxonomy file (default: the packaged one)")
    ap.add_argument("--out", default=None, help="where to write the calibrated taxonomy (default: --topics)")
    add_topic_model_flags(ap, model_help="model directory or hub id (default: packaged MiniLM)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation strength")
    ap.add_argument(
        "--alias-bonus",
        type=float,
        default=None,
        help="embedding method: similarity added to passages with an alias (default: the taxonomy's value, else 0.2)",
    )
    return ap


def embedding_block(taxonomy: Taxonomy, alias_bonus: float | None, out: str) -> dict:
    """What an embedding calibration keeps of the taxonomy's block: the alias bonus (``alias_bonus`` when
    given) and the tuned encoder layers, which computed the evidence (referenced from ``out``'s folder)."""
    block = taxonomy.calibration.setdefault("embedding", {})
    if alias_bonus is not None:
        block["alias_bonus"] = alias_bonus
    kept: dict = {"alias_bonus": float(block.get("alias_bonus", DEFAULT_ALIAS_BONUS))}
    tuned = tuned_weights_path(taxonomy)
    if tuned is not None:
        kept["encoder_weights"] = os.path.relpath(tuned.resolve(), Path(out).resolve().parent)
    return kept


def print_report(taxonomy: Taxonomy, method: str, label: str, n_articles: int, args, cv: dict) -> None:
    print(f"calibrated {taxonomy.label} ({method}, {label}) on {n_articles} articles")
    print(f"{args.folds}-fold CV x{args.repeats} (out-of-fold), global threshold {cv['threshold']}:")
    print(
        f"  micro-F1 {cv['micro_f1']:.3f}  macro-F1 {cv['macro_f1']:.3f}"
        f"   (at 0.5: {cv['micro_f1_at_0.5']:.3f} / {cv['macro_f1_at_0.5']:.3f})"
    )
    for t, f in cv["per_topic_f1"].items():
        print(f"  {t:<24} F1 {f:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    taxonomy = load_taxonomy(args.topics)
    out = args.out or args.topics or str(DEFAULT_TAXONOMY)
    extra = embedding_block(taxonomy, args.alias_bonus, out) if args.method == "embedding" else {}
    articles, labels = read_labelled(args.data)
    if not articles:
        print(f"{args.data}: no labelled articles", file=sys.stderr)
        return 2
    settings = offline_settings(args.inference_backend, args.allow_download)
    scorer = load_topic_model(taxonomy, args.method, args.model, settings)
    label = model_label(args.model) if args.model else "all-MiniLM-L6-v2"
    taxonomy, report = calibrate(
        taxonomy,
        articles,
        labels,
        scorer,
        args.method,
        folds=args.folds,
        repeats=args.repeats,
        seed=args.seed,
        C=args.C,
        model_label=label,
        extra=extra,
    )
    print_report(taxonomy, args.method, label, len(articles), args, report["cv"])
    save_taxonomy(taxonomy, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
