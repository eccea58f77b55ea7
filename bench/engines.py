"""Engines benchmark: batch throughput per runner and streaming latency, Prism and Flink.

    python -m bench.engines [--articles N] [--runners fnapi,prism,flink-local-p1,...]
                            [--latency-runners prism,flink-local] [--latency-seconds 90] [--report FILE]

* batch: `news-ingest run` over the sample articles on each runner in a fresh process: articles/s,
  model loads (one per model per SDK worker) and the peak RSS of every process that takes part, by
  role (the CLI with its LOOPBACK SDK workers, Prism, the Flink job server, the cluster's JobManager
  and TaskManagers), sampled from /proc every 0.5 s. The `flink-cluster-*` runners (re)start the
  session cluster with that many TaskManagers first (engines/flink.sh);
* streaming latency (`--window-seconds 10`): one small file lands every `--drop-interval` seconds; the
  latency of an article is the time from its file landing to the first moment a window file holding
  it is visible in the output folder. p50/p95 over all articles.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import fastavro

from bench.runs import pipeline_command, read_summary
from pipeline.runtime.processes import stop

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news" / "articles.jsonl"
FIXTURE = ROOT / "tests" / "fixtures" / "written_articles.jsonl"
FLINK_CLUSTER = ["--runner", "FlinkRunner", "--flink_master", "localhost:8081"]
RUNNER_ARGS = {
    "fnapi": [],
    "prism": ["--runner", "PrismRunner"],
    "flink-local-p1": ["--runner", "FlinkRunner", "--parallelism", "1"],
    "flink-local-p2": ["--runner", "FlinkRunner", "--parallelism", "2"],
    "flink-local": ["--runner", "FlinkRunner", "--parallelism", "2"],
    "flink-cluster-1tm": [*FLINK_CLUSTER, "--parallelism", "2"],
    "flink-cluster-2tm": [*FLINK_CLUSTER, "--parallelism", "2"],
    "flink-cluster": [*FLINK_CLUSTER, "--parallelism", "2"],
}
# processes by role, recognised by their command line
ROLES = (
    ("Flink JobManager", "StandaloneSessionClusterEntrypoint"),
    ("Flink TaskManagers", "TaskManagerRunner"),
    ("Flink job server", "job-server"),
    ("Kafka expansion", "kafka-expansion-service"),
    ("Prism", "/prism"),
    ("CLI + SDK workers", "pipeline run"),
)


def cluster(taskmanagers: int) -> None:
    """A fresh session cluster with this many TaskManagers (a fresh one: the runs do not share a JVM)."""
    env = dict(os.environ, FLINK_TASKMANAGERS=str(taskmanagers))
    subprocess.run([str(ROOT / "engines" / "flink.sh"), "down"], check=True, capture_output=True)
    subprocess.run([str(ROOT / "engines" / "flink.sh"), "up"], check=True, capture_output=True, env=env)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _role(cmd: str) -> str | None:
    if ROLES[-1][1] in cmd:  # the CLI first: its own arguments may name an engine's files
        return ROLES[-1][0]
    return next((name for name, needle in ROLES if needle in cmd), None)


def _role_samples() -> tuple[dict[str, int], dict[int, tuple[str, float]]]:
    """(resident KB per role, {pid: (role, CPU seconds so far)}) of the processes that take part."""
    rss: dict[str, int] = {}
    cpu: dict[int, tuple[str, float]] = {}
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            cmd = open(cmdline, "rb").read().replace(b"\0", b" ").decode(errors="replace")
            role = _role(cmd)
            if role is None:
                continue
            for line in open(cmdline.replace("cmdline", "status")):
                if line.startswith("VmRSS:"):
                    rss[role] = rss.get(role, 0) + int(line.split()[1])
            fields = open(cmdline.replace("cmdline", "stat")).read().rsplit(")", 1)[1].split()
            cpu[int(cmdline.split("/")[2])] = (role, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        except (OSError, IndexError, ValueError):
            continue
    return rss, cpu


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
            parents[int(stat.split("/")[2])] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _shown(role: str, cluster: bool) -> bool:
    """The session cluster's processes count only for a run on it (they idle otherwise)."""
    return cluster or not role.startswith(("Flink JobManager", "Flink TaskManagers"))


class PeakRss(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak_kb, self.stopped = pid, every, 0, threading.Event()
        self.by_role: dict[str, int] = {}
        self.first_cpu: dict[int, tuple[str, float]] = {}
        self.last_cpu: dict[int, tuple[str, float]] = {}

    def run(self):
        while not self.stopped.wait(self.every):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            rss, cpu = _role_samples()
            for role, kb in rss.items():
                self.by_role[role] = max(self.by_role.get(role, 0), kb)
            for pid, sample in cpu.items():
                self.first_cpu.setdefault(pid, sample)
            self.last_cpu.update(cpu)

    def cpu_by_role(self, cluster: bool) -> str:
        """CPU seconds each role used during the run (processes that were already running count from the
        first sample; the CLI from its start)."""
        used: dict[str, float] = {}
        for pid, (role, seconds) in self.last_cpu.items():
            before = 0.0 if pid == self.pid else self.first_cpu[pid][1]
            if pid != self.pid and role == "CLI + SDK workers" and seconds == before:
                continue
            used[role] = used.get(role, 0.0) + seconds - before
        return ", ".join(
            f"{role} {used[role]:.0f}"
            for role, _ in ROLES
            if role in used and used[role] >= 0.5 and _shown(role, cluster)
        )

    def roles_mb(self, cluster: bool) -> str:
        """Peak MB per role; the session cluster's processes only for a run on it (they idle otherwise)."""
        return ", ".join(
            f"{role} {self.by_role[role] // 1024}"
            for role, _ in ROLES
            if role in self.by_role and _shown(role, cluster)
        )


def records_digest(out: str) -> str:
    """A hash of every record and dead letter written, in id order, without the wall-clock fields
    (``ingested_at``, ``failed_at``): equal digests mean the runs wrote the same records."""
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "*.avro"))):
        with open(path, "rb") as fh:
            rows += [
                json.dumps(
                    {k: v for k, v in r.items() if k not in ("ingested_at", "failed_at")}, sort_keys=True, default=str
                )
                for r in fastavro.reader(fh)
            ]
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()[:12]


def batch_run(inp: Path, runner: str, extra: list[str]) -> dict:
    if runner.startswith("flink-cluster-"):
        cluster(int(runner.rsplit("-", 1)[1].rstrip("tm")))
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        proc = subprocess.Popen(
            pipeline_command("--input", str(inp), "--output", out, *RUNNER_ARGS[runner], *extra),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        sampler = PeakRss(proc.pid)
        sampler.start()
        output, _ = proc.communicate()
        sampler.stopped.set()
        wall = time.time() - started
        if proc.returncode:
            raise RuntimeError(f"{runner} run failed:\n{output[-3000:]}")
        summary = read_summary(output)
        digest = records_digest(out)
    return {
        "runner": runner,
        "articles": summary["articles_in"],
        "records": summary["records_out"],
        "dead_letters": summary["dead_letters"],
        "wall_s": round(wall, 1),
        "articles_per_s": round(summary["articles_in"] / wall, 2),
        "peak_rss_mb": sampler.peak_kb // 1024,
        "rss_by_role_mb": sampler.roles_mb(cluster=runner.startswith("flink-cluster")),
        "cpu_s_by_role": sampler.cpu_by_role(cluster=runner.startswith("flink-cluster")),
        "ner_s": summary.get("ner_seconds"),
        "topics_s": summary.get("topics_seconds"),
        "model_loads": summary.get("model_loads"),
        "model_load_s": summary.get("model_load_seconds"),
        "records_digest": digest,
    }


class LatencyProbe:
    """Articles dropped one file at a time into a watched folder, and the moment each one's record is
    visible in a window file of the output folder."""

    def __init__(self, watch: Path, out: Path):
        self.watch, self.out = watch, out
        self.landed: dict[str, float] = {}
        self.visible: dict[str, float] = {}
        self.seen_files: set[str] = set()

    def scan(self) -> None:
        for path in glob.glob(str(self.out / "articles-*.avro")):
            if path not in self.seen_files:
                self.seen_files.add(path)
                now = time.time()
                with open(path, "rb") as fh:
                    for r in fastavro.reader(fh):
                        self.visible.setdefault(r["id"], now)

    def drop(self, name: str, article: dict) -> None:
        path = self.watch / name
        tmp_path = path.with_suffix(".part")
        tmp_path.write_text(json.dumps(article) + "\n")
        os.replace(tmp_path, path)  # lands whole: the watch never sees half a file
        self.landed[article["id"]] = time.time()

    def wait(self, until: float, done=lambda: False, every: float = 0.25) -> None:
        """Scans every ``every`` seconds until the time ``until`` or until ``done()``."""
        while time.time() < until and not done():
            time.sleep(every)
            self.scan()

    def latencies(self) -> tuple[list[float], list[str]]:
        """(sorted latencies of the paced articles, ids of those never visible)."""
        lat = sorted(self.visible[k] - self.landed[k] for k in self.landed if k in self.visible and k != "warmup")
        return lat, [k for k in self.landed if k not in self.visible]


def drop_paced(probe: LatencyProbe, proc, articles: list[dict], seconds: float, interval: float, window: int) -> None:
    """The first drop waits for the job to be up (model loading), then one drop every ``interval`` s for
    ``seconds``; then the output has until three windows and 30 s to show every article."""
    warm = {"id": "warmup", "title": "warm-up", "text": "Warm-up article about drones over Kyiv."}
    probe.drop("000-warmup.jsonl", warm)
    probe.wait(time.time() + 180, lambda: "warmup" in probe.visible or proc.poll() is not None)
    i, start = 0, time.time()
    while time.time() - start < seconds:
        probe.drop(f"{i + 1:03d}.jsonl", dict(articles[i % len(articles)], id=f"lat-{i:05d}"))
        i += 1
        probe.wait(start + i * interval, every=0.1)
    probe.wait(time.time() + 3 * window + 30, lambda: set(probe.landed) <= set(probe.visible))


def streaming_latency(
    articles: list[dict], seconds: float, interval: float, window: int, extra: list[str], runner: str = "prism"
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        watch, out = Path(tmp) / "watch", Path(tmp) / "out"
        watch.mkdir()
        proc = subprocess.Popen(
            pipeline_command(
                *RUNNER_ARGS[runner],
                "--streaming",
                "--watch",
                str(watch / "*.jsonl"),
                "--output",
                str(out),
                "--window-seconds",
                str(window),
                "--poll-seconds",
                "1",
                "--max-runtime",
                "0",
                *extra,
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        probe = LatencyProbe(watch, out)
        try:
            drop_paced(probe, proc, articles, seconds, interval, window)
        finally:
            stop(proc, timeout=60)
        lat, missing = probe.latencies()
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
    return {
        "runner": runner,
        "articles": len(lat),
        "missing": len(missing),
        "window_s": window,
        "drop_interval_s": interval,
        "p50_s": round(statistics.median(lat), 1) if lat else None,
        "p95_s": round(q[18], 1),
        "max_s": round(max(lat), 1) if lat else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=NEWS if NEWS.exists() else FIXTURE)
    ap.add_argument("--articles", type=int, default=0, help="first N articles (0: all)")
    ap.add_argument("--runners", default="fnapi,prism")
    ap.add_argument("--latency-runners", default="prism")
    ap.add_argument("--latency-seconds", type=float, default=90)
    ap.add_argument("--drop-interval", type=float, default=2.0)
    ap.add_argument("--window-seconds", type=int, default=10)
    ap.add_argument("--extra", default="", help="more pipeline flags, space separated")
    ap.add_argument("--report", type=Path)
    args = ap.parse_args(argv)
    extra = args.extra.split()
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    if args.articles:
        rows = rows[: args.articles]
    lines = [
        f"# Engines benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)",
        "",
        f"`python -m bench.engines {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
        f"Batch: {len(rows)} articles from `{args.input.name}`.",
        "",
        "| runner | articles | records | dead letters | wall s | articles/s | peak RSS MB (CLI tree) | "
        "peak RSS MB by role | CPU s by role | NER s | topics s | model loads | model load s | records digest |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "articles.jsonl"
        inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        for runner in [r for r in args.runners.split(",") if r]:
            r = batch_run(inp, runner, extra)
            print(json.dumps(r), flush=True)
            lines.append(
                f"| {r['runner']} | {r['articles']} | {r['records']} | {r['dead_letters']} | {r['wall_s']} | "
                f"{r['articles_per_s']} | {r['peak_rss_mb']} | {r['rss_by_role_mb']} | {r['cpu_s_by_role']} | "
                f"{r['ner_s']} | {r['topics_s']} | {r['model_loads']} | "
                f"{r['model_load_s']} | {r['records_digest']} |"
            )
    latency_runners = [r for r in args.latency_runners.split(",") if r] if args.latency_seconds > 0 else []
    if latency_runners:
        lines += [
            "",
            f"Streaming, `--window-seconds {args.window_seconds}`, one article landing every "
            f"{args.drop_interval} s for {args.latency_seconds:.0f} s: latency from a file landing to "
            f"its window's Avro file being visible.",
            "",
            "| runner | articles | missing | p50 s | p95 s | max s |",
            "|---|---|---|---|---|---|",
        ]
    for runner in latency_runners:
        if runner == "flink-cluster":
            cluster(1)
        s = streaming_latency(rows, args.latency_seconds, args.drop_interval, args.window_seconds, extra, runner)
        print(json.dumps(s), flush=True)
        lines.append(f"| {runner} | {s['articles']} | {s['missing']} | {s['p50_s']} | {s['p95_s']} | {s['max_s']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
