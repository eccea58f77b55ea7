"""Entity-level exact-match precision/recall/F1 (seqeval-style: span and type must both match)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def score_spans(gold: Iterable[set[tuple]], pred: Iterable[set[tuple]]) -> dict[str, dict[str, float]]:
    """gold/pred: per document, sets of (start, end, type). Returns {type|'overall': p/r/f1/support}."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        for span in p & g:
            tp[span[-1]] += 1
        for span in p - g:
            fp[span[-1]] += 1
        for span in g - p:
            fn[span[-1]] += 1
    table = {}
    for t in sorted(set(tp) | set(fp) | set(fn)) + ["overall"]:
        a = sum(tp.values()) if t == "overall" else tp[t]
        b = sum(fp.values()) if t == "overall" else fp[t]
        c = sum(fn.values()) if t == "overall" else fn[t]
        p = a / (a + b) if a + b else 0.0
        r = a / (a + c) if a + c else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        table[t] = {"precision": p, "recall": r, "f1": f, "support": a + c}
    return table


def format_table(table: dict[str, dict[str, float]]) -> str:
    lines = [f"{'type':<8} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for t, m in table.items():
        lines.append(f"{t:<8} {m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {int(m['support']):>8}")
    return "\n".join(lines)
