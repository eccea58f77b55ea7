"""Multi-label topic precision/recall/F1 per topic, micro and macro F1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def f1_scores(y: np.ndarray, pred: np.ndarray) -> dict:
    """Per-topic precision/recall/F1 plus micro and macro F1 (y, pred: [n_articles, n_topics] 0/1)."""
    tp = (y * pred).sum(0)
    fp = ((1 - y) * pred).sum(0)
    fn = (y * (1 - pred)).sum(0)
    prec = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    denom = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "support": y.sum(0),
        "micro_f1": float(2 * tp.sum() / denom) if denom else 0.0,
        "macro_f1": float(f1.mean()),
    }


def mean_f1(y: np.ndarray, preds: Sequence[np.ndarray], topic_ids: Sequence[str]) -> dict:
    """Micro, macro and per-topic F1 averaged over several predictions of the same articles (the repeats
    of a cross-validation), rounded to 4 places as the reports and taxonomies keep them."""
    runs = [f1_scores(y, p) for p in preds]
    return {
        "micro_f1": round(float(np.mean([r["micro_f1"] for r in runs])), 4),
        "macro_f1": round(float(np.mean([r["macro_f1"] for r in runs])), 4),
        "per_topic_f1": {t: round(float(np.mean([r["f1"][k] for r in runs])), 4) for k, t in enumerate(topic_ids)},
    }
