"""Kafka benchmark: topic-to-topic capacity, latency against load, an overload burst, memory; per runner.

    make kafka-up [flink-up] && python -m bench.kafka [--runners prism,flink-cluster] [--backlog 300]
        [--loads 0.25,0.5,0.9] [--steady-seconds 40] [--burst 150] [--report FILE] [--plot FILE.png]

One streaming run per runner (`--kafka-topic IN --kafka-output-topic OUT`, default models and settings;
`flink-cluster` restarts the session cluster of `make flink-up` with one TaskManager first):
1. backlog: `--backlog` real articles wait in the input topic when the job starts; capacity = outputs
   per second from the first output to the last (model loading excluded);
2. warm-up: `--warmup` articles one by one (the first ones through a fresh job pay for lazy setup);
3. load: for each fraction of the capacity in `--loads` (or each fixed rate in `--rates`), one
   article every 1/rate s for `--steady-seconds`; latency = output message timestamp - input produce
   time (both this machine's clock), p50/p95/max per level;
4. burst: `--burst` articles at once; lag (inputs without output) sampled every second until zero.
Peak resident memory per process role over the whole run (bench.engines' sampler); every input must
get its output (or dead letter).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import schemas
from bench.engines import RUNNER_ARGS, PeakRss, cluster
from bench.runs import pipeline_command
from pipeline.runtime.processes import stop
from transforms.io import avro_messages

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news" / "articles.jsonl"
FIXTURE = ROOT / "tests" / "fixtures" / "written_articles.jsonl"


class Topics:
    def __init__(self, bootstrap: str, topic_in: str, topic_out: str):
        from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

        self.topic_in = topic_in
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        self.consumer.assign(
            [
                TopicPartition(topic_out, 0, OFFSET_BEGINNING),
                TopicPartition(topic_out + ".deadletter", 0, OFFSET_BEGINNING),
            ]
        )
        self.sent: dict[str, float] = {}  # article id -> produce time (s)
        self.seen: dict[str, float] = {}  # article id -> output message timestamp (s)
        self.recorded: dict[str, float] = {}  # article id -> the record's ingested_at (s): models done

    def send(self, article: dict):
        self.producer.produce(self.topic_in, key=article["id"].encode(), value=json.dumps(article).encode())
        self.producer.poll(0)
        self.sent[article["id"]] = time.time()

    def flush(self):
        self.producer.flush(30)

    def drain(self, seconds: float = 0.5):
        writers = {
            avro_messages.schema_fingerprint(n): schemas.parsed(n)
            for n in (schemas.ENRICHED_ARTICLE, schemas.DEAD_LETTER)
        }
        end = time.time() + seconds
        while time.time() < end:
            m = self.consumer.poll(0.1)
            if m is None or m.error():
                continue
            record = avro_messages.decode(m.value(), writers)
            key = record.get("id") or record.get("article_id") or f"@{record['source_line']}"
            self.seen.setdefault(key, m.timestamp()[1] / 1000)
            if record.get("ingested_at") is not None:
                self.recorded.setdefault(key, record["ingested_at"].timestamp())

    def lag(self) -> int:
        return len(set(self.sent) - set(self.seen))

    def wait_for(self, ids, seconds: float, proc) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline and not set(ids) <= set(self.seen):
            if proc.poll() is not None:
                raise RuntimeError("the pipeline exited")
            self.drain()


class Articles:
    def __init__(self, path: Path):
        self.rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        self.i = 0

    def next(self) -> dict:
        self.i += 1
        return dict(self.rows[self.i % len(self.rows)], id=f"bench-{self.i:06d}")


def paced(topics: Topics, articles: Articles, rate: float, seconds: float) -> list[str]:
    """One article every 1/rate s for ``seconds``; returns their ids."""
    ids, t0 = [], time.time()
    while time.time() - t0 < seconds:
        a = articles.next()
        topics.send(a)
        ids.append(a["id"])
        until = t0 + len(ids) / rate
        while time.time() < until:
            topics.drain(min(0.2, max(0.0, until - time.time())))
    topics.flush()
    return ids


def latency_stats(topics: Topics, ids: list[str]) -> dict:
    lat = sorted(topics.seen[i] - topics.sent[i] for i in ids if i in topics.seen)
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
    return {
        "articles": len(ids),
        "missing": len(ids) - len(lat),
        "p50_s": round(statistics.median(lat), 2),
        "p95_s": round(q[18], 2),
        "max_s": round(lat[-1], 2),
    }


def start_pipeline(runner: str, bootstrap: str, topic_in: str, topic_out: str, run: str, extra: list[str]):
    if runner == "flink-cluster":
        cluster(1)
    log = tempfile.NamedTemporaryFile("w", prefix=f"bench-kafka-{runner}-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        pipeline_command(
            *RUNNER_ARGS[runner],
            "--streaming",
            "--kafka-bootstrap",
            bootstrap,
            "--kafka-topic",
            topic_in,
            "--kafka-group-id",
            f"bench-{run}",
            "--kafka-output-topic",
            topic_out,
            "--window-seconds",
            "10",
            "--max-runtime",
            "0",
            *extra,
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log.name


def write_timeline(path: Path, runner: str, fraction: float, topics: Topics, ids: list[str]) -> None:
    with open(path, "a") as fh:
        fh.writelines(
            json.dumps(
                {
                    "runner": runner,
                    "fraction": fraction,
                    "id": i,
                    "sent": round(topics.sent[i], 3),
                    "latency_s": round(topics.seen[i] - topics.sent[i], 3),
                    # split at the record's ingested_at (set when the models are done): read + models | write
                    "recorded_s": round(topics.recorded[i] - topics.sent[i], 3) if i in topics.recorded else None,
                }
            )
            + "\n"
            for i in ids
            if i in topics.seen
        )


def load_levels(runner: str, args, topics: Topics, articles: Articles, capacity: float, proc) -> list[dict]:
    """Latency at each load level: paced articles for ``--steady-seconds`` per level."""
    loads = []
    levels = [(r / capacity, r) for r in args.rates] or [(f, f * capacity) for f in args.loads]
    for fraction, rate in levels:
        ids = paced(topics, articles, rate, args.steady_seconds)
        topics.wait_for(ids, 180, proc)
        level = {"fraction": round(fraction, 3), "rate": round(rate, 2), **latency_stats(topics, ids)}
        if args.timeline:
            write_timeline(args.timeline, runner, fraction, topics, ids)
        loads.append(level)
        print(f"{runner} load {level}", flush=True)
    return loads


def burst(topics: Topics, articles: Articles, size: int) -> dict:
    """``size`` articles at once; the peak lag, and the seconds until every one has its output."""
    for a in [articles.next() for _ in range(size)]:
        topics.send(a)
    topics.flush()
    t_burst, peak = time.time(), 0
    while time.time() - t_burst < 900 and topics.lag():
        topics.drain(1.0)
        peak = max(peak, topics.lag())
    return {
        "burst": size,
        "burst_peak_lag": peak,
        "burst_drained_s": round(time.time() - t_burst, 1) if not topics.lag() else None,
    }


def bench_runner(runner: str, args, articles: Articles) -> dict:
    run = uuid.uuid4().hex[:8]
    topics = Topics(args.bootstrap, f"bench-in-{run}", f"bench-out-{run}")
    backlog = [articles.next() for _ in range(args.backlog)]
    for a in backlog:
        topics.send(a)
    topics.flush()
    proc, log = start_pipeline(runner, args.bootstrap, topics.topic_in, f"bench-out-{run}", run, args.extra.split())
    sampler = PeakRss(proc.pid)
    sampler.start()
    started = time.time()
    result: dict = {"runner": runner, "log": log}
    try:
        topics.wait_for([a["id"] for a in backlog], 1800, proc)
        stamps = sorted(topics.seen.values())
        capacity = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        result.update(capacity=round(capacity, 2), first_output_s=round(stamps[0] - started, 1))
        print(f"{runner} backlog: {capacity:.2f} articles/s", flush=True)
        warm = paced(topics, articles, 1.0, args.warmup)
        topics.wait_for(warm, 120, proc)
        result["loads"] = load_levels(runner, args, topics, articles, capacity, proc)
        result.update(burst(topics, articles, args.burst))
    finally:
        stop(proc, timeout=60)
        sampler.stopped.set()
    result.update(
        sent=len(topics.sent), lost=topics.lag(), rss_by_role_mb=sampler.roles_mb(cluster=runner == "flink-cluster")
    )
    return result


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r, colour in zip(results, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        x = [level["fraction"] * 100 for level in r["loads"]]
        for key, style in (("p50_s", "-o"), ("p95_s", "--s"), ("max_s", ":^")):
            ax.plot(x, [level[key] for level in r["loads"]], style, color=colour, label=f"{r['runner']} {key[:-2]}")
    ax.axhline(3.0, color="grey", linewidth=0.8)
    ax.set_xlabel("load, % of the runner's measured capacity")
    ax.set_ylabel("latency input -> output message, s")
    ax.set_title("Kafka -> Kafka latency against load (2 cores)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(results: list[dict], argv: list[str], plot_path: Path | None) -> str:
    lines = [
        f"# Kafka benchmark ({time.strftime('%Y-%m-%d')})",
        "",
        f"`python -m bench.kafka {' '.join(argv)}` — one broker (`make kafka-up`), default models and "
        "settings, topic to topic, `--window-seconds 10`.",
        "",
        "| runner | capacity articles/s | load | rate/s | articles | p50 s | p95 s | max s | missing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for level in r["loads"]:
            lines.append(
                f"| {r['runner']} | {r['capacity']} | {level['fraction']:.0%} | {level['rate']} | "
                f"{level['articles']} | {level['p50_s']} | {level['p95_s']} | {level['max_s']} | "
                f"{level['missing']} |"
            )
    lines += [
        "",
        "| runner | first output s (model load incl.) | burst | peak lag | drained in s | inputs | "
        "without output | peak RSS MB by role |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['runner']} | {r['first_output_s']} | {r['burst']} | {r['burst_peak_lag']} | "
            f"{r['burst_drained_s']} | {r['sent']} | {r['lost']} | {r['rss_by_role_mb']} |"
        )
    if plot_path:
        lines += ["", f"![latency against load]({plot_path.name})"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--runners", default="prism", help="prism, flink-local, flink-cluster (comma separated)")
    ap.add_argument("--input", type=Path, default=NEWS if NEWS.exists() else FIXTURE)
    ap.add_argument("--backlog", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10, help="articles, one a second, before the load levels")
    ap.add_argument("--loads", type=lambda s: [float(x) for x in s.split(",")], default=[0.25, 0.5, 0.9])
    ap.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[],
        help="fixed articles/s per level instead of --loads (to compare settings at one load)",
    )
    ap.add_argument("--steady-seconds", type=float, default=40)
    ap.add_argument("--burst", type=int, default=150)
    ap.add_argument("--extra", default="", help="more pipeline flags, space separated")
    ap.add_argument("--report", type=Path)
    ap.add_argument("--plot", type=Path, help="latency-against-load chart (PNG)")
    ap.add_argument("--timeline", type=Path, help="append each load-level article's send time and latency")
    args = ap.parse_args(argv)
    articles = Articles(args.input)
    results = []
    for runner in [r for r in args.runners.split(",") if r]:
        results.append(bench_runner(runner, args, articles))
        print(json.dumps(results[-1]), flush=True)
    if args.plot:
        plot(results, args.plot)
    text = report(results, argv if argv is not None else sys.argv[1:], args.plot)
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0 if not any(r["lost"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
