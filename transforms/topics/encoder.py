"""Sentence embeddings from a Hugging Face encoder: mean pooling over the last hidden state, L2-normalised
(what sentence-transformers does for all-MiniLM-L6-v2, without needing sentence-transformers)."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from transforms.inference.batching import padding_aware_batches
from transforms.inference.loading import load_model, load_tokenizer, packaged_minilm


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings of a loaded encoder (torch or an ONNX engine)."""

    # 32 passages per forward pass at most: small passes keep the activations in the CPU caches
    # (measured against 64 and 128: docs/benchmarks.md, Throughput).
    def __init__(self, model, tokenizer, max_length: int = 128, batch_size: int = 32):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        model_name: str | None = None,
        allow_download: bool = False,
        tuned_weights: str | Path | None = None,
        **kw,
    ) -> SentenceEncoder:
        """The encoder ``model_name`` (default: the packaged MiniLM), with the fine-tuned layers of
        ``tuned_weights`` (``news-ingest train-topics``) put in place of its own when given."""
        from transformers import AutoModel

        path = model_name or packaged_minilm()
        model = load_model(AutoModel, path, allow_download)
        if tuned_weights is not None:
            apply_tuned_weights(model, tuned_weights)
        return cls(model, load_tokenizer(path, allow_download), **kw)

    def for_thread(self) -> SentenceEncoder:
        """The same model with a tokenizer of its own, for one of several concurrent threads."""
        return SentenceEncoder(self.model, copy.deepcopy(self.tokenizer), self.max_length, self.batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, in forward passes of similar-length texts (sorted by token count, at
        most ``batch_size`` rows, cut where padding would grow: ``padding_aware_batches``). The passes
        depend on ``texts`` alone, so callers that encode one article per call get the same vectors for
        it whatever else is being scored."""
        import torch

        dim = int(getattr(self.model.config, "hidden_size", 384))
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        out = np.zeros((len(texts), dim), dtype=np.float32)
        tokens = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        lengths = [len(ids) for ids in tokens["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for batch in padding_aware_batches(order, lengths, self.batch_size * self.max_length):
                for start in range(0, len(batch), self.batch_size):
                    rows = batch[start : start + self.batch_size]
                    enc = _pad(tokens, rows, max(lengths[i] for i in rows), pad_id)
                    hidden = self.model(**enc).last_hidden_state
                    out[rows] = mean_pooled(hidden, enc["attention_mask"]).float().numpy()
        return out


def mean_pooled(hidden, attention_mask):
    """Sentence embeddings from token states: mean over the unmasked tokens, L2-normalised (what
    sentence-transformers does for MiniLM). Shared by the encoder and the fine-tuning that trains it."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def apply_tuned_weights(model, path: str | os.PathLike[str]) -> None:
    """Replace some of ``model``'s parameters by those in the safetensors file ``path`` (the layers that
    ``news-ingest train-topics`` fine-tuned). Every tensor in the file must name a parameter of the
    model with the same shape: weights tuned for another encoder fail here, not silently."""
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise FileNotFoundError(f"tuned encoder weights {path} not found")
    tuned = load_file(str(path))
    own = model.state_dict()
    wrong = [k for k, v in tuned.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    if wrong:
        raise ValueError(
            f"{path}: {len(wrong)} tensors do not fit the encoder {type(model).__name__} "
            f"(first: {wrong[0]}); were they tuned for another model?"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tuned.items()}, strict=False)


def _pad(tokens, rows: Sequence[int], width: int, pad_id: int) -> dict:
    """The tokenizer's output for ``rows``, right-padded to ``width`` as tensors (tokenized once per
    call to ``encode``: the lengths that order the batches come from the same pass)."""
    import torch

    enc = {}
    for key, fill in (("input_ids", pad_id), ("attention_mask", 0), ("token_type_ids", 0)):
        if key in tokens:
            enc[key] = torch.tensor(
                [tokens[key][i] + [fill] * (width - len(tokens[key][i])) for i in rows], dtype=torch.long
            )
    return enc
