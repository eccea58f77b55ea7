"""Labelled topic articles: JSONL rows (id, title, text, labels) as Articles and a label matrix (what
calibration and training fit on, and evaluation scores against)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from transforms.article import Article


def read_labelled(path: str) -> tuple[list[Article], list[list[str]]]:
    """Articles and their `labels` from a JSONL file (id, title, text, labels)."""
    articles, labels = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "labels" not in row:
                raise ValueError(f"{path}:{n}: no 'labels' field")
            articles.append(Article(id=str(row.get("id", n)), title=row.get("title") or "", text=row.get("text") or ""))
            labels.append(list(row["labels"]))
    return articles, labels


def label_matrix(labels: Sequence[Sequence[str]], topic_ids: Sequence[str]) -> np.ndarray:
    """[n_articles, n_topics] 0/1: whether each article carries each topic (labels outside topic_ids drop out)."""
    return np.array([[t in ls for t in topic_ids] for ls in labels], dtype=float)
