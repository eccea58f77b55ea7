"""Labelled exemplar passages of the embedding topic model, and the files a taxonomy references for it.

``news-ingest train-topics`` stores, for each labelled topic, the embeddings of exemplar passages: the
best-evidence passages of articles labelled with the topic (positives) and of articles not labelled
with it (negatives, i.e. near misses), in a safetensors file that the taxonomy names
(``calibration.embedding.exemplars``). It may also store fine-tuned encoder layers
(``calibration.embedding.encoder_weights``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transforms.topics.taxonomy import DEFAULT_TAXONOMY, Taxonomy


@dataclass
class Exemplars:
    """Labelled exemplar passage embeddings, per topic: ``pos[t]`` (n, dim) and ``neg[t]`` (m, dim)."""

    pos: dict[str, np.ndarray]
    neg: dict[str, np.ndarray]
    top_k: int = 3
    meta: dict | None = None

    def save(self, path: str | Path) -> None:
        """Stored as fp16, half the size; training rounds its exemplars the same way, so the scores it
        calibrates on are those of the saved file."""
        from safetensors.numpy import save_file

        tensors = {}
        for t in self.pos:
            tensors[f"pos.{t}"] = np.ascontiguousarray(self.pos[t], dtype=np.float16)
            tensors[f"neg.{t}"] = np.ascontiguousarray(self.neg[t], dtype=np.float16)
        meta = {"top_k": str(self.top_k), "meta": json.dumps(self.meta or {}, sort_keys=True)}
        save_file(tensors, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> Exemplars:
        from safetensors import safe_open

        pos: dict[str, np.ndarray] = {}
        neg: dict[str, np.ndarray] = {}
        with safe_open(str(path), framework="numpy") as f:
            md = f.metadata() or {}
            for key in f.keys():
                kind, topic = key.split(".", 1)
                (pos if kind == "pos" else neg)[topic] = np.asarray(f.get_tensor(key), dtype=np.float32)
        return cls(pos=pos, neg=neg, top_k=int(md.get("top_k", 3)), meta=json.loads(md.get("meta", "{}")))


def top_k_mean(sims: np.ndarray, k: int) -> np.ndarray:
    """Row-wise mean of the k largest values (fewer columns than k: mean of all; none: 0)."""
    if sims.shape[1] == 0:
        return np.zeros(sims.shape[0], dtype=sims.dtype)
    k = min(k, sims.shape[1])
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def exemplar_scores(
    emb: np.ndarray, pos: np.ndarray, neg: np.ndarray, top_k: int, owner=None, pos_owner=None, neg_owner=None
) -> np.ndarray:
    """Per passage: mean of the top_k similarities to positive exemplars minus the same for negative
    exemplars. With the passages' article ``owner`` and the exemplars' owners given (training only),
    an article's own exemplars never count for its passages (leave-one-article-out, so the fitted
    calibration sees honest scores).

    Computed with torch, in the encoder's thread pool: a numpy (OpenBLAS) matmul between the
    encoder's forward passes leaves BLAS threads spinning that the next forward pass then competes
    with, which costs far more than the matmul itself."""
    import torch

    def side(ex: np.ndarray, owners) -> np.ndarray:
        if len(ex) == 0:
            return np.zeros(len(emb), dtype=np.float32)
        with torch.inference_mode():
            sims = torch.from_numpy(emb) @ torch.from_numpy(ex).T
            if owner is not None:
                own = torch.from_numpy(np.asarray(owners) == owner)
                sims[:, own] = -1.0
            k = min(top_k, sims.shape[1])
            return torch.topk(sims, k, dim=1).values.mean(dim=1).numpy()

    return side(pos, pos_owner) - side(neg, neg_owner)


def exemplar_path(taxonomy: Taxonomy, method: str = "embedding") -> Path | None:
    """The exemplar file a taxonomy references (``calibration.<method>.exemplars``)."""
    return referenced_file(taxonomy, "exemplars", method)


def tuned_weights_path(taxonomy: Taxonomy, method: str = "embedding") -> Path | None:
    """The fine-tuned encoder layers a taxonomy references (``calibration.<method>.encoder_weights``)."""
    return referenced_file(taxonomy, "encoder_weights", method)


def referenced_file(taxonomy: Taxonomy, key: str, method: str = "embedding") -> Path | None:
    """A file the taxonomy's calibration block names. A relative path is relative to the taxonomy file;
    where that file is not at hand (a remote worker unpickling the taxonomy), relative to the
    packaged taxonomies folder (the packaged model's files live in the installed ``models``)."""
    ref = (taxonomy.calibration.get(method) or {}).get(key)
    if not ref:
        return None
    p = Path(str(ref))
    if p.is_absolute():
        return p
    candidates = []
    if taxonomy.source and Path(taxonomy.source).exists():
        candidates.append(Path(taxonomy.source).resolve().parent / p)
    candidates.append(DEFAULT_TAXONOMY.parent / p)
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]
