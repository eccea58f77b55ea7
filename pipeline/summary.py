"""A run's Beam metrics as the summary `news-ingest run` prints on one line (``summary: {json}``; the bench
reads it): what came in and went out, model time per stage, and when the first record was done."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pipeline.graph import FIRST_RECORD_METRIC, METRICS_NS

log = logging.getLogger(__name__)
# RunInference reports its batch latency and model loading per stage, in the namespace news_ingest_<stage>_...
STAGE_PREFIX = f"{METRICS_NS}_"


def query_metrics(result, cancelled: bool = False) -> dict | None:
    """All metrics of a finished run, or None where the runner's result has none (a Dataflow dry run,
    a job left running remotely, a job Flink cancelled: it reports no metrics of it, and no counts say
    more than zeros would).

    Beam's FnApiRunner consolidates metrics with one nested generator per bundle; a long streaming
    run (a bundle per poll) nests deeper than Python's default recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        metrics = result.metrics().query()
    except RecursionError:
        log.warning("metrics unavailable (too many bundles to consolidate)")
        return None
    except (NotImplementedError, AttributeError) as e:
        log.info("this runner reports no metrics (%s)", type(e).__name__)
        return None
    finally:
        sys.setrecursionlimit(limit)
    if cancelled and not counters(metrics):
        return None
    return metrics


def counters(metrics: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in metrics["counters"]:
        if c.key.metric.namespace == METRICS_NS:
            out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return out


def stage_seconds(metrics: dict) -> dict[str, float]:
    """Model time per stage (RunInference's batch latency, summed over workers) and model loading."""
    out: dict[str, float] = {}
    for d in metrics["distributions"]:
        ns, name = d.key.metric.namespace, d.key.metric.name
        value = d.committed or d.attempted
        if not ns.startswith(STAGE_PREFIX) or value is None:
            continue
        stage = ns[len(STAGE_PREFIX) :].split("_")[0]
        if name.endswith("inference_batch_latency_micro_secs"):
            out[f"{stage}_seconds"] = out.get(f"{stage}_seconds", 0.0) + value.sum / 1e6
        elif name.endswith("load_model_latency_milli_secs"):
            out["model_load_seconds"] = out.get("model_load_seconds", 0.0) + value.sum / 1e3
            out["model_loads"] = out.get("model_loads", 0) + value.count  # one per model per SDK worker
    return {k: v if k == "model_loads" else round(v, 2) for k, v in out.items()}


def first_record_at(metrics: dict) -> float | None:
    """The unix time the run's first record was done (the earliest of every worker's first), if any."""
    firsts = []
    for d in metrics["distributions"]:
        value = d.committed or d.attempted
        if (d.key.metric.namespace, d.key.metric.name) == (METRICS_NS, FIRST_RECORD_METRIC) and value and value.count:
            firsts.append(value.min)
    return min(firsts) / 1000 if firsts else None


def summary_dict(metrics: dict | None, seconds: float, output: str | None) -> dict[str, Any]:
    """The fields of the summary line that come from the metrics (``metrics`` None: counts unavailable)."""
    summary: dict[str, Any] = {}
    if metrics is None:
        summary["counts"] = "unavailable from this runner"
    else:
        c = counters(metrics)
        summary.update(
            {
                "articles_in": c.get("units", 0),
                "records_out": c.get("records", 0),
                "dead_letters": c.get("dead_letters", 0),
                "entities": c.get("entities", 0),
                "topic_labels": c.get("topic_labels", 0),
                "ner_truncated": c.get("ner_truncated", 0),
            }
        )
    summary["wall_seconds"] = round(seconds, 2)
    first = first_record_at(metrics) if metrics is not None else None
    summary["first_record_at"] = round(first, 3) if first is not None else None
    if metrics is not None:
        summary["articles_per_second"] = round(summary["articles_in"] / seconds, 2) if seconds else 0.0
        summary.update(stage_seconds(metrics))
    summary["output"] = output
    return summary
