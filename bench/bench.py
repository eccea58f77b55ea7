"""Throughput benchmark: the real pipeline vs. a naive per-article loop vs. a model-only roofline.

    python -m bench.bench [--limit 200] [--compare-backend torch ...] [--quality] [--sizes 1000,5000,20000]
                          [--repeats 3] [--report bench/RESULTS.md]

Measured in one run, on the same articles and the same models:
* pipeline: `news-ingest run` (FnApiRunner, batch) in a fresh subprocess, first with no backend flag (the
  default path a user gets), then once per ``--compare-backend``: articles/s, tokens/s, peak RSS,
  time to first record, model time per stage (from Beam metrics);
* naive: what a user writes first: a Python loop calling Hugging Face `pipeline("token-classification",
  aggregation_strategy="first")` per article (title and text) and `pipeline("feature-extraction")`
  once per passage for the topic model (same taxonomy anchors and scoring as the pipeline);
* roofline: the model forward passes alone (NER windows and topic passages, tokenized beforehand,
  batched and sorted by length across articles): no Beam, no pre/post-processing; the faster of the
  batches shared out over the pipeline's article threads and one stream of calls on all cores.
* quality (``--quality``): the eval commands of docs/models.md for every backend of the run (NER CoNLL test and
  dev F1, dev read as 20-sentence articles, topic micro/macro-F1 on the labelled dev set), so that
  speed and quality sit in one table.
Medians of `--repeats` runs are reported (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.runs import pipeline_command, read_summary
from transforms.article import RawUnit
from transforms.inference.onnx_runtime import CACHE_ENV
from transforms.inference.settings import BACKENDS, DEFAULT_BACKEND, InferenceSettings
from transforms.inference.threads import available_cores
from transforms.ner.encoding import CASE_CONFIG_KEY, encode_windows
from transforms.ner.handler import NerModelHandler
from transforms.ner.inference import length_sorted_batches, pad_batch
from transforms.parse import parse_unit
from transforms.topics.embedding import EmbeddingTopicModel, EmbeddingTopicModelHandler
from transforms.topics.passages import split_passages
from transforms.topics.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news" / "articles.jsonl"
SHARED = ROOT.parent / "shared" / "data"


def load_articles(path: Path, limit: int = 0) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
            if limit and len(out) >= limit:
                break
    return out


def synthetic(n: int, source: list[dict], seed: int = 7, words: int = 15) -> list[dict]:
    """n articles of about `words` words, sentences sampled from real articles (deterministic)."""
    rng = random.Random(seed)
    sentences = [s for a in source for s in re.split(r"(?<=[.!?])\s+", a["text"]) if 5 <= len(s.split()) <= 60]
    out = []
    for i in range(n):
        body, count = [], 0
        while count < words:
            s = rng.choice(sentences)
            body.append(s)
            count += len(s.split())
        out.append(
            {"id": f"syn-{n}-{i}", "title": rng.choice(source)["title"], "text": " ".join(body), "date": "2025-06-01"}
        )
    return out


def write_jsonl(articles: list[dict], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(a, ensure_ascii=False) + "\n")
    return path


def measured_run(input_path: Path, extra: list[str], keep: Path | None = None) -> dict:
    """One `news-ingest run` in a fresh process (its peak RSS is its own): the run's summary, plus the peak
    RSS and the seconds from starting the process to the first record written."""
    out = keep or Path(tempfile.mkdtemp(prefix="bench-out-"))
    wrapper = (
        "import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(p.stdout); print(p.stderr, file=sys.stderr); "
        "print('RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)"
    )
    cmd = [sys.executable, "-c", wrapper, *pipeline_command("--input", str(input_path), "--output", str(out), *extra)]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"pipeline failed: {proc.stderr[-3000:]}")
    summary = read_summary(proc.stdout)
    summary["peak_rss_mb"] = int(re.search(r"RSS_KB (\d+)", proc.stdout).group(1)) / 1024
    first = summary.get("first_record_at")
    summary["first_record_s"] = round(first - started, 2) if first is not None else None
    if keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return summary


class Models:
    """The models the pipeline uses, loaded once in this process for the naive and roofline runs."""

    def __init__(self, backend: str = "torch", **settings):
        self.settings = InferenceSettings(backend=backend, **settings)
        self.ner = NerModelHandler(settings=self.settings).load_model()
        self.topics = EmbeddingTopicModelHandler(load_taxonomy(), settings=self.settings).load_model()
        # forward passes at once: the article threads the pipeline's default settings give this machine
        self.streams, _ = self.settings.concurrency("cpu", available_cores())


def articles_as_objects(rows: list[dict]):
    return [parse_unit(RawUnit("bench", i, json.dumps(r).encode(), "jsonl")) for i, r in enumerate(rows)]


class PerPassageEncoder:
    """The topic encoder as a user writes it first: the Hugging Face feature-extraction pipeline called
    once per passage (no batching), mean-pooled and L2-normalised in numpy."""

    def __init__(self, encoder):
        from transformers import pipeline as hf_pipeline

        self.extract = hf_pipeline(
            "feature-extraction",
            model=encoder.model,
            tokenizer=encoder.tokenizer,
            tokenize_kwargs={"truncation": True, "max_length": encoder.max_length},
        )

    def encode(self, texts):
        rows = []
        for text in texts:
            tokens = np.asarray(self.extract(text)[0], dtype=np.float32)  # (tokens, dim), no padding
            pooled = tokens.mean(axis=0)
            rows.append(pooled / max(float(np.linalg.norm(pooled)), 1e-9))
        return np.stack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def naive(models: Models, articles, per_passage: bool = True) -> float:
    """Seconds for the per-article loop with Hugging Face pipelines (no batching): token-classification
    with aggregation for NER, feature-extraction per passage for the topic model (scored against the
    same taxonomy anchors as the pipeline). ``per_passage=False``: the topic passages of one article go
    through the pipeline's batched encoder instead: what batching one article's passages alone gains."""
    from transformers import pipeline as hf_pipeline

    ner = hf_pipeline(
        "token-classification",
        model=models.ner.model,
        tokenizer=models.ner.tokenizer,
        aggregation_strategy="first",
        stride=64,
    )
    topics = (
        EmbeddingTopicModel(models.topics.taxonomy, PerPassageEncoder(models.topics.encoder))
        if per_passage
        else models.topics
    )
    started = time.time()
    for a in articles:
        for text in (a.title, a.text):
            if text:
                ner(text)
        topics.score([a])
    return time.time() - started


def roofline(models: Models, articles) -> tuple[float, int]:
    """Seconds for the forward passes alone, plus the number of NER tokens: every NER window and topic
    passage of ``articles``, tokenized beforehand, in length-sorted batches across articles, the batches
    shared out over ``models.streams`` threads (one: a single stream of calls)."""
    import torch

    ner = models.ner
    texts = [a.title for a in articles] + [a.text for a in articles]
    windows = encode_windows(
        ner.tokenizer,
        texts,
        max_length=ner.window_tokens,
        stride=ner.stride_tokens,
        case_token_types=bool(getattr(ner.model.config, CASE_CONFIG_KEY, False)),
    )
    ner_batches = [
        pad_batch([windows[i] for i in b], ner.tokenizer.pad_token_id or 0) for b in length_sorted_batches(windows)
    ]
    enc = models.topics.encoder
    passages = sorted((p for a in articles for p in split_passages(a.title, a.text)), key=len)
    topic_batches = [
        enc.tokenizer(
            passages[i : i + enc.batch_size],
            padding=True,
            truncation=True,
            max_length=enc.max_length,
            return_tensors="pt",
        )
        for i in range(0, len(passages), enc.batch_size)
    ]

    def forward(share: int) -> None:
        with torch.inference_mode():
            for b in ner_batches[share :: models.streams]:
                ner.model(**b)
            for b in topic_batches[share :: models.streams]:
                enc.model(**b)

    started = time.time()
    with ThreadPoolExecutor(models.streams) as pool:
        list(pool.map(forward, range(models.streams)))
    return time.time() - started, sum(len(w) for w in windows)


def scaling_lines(scale: list[dict]) -> list[str]:
    """Per-article time of each synthetic run against the first: from wall time, from wall time less
    model loading (a fixed cost), and from model time alone (NER + topics seconds)."""
    if len(scale) < 2:
        return []
    base = scale[0]

    def per(r, what):
        seconds = {"wall": r["wall_s"], "less load": r["wall_s"] - r["load_s"], "model": r["ner_s"] + r["topics_s"]}
        return seconds[what] / r["articles"]

    out = []
    for s in scale[1:]:
        ratios = ", ".join(f"{what} {per(s, what) / per(base, what):.2f}×" for what in ("wall", "less load", "model"))
        out.append(
            f"\nPer-article time at {s['articles']} vs {base['articles']}: {ratios} "
            f"(peak RSS {s['peak_rss_mb']} MB vs {base['peak_rss_mb']} MB)"
        )
    return out


def quality(backend: str, work: Path) -> dict:
    """The evaluation commands of docs/models.md for one backend, through the pipeline: NER F1 (CoNLL test, dev, dev
    read as 20-sentence articles) and topic micro/macro-F1 on the labelled dev set."""
    out = {}
    conll = SHARED / "conll2003"
    for key, data, extra in (
        ("ner_test", conll / "test.txt", []),
        ("ner_dev", conll / "dev.txt", []),
        ("ner_dev_group20", conll / "dev.txt", ["--group", "20"]),
    ):
        table = work / f"{backend}-{key}.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "eval-ner",
                "--data",
                str(data),
                *extra,
                "--json",
                str(table),
                "--inference-backend",
                backend,
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        out[key] = json.loads(table.read_text())["overall"]["f1"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "eval-topics",
            "--data",
            str(SHARED / "topics" / "dev.jsonl"),
            "--inference-backend",
            backend,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    for key in ("micro", "macro"):
        out[f"topics_{key}"] = float(re.search(rf"{key}-F1\s*\|?\s*\**([\d.]+)", proc.stdout, re.I).group(1))
    return out


def quality_lines(backends: list[str], work: Path) -> list[str]:
    lines = [
        "",
        "Quality of the same backends, measured in this run (`news-ingest eval-ner --data "
        "../shared/data/conll2003/{test,dev}.txt [--group 20]`, `news-ingest eval-topics --data "
        "../shared/data/topics/dev.jsonl`, each with `--inference-backend B`):",
        "",
        "| backend | NER test F1 | NER dev F1 | NER dev F1, 20-sentence articles | topic micro-F1 (dev) | topic macro-F1 (dev) |",
        "|---|---|---|---|---|---|",
    ]
    for b in backends:
        q = quality(b, work)
        print(json.dumps({"quality": b, **q}), flush=True)
        lines.append(
            f"| {b}{' (default)' if b == DEFAULT_BACKEND else ''} | {q['ner_test']:.4f} | {q['ner_dev']:.4f} | "
            f"{q['ner_dev_group20']:.4f} | {q['topics_micro']:.3f} | {q['topics_macro']:.3f} |"
        )
    return lines


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--articles", default=str(NEWS))
    ap.add_argument("--sizes", default="1000,5000,20000", help="synthetic set sizes for the scaling check")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-sample", type=int, default=150, help="articles timed with the naive loop")
    ap.add_argument("--ref-repeats", type=int, default=1, help="repeats of the naive and roofline timings")
    ap.add_argument("--report", default=str(ROOT / "bench" / "RESULTS.md"))
    ap.add_argument("--skip-workers", action="store_true")
    ap.add_argument("--keep-output", default=None, help="keep the first real-set pipeline output here")
    ap.add_argument(
        "--limit",
        type=int,
        default=0,
        help="first N real articles only (0: all); the naive loop "
        "then times the same N articles unless --naive-sample is smaller",
    )
    ap.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="--inference-backend of the main pipeline runs and the roofline (default: no flag, the "
        f"default path, {DEFAULT_BACKEND}; the naive loop is always the fp32 torch models: what a "
        "user writes first)",
    )
    ap.add_argument(
        "--compare-backend",
        action="append",
        default=[],
        choices=BACKENDS,
        help="also run the real-set pipeline with this backend (repeatable; same repeats)",
    )
    ap.add_argument(
        "--quality",
        action="store_true",
        help="also run the NER and topic evaluations for every backend of the run (needs ../shared)",
    )
    return ap


class PipelineRows:
    """The table's pipeline rows: each the medians of ``repeats`` measured runs of one configuration (the
    real-set runs name their inference backend with ``backend_args``; none: the default path)."""

    def __init__(self, repeats: int, backend_args: list[str]):
        self.rows: list[dict] = []
        self.repeats, self.backend_args = repeats, backend_args

    def add(self, label, path, n, extra=(), repeats=None, keep=None, backend=None) -> dict:
        backend = self.backend_args if backend is None else backend
        repeats = self.repeats if repeats is None else repeats
        runs = [measured_run(path, [*backend, *extra], keep if i == 0 else None) for i in range(repeats)]
        rate = median([r["articles_in"] / r["wall_seconds"] for r in runs])
        row = {
            "run": label,
            "articles": n,
            "articles_per_s": round(rate, 2),
            "wall_s": round(median([r["wall_seconds"] for r in runs]), 1),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
            "first_record_s": round(median([r["first_record_s"] for r in runs if r["first_record_s"] is not None]), 2),
            "ner_s": round(median([r.get("ner_seconds", 0) for r in runs]), 1),
            "topics_s": round(median([r.get("topics_seconds", 0) for r in runs]), 1),
            "load_s": round(median([r.get("model_load_seconds", 0) for r in runs]), 1),
        }
        row["loads"] = [r.get("model_load_seconds", 0) for r in runs]
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return row


def naive_sample(objs: list, size: int) -> list:
    """Representative lengths: a seeded sample, or every article when the set is the sample size or smaller."""
    return objs if len(objs) <= size else random.Random(11).sample(objs, min(size, len(objs)))


def roofline_rates(reference: Models, backend: str, objs, repeats: int) -> tuple[dict[str, float], int]:
    """Articles/s of the forward passes alone, two ways: the pipeline's default concurrency (onnxruntime on
    CPU: one single-threaded stream per core), and one stream of calls with every core as intra-op
    threads; and the number of NER tokens."""
    models = reference if backend == "torch" else Models(backend)
    one_stream = Models(backend, model_threads=available_cores(), article_threads=1) if models.streams > 1 else None
    roofs = {f"{models.streams} stream(s)": models, "1 stream, all cores": one_stream}
    rates = {}
    for label, m in roofs.items():
        if m is not None:
            roof = [roofline(m, objs) for _ in range(repeats)]
            rates[label] = median([len(objs) / s for s, _ in roof])
            tokens = roof[0][1]
    return rates, tokens


def worker_rows(runs: PipelineRows, path: Path, n: int) -> tuple[dict, dict]:
    """Two local workers, and what one of them does alone (run.py gives each of N local workers cores/N
    threads)."""
    workers = runs.add(
        "pipeline, 2 workers (multi_processing)",
        path,
        n,
        ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        repeats=1,
    )
    threads = max(1, (os.cpu_count() or 1) // 2)
    single_thread = runs.add(
        f"pipeline, 1 worker, {threads} thread(s)",
        path,
        n,
        ["--model-threads", str(threads), "--article-threads", "1"],
        repeats=1,
    )
    return workers, single_thread


def table_lines(args, argv, backend: str, n_real: int, tokens: int, rows: list[dict]) -> list[str]:
    lines = [
        "# Benchmark results",
        "",
        f"Command: `python -m bench.bench {' '.join(argv or sys.argv[1:])}`; machine: {os.cpu_count()} CPUs; "
        f"inference backend of the pipeline and roofline: {backend}"
        f"{'' if args.backend else ' (the default: no flag)'}; "
        f"real-set pipeline runs: median of {args.repeats}; naive and roofline: median of {args.ref_repeats}; "
        f"2 workers and synthetic sets: one run each. Real set: {n_real} articles, {tokens} NER tokens.",
        "",
        "| run (inference backend: "
        + backend
        + " unless named) | articles | articles/s | wall s | peak RSS MB | first record s | NER s | topics s | model load s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['articles']} | {r['articles_per_s']} | {r['wall_s']} | {r['peak_rss_mb']} | "
            f"{r['first_record_s']} | {r['ner_s']} | {r['topics_s']} | {r['load_s']} |"
        )
    return lines


def reference_lines(pipe: dict, sample, objs, naive_rate, naive_batched_rate, backend: str, roof_rates) -> list[str]:
    roof_label = max(roof_rates, key=roof_rates.get)
    roof_rate = roof_rates[roof_label]
    lines = [
        "",
        "| reference (real set) | articles/s | pipeline ÷ reference |",
        "|---|---|---|",
        f"| naive loop (HF pipeline per article, {len(sample)} {'random ' if len(sample) < len(objs) else ''}articles) | {naive_rate:.2f} | "
        f"{pipe['articles_per_s'] / naive_rate:.2f}× |",
        f"| naive loop, but each article's topic passages in one batched call (the earlier reference) | "
        f"{naive_batched_rate:.2f} | {pipe['articles_per_s'] / naive_batched_rate:.2f}× |",
        f"| roofline (forward passes only, {backend}, {roof_label}: the faster) | {roof_rate:.2f} | "
        f"{pipe['articles_per_s'] / roof_rate:.0%} |",
    ]
    lines += [
        f"| forward passes only, {backend}, {label} | {rate:.2f} | {pipe['articles_per_s'] / rate:.0%} |"
        for label, rate in roof_rates.items()
        if label != roof_label
    ]
    return lines


def pipeline_lines(pipe: dict, n_real: int, roof_rate: float, tokens: int, backend: str, compares) -> list[str]:
    steady = n_real / (pipe["wall_s"] - pipe["load_s"])
    lines = [
        f"\nWithout model loading ({pipe['load_s']} s of the median run): {steady:.2f} articles/s, "
        f"{steady / roof_rate:.0%} of the roofline (which loads nothing).",
        f"\nModel load of the real-set runs in order: {pipe['loads']} s (the first exports to ONNX "
        f"into an empty cache; the others find the export in it).",
        f"\nPipeline tokens/s (NER windows): {tokens / (n_real / pipe['articles_per_s']):.0f}",
    ]
    for c in compares:
        lines.append(
            f"\n{backend} ÷ {c['run'].rsplit(' ', 1)[1]} (pipeline, real set): "
            f"{pipe['articles_per_s'] / c['articles_per_s']:.2f}×"
        )
    return lines


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    backend_args = ["--inference-backend", args.backend] if args.backend else []
    main_backend = str(args.backend or DEFAULT_BACKEND)
    # A cache of ONNX exports of this benchmark's own: its first pipeline run exports (cold start), the
    # repeats and the other runs load the export (what every later run on a machine does).
    os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="bench-onnx-cache-")
    atexit.register(shutil.rmtree, os.environ[CACHE_ENV], True)

    real = load_articles(Path(args.articles), args.limit)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    atexit.register(shutil.rmtree, tmp, True)
    real_path = write_jsonl(real, tmp / "real.jsonl")
    runs = PipelineRows(args.repeats, backend_args)

    # 1. real articles: pipeline, naive, roofline
    pipe = runs.add(
        "pipeline, 1 worker" + ("" if args.backend else f" (default: {DEFAULT_BACKEND})"),
        real_path,
        len(real),
        keep=Path(args.keep_output) if args.keep_output else None,
    )
    compares = [
        runs.add(
            f"pipeline, 1 worker, --inference-backend {b}", real_path, len(real), backend=["--inference-backend", b]
        )
        for b in args.compare_backend
        if b != main_backend
    ]
    objs = articles_as_objects(real)
    sample = naive_sample(objs, args.naive_sample)
    reference = Models()
    naive_rate = median([len(sample) / naive(reference, sample) for _ in range(args.ref_repeats)])
    naive_batched_rate = median(
        [len(sample) / naive(reference, sample, per_passage=False) for _ in range(args.ref_repeats)]
    )
    roof_rates, tokens = roofline_rates(reference, main_backend, objs, args.ref_repeats)
    workers, single_thread = (None, None) if args.skip_workers else worker_rows(runs, real_path, len(real))
    # 2. scaling on synthetic sets
    scale = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        path = write_jsonl(synthetic(n, real), tmp / f"syn-{n}.jsonl")
        scale.append(runs.add(f"pipeline, synthetic {n} (about 15 words each)", path, n, repeats=1))

    lines = table_lines(args, argv, main_backend, len(real), tokens, runs.rows)
    lines += reference_lines(pipe, sample, objs, naive_rate, naive_batched_rate, main_backend, roof_rates)
    lines += pipeline_lines(pipe, len(real), max(roof_rates.values()), tokens, main_backend, compares)
    if args.quality:
        lines += quality_lines([main_backend] + [c["run"].rsplit(" ", 1)[1] for c in compares], tmp)
    if workers:
        lines.append(
            f"\n2 workers ÷ 1 worker: {workers['articles_per_s'] / pipe['articles_per_s']:.2f}×; "
            f"2 workers ÷ 1 worker with the same threads per worker ({single_thread['run']}): "
            f"{workers['articles_per_s'] / single_thread['articles_per_s']:.2f}×"
        )
    lines += scaling_lines(scale)
    Path(args.report).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
