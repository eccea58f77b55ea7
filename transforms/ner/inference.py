"""Batched NER forward passes over many texts: encode -> length-sorted batches -> decode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from transforms.inference.batching import padding_aware_batches
from transforms.inference.onnx_runtime import accepts_token_types
from transforms.ner import boundaries
from transforms.ner.decoding import EntitySpan, decode_entities
from transforms.ner.encoding import CASE_CONFIG_KEY, STRIDE_TOKENS, WINDOW_TOKENS, Window, encode_windows

if TYPE_CHECKING:
    import torch

# Tokens per forward pass (16 windows of 128): small passes keep the activations in the CPU caches
# (measured against 8192 for both backends: docs/benchmarks.md, Throughput).
MAX_BATCH_TOKENS = 2048


def pad_batch(windows: Sequence[Window], pad_id: int) -> dict[str, torch.Tensor]:
    import torch

    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for i, w in enumerate(windows):
        n = len(w)
        ids[i, :n] = torch.tensor(w.input_ids)
        types[i, :n] = torch.tensor(w.token_type_ids)
        mask[i, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def length_sorted_batches(
    windows: Sequence[Window],
    max_batch_tokens: int = MAX_BATCH_TOKENS,
    groups: Sequence[int] | None = None,
) -> list[list[int]]:
    """Indices of ``windows`` sorted by length and cut into batches (``padding_aware_batches``); a window
    longer than ``max_batch_tokens`` is a batch of its own.

    With ``groups`` (a group per window, e.g. its article), a batch never mixes groups: a group's
    batches depend on its own windows only, so its logits do not change with the other groups of the
    call (padding width, and the per-call activation ranges of dynamic int8 quantization)."""
    if groups is None:
        groups = [0] * len(windows)
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    lengths = [len(w) for w in windows]
    batches: list[list[int]] = []
    for idx in members.values():
        batches += padding_aware_batches(sorted(idx, key=lambda i: lengths[i]), lengths, max_batch_tokens)
    return batches


def predict_entities(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = WINDOW_TOKENS,
    stride: int = STRIDE_TOKENS,
    max_batch_tokens: int = MAX_BATCH_TOKENS,
    groups: Sequence[int] | None = None,
) -> list[list[EntitySpan]]:
    """Entity spans for each text. Windows are sorted by length so padding stays small; with ``groups``
    (a group per text, e.g. its article) no forward pass mixes texts of different groups."""
    import torch

    case_types = bool(getattr(model.config, CASE_CONFIG_KEY, False))
    windows = encode_windows(tokenizer, texts, max_length=max_length, stride=stride, case_token_types=case_types)
    logits: list[np.ndarray | None] = [None] * len(windows)
    pad_id = tokenizer.pad_token_id or 0
    uses_types = accepts_token_types(model)
    with torch.inference_mode():
        window_groups = None if groups is None else [groups[w.text_index] for w in windows]
        for batch_idx in length_sorted_batches(windows, max_batch_tokens, window_groups):
            inputs = pad_batch([windows[i] for i in batch_idx], pad_id)
            if not uses_types:
                inputs.pop("token_type_ids")
            out = model(**inputs).logits.float().numpy()
            for row, i in enumerate(batch_idx):
                logits[i] = out[row]
    per_text: list[list[int]] = [[] for _ in texts]
    for i, w in enumerate(windows):
        per_text[w.text_index].append(i)
    id2label = model.config.id2label
    return [
        boundaries.adjust(text, decode_entities([windows[i] for i in idx], [logits[i] for i in idx], id2label))
        for text, idx in zip(texts, per_text)
    ]
