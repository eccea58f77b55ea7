"""Rows of one article cut into forward passes: few padding tokens, bounded memory per pass."""

from __future__ import annotations

from collections.abc import Sequence

# A batch ends where the next (length-sorted) row is more than this many times as long as the batch's
# shortest: a short row (an article's title) is not padded to the width of its long neighbours
# (padding measured in bench/RESULTS.md).
MAX_PAD_RATIO = 1.5


def padding_aware_batches(
    order: Sequence[int], lengths: Sequence[int], max_batch_tokens: int, max_pad_ratio: float = MAX_PAD_RATIO
) -> list[list[int]]:
    """``order`` (indices sorted by ascending length) cut into batches whose padded size (rows x longest)
    stays within ``max_batch_tokens`` and whose longest row is at most ``max_pad_ratio`` x the shortest."""
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        if batch and (
            (len(batch) + 1) * lengths[i] > max_batch_tokens or lengths[i] > max_pad_ratio * lengths[batch[0]]
        ):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches
