"""Kafka benchmark: topic-to-topic throughput, latency at a steady rate, and an overload burst.

    make kafka-up && python -m bench.kafka [--runner prism|flink-local|flink-cluster] [--backlog 300]
                                           [--steady-seconds 60] [--burst 150] [--report FILE]

One streaming run (`--kafka-topic IN --kafka-output-topic OUT`, default models and settings; Prism by
default, `flink-cluster` needs `make flink-up`):
1. backlog: `--backlog` real articles are in the input topic before the job starts; sustained
   articles/s = outputs per second from the first output to the last (model loading excluded);
2. steady: one article every 1/rate s for `--steady-seconds`, rate = `--steady-fraction` of (1);
   latency = output message timestamp - input message timestamp (both CreateTime, same clock), p50/p95;
3. burst: `--burst` articles at once; lag (inputs without output) sampled every second: its peak,
   the time until it is back to zero, and whether every input got its output.
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

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news" / "articles.jsonl"
FIXTURE = ROOT / "tests" / "fixtures" / "written_articles.jsonl"


class Topics:
    def __init__(self, bootstrap: str, topic_in: str, topic_out: str):
        from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

        self.topic_in = topic_in
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(topic_out, 0, OFFSET_BEGINNING),
                              TopicPartition(topic_out + ".deadletter", 0, OFFSET_BEGINNING)])
        self.sent: dict[str, float] = {}  # article id -> produce time (s)
        self.seen: dict[str, float] = {}  # article id -> output message timestamp (s)

    def send(self, article: dict):
        self.producer.produce(self.topic_in, key=article["id"].encode(), value=json.dumps(article).encode())
        self.producer.poll(0)
        self.sent[article["id"]] = time.time()

    def flush(self):
        self.producer.flush(30)

    def drain(self, seconds: float = 0.5):
        from transforms import avro_messages
        import schemas

        writers = {avro_messages.schema_fingerprint(n): schemas.parsed(n)
                   for n in (schemas.ENRICHED_ARTICLE, schemas.DEAD_LETTER)}
        end = time.time() + seconds
        while time.time() < end:
            m = self.consumer.poll(0.1)
            if m is None or m.error():
                continue
            record = avro_messages.decode(m.value(), writers)
            key = record.get("id") or record.get("article_id") or f'@{record["source_line"]}'
            self.seen.setdefault(key, m.timestamp()[1] / 1000)

    def lag(self) -> int:
        return len(set(self.sent) - set(self.seen))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--runner", default="prism", choices=("prism", "flink-local", "flink-cluster"))
    ap.add_argument("--input", type=Path, default=NEWS if NEWS.exists() else FIXTURE)
    ap.add_argument("--backlog", type=int, default=300)
    ap.add_argument("--steady-seconds", type=float, default=60)
    ap.add_argument("--steady-fraction", type=float, default=0.5)
    ap.add_argument("--burst", type=int, default=150)
    ap.add_argument("--extra", default="", help="more pipeline flags, space separated")
    ap.add_argument("--report", type=Path)
    ap.add_argument("--timeline", type=Path, help="write each steady article's send time and latency (JSON lines)")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    counter = iter(range(10**9))

    def next_article():
        i = next(counter)
        return dict(rows[i % len(rows)], id=f"bench-{i:06d}")

    run = uuid.uuid4().hex[:8]
    topics = Topics(args.bootstrap, f"bench-in-{run}", f"bench-out-{run}")
    for _ in range(args.backlog):
        topics.send(next_article())
    topics.flush()
    log = tempfile.NamedTemporaryFile("w", prefix="bench-kafka-", suffix=".log", delete=False)
    from bench.engines import RUNNER_ARGS

    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", *RUNNER_ARGS[args.runner], "--streaming",
                             "--kafka-bootstrap", args.bootstrap, "--kafka-topic", topics.topic_in,
                             "--kafka-group-id", f"bench-{run}", "--kafka-output-topic", f"bench-out-{run}",
                             "--window-seconds", "10", "--max-runtime", "0", *args.extra.split()],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    started = time.time()
    try:
        # 1. backlog
        while len(topics.seen) < args.backlog and time.time() - started < 1800:
            if proc.poll() is not None:
                raise RuntimeError(f"pipeline exited; log {log.name}")
            topics.drain()
        stamps = sorted(topics.seen.values())
        capacity = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        first_output = stamps[0] - started
        print(f"backlog: {len(stamps)} articles, {capacity:.2f} articles/s sustained, "
              f"first output {first_output:.1f} s after start", flush=True)
        # 2. steady
        rate = args.steady_fraction * capacity
        steady_ids, t0 = [], time.time()
        while time.time() - t0 < args.steady_seconds:
            a = next_article()
            topics.send(a)
            steady_ids.append(a["id"])
            until = t0 + len(steady_ids) / rate
            while time.time() < until:
                topics.drain(min(0.2, max(0.0, until - time.time())))
        topics.flush()
        deadline = time.time() + 120
        while time.time() < deadline and not set(steady_ids) <= set(topics.seen):
            topics.drain()
        latencies = sorted(topics.seen[i] - topics.sent[i] for i in steady_ids if i in topics.seen)
        if args.timeline:
            args.timeline.write_text("".join(
                json.dumps({"id": i, "sent_s": round(topics.sent[i] - t0, 3),
                            "latency_s": round(topics.seen[i] - topics.sent[i], 3)}) + "\n"
                for i in steady_ids if i in topics.seen))
        q = statistics.quantiles(latencies, n=20)
        print(f"steady: {len(steady_ids)} articles at {rate:.2f}/s, p50 {statistics.median(latencies):.1f} s, "
              f"p95 {q[18]:.1f} s", flush=True)
        # 3. burst
        burst_ids = []
        for _ in range(args.burst):
            a = next_article()
            topics.send(a)
            burst_ids.append(a["id"])
        topics.flush()
        t_burst, lags = time.time(), []
        while time.time() - t_burst < 900:
            topics.drain(1.0)
            lags.append((round(time.time() - t_burst, 1), topics.lag()))
            if topics.lag() == 0:
                break
        recovered = lags[-1][0] if lags and lags[-1][1] == 0 else None
        print(f"burst: {args.burst} articles, peak lag {max(l for _, l in lags)}, recovered after {recovered} s",
              flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    lost = sorted(set(topics.sent) - set(topics.seen))
    lines = [
        f"# Kafka benchmark ({time.strftime('%Y-%m-%d')})", "",
        f"`python -m bench.kafka {' '.join(argv if argv is not None else sys.argv[1:])}` — {args.runner}, one broker "
        "(`make kafka-up`), default models and settings, topic to topic.", "",
        "| phase | articles | result |", "|---|---|---|",
        f"| backlog (throughput) | {args.backlog} | **{capacity:.2f} articles/s** sustained (first output "
        f"{first_output:.1f} s after start, model loading included there) |",
        f"| steady at {args.steady_fraction:.0%} of capacity ({rate:.2f}/s for {args.steady_seconds:.0f} s) | "
        f"{len(steady_ids)} | latency input → output message: p50 **{statistics.median(latencies):.1f} s**, "
        f"p95 **{q[18]:.1f} s**, max {latencies[-1]:.1f} s |",
        f"| burst | {args.burst} | peak lag {max(l for _, l in lags)} articles, back to 0 after "
        f"{recovered} s |",
        f"| all | {len(topics.sent)} | {len(lost)} without output |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
