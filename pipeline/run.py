"""`news-ingest run`: build the graph from options, run it, print a summary."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import signal
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import graph
from pipeline.options import NewsIngestOptions
from pipeline.runtime import engines, flink, output_dir, processes
from transforms.inference.loading import ModelNotAvailable
from transforms.inference.threads import available_cores

log = logging.getLogger("news_ingest")

USAGE = """news-ingest run --input GLOB [--input GLOB ...] --output DIR [options] [Beam options]
       news-ingest run --streaming --watch GLOB --output DIR [--window-seconds N] [--max-runtime S]"""

EPILOG = """Beam options pass through: --runner (default here: the in-process FnApiRunner, the engine
behind Beam's DirectRunner, without its attempt to download the Prism runner), --direct_num_workers N
--direct_running_mode multi_processing (parallel local workers), and Dataflow/Flink flags such as
--project, --region, --temp_location, --setup_file ./setup.py.

--runner PrismRunner (a local streaming engine) and --runner FlinkRunner find the files fetched by
`make engines` themselves (--prism_location, --flink_job_server_jar); Python SDK workers run LOOPBACK.
FlinkRunner runs on an embedded Flink (--flink_master '[local]', the default) or a session cluster
(--flink_master localhost:8081; `make flink-up` starts one); streaming on Flink checkpoints every 10 s
(--checkpointing_interval MS). Streaming jobs stop cleanly on Ctrl-C / SIGTERM (a Flink job is
cancelled on the cluster too)."""


def help_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-ingest run",
        usage=USAGE,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Enrich news articles with NER and zero-shot topics; write Avro.",
    )
    parser.add_argument("--streaming", action="store_true", help="streaming mode (with --watch)")
    NewsIngestOptions._add_argparse_args(parser)
    return parser


def make_pipeline(options: PipelineOptions, explicit_runner: bool) -> beam.Pipeline:
    if explicit_runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)


def check_args(opts: NewsIngestOptions, streaming: bool, explicit_runner: bool = False) -> str | None:
    if not opts.output and not (streaming and opts.kafka_output_topic):
        return "--output DIR is required (or, streaming, --kafka-output-topic TOPIC)"
    if opts.inference_backend != "torch":
        from transforms.inference.onnx_runtime import OnnxRuntimeUnavailable, require_onnxruntime

        try:
            require_onnxruntime()
        except OnnxRuntimeUnavailable as e:
            return str(e)
    if opts.kafka_topic or opts.kafka_output_topic:
        if not streaming:
            return "Kafka topics need --streaming"
        if not explicit_runner:
            return (
                "Kafka needs a streaming runner, e.g. --runner PrismRunner: the default in-process runner "
                "writes windows only when its source ends, and a topic never ends"
            )
        try:
            import confluent_kafka  # noqa: F401
        except ImportError:
            return "Kafka needs the confluent-kafka package: pip install 'news-ingest[kafka]'"
    if streaming:
        if not (opts.watch or opts.kafka_topic):
            return "--streaming needs --watch GLOB or --kafka-topic TOPIC"
        if opts.watch and opts.kafka_topic:
            return "--watch and --kafka-topic: choose one source"
        if opts.max_runtime <= 0 and not explicit_runner:
            return (
                "--max-runtime 0 (run until stopped) needs a streaming runner, e.g. --runner PrismRunner: "
                "the default in-process runner writes windows only when the watch ends"
            )
        return None
    if not opts.input:
        return "--input GLOB is required (or --streaming --watch GLOB)"
    for pattern in opts.input:
        if "://" not in pattern and not glob.glob(os.path.expanduser(pattern)):
            return f"--input {pattern!r} matches no files"
    return None


def query_metrics(result) -> dict | None:
    """All metrics of a finished run, or None where the runner's result has none (a Dataflow dry run,
    a job left running remotely).

    Beam's FnApiRunner consolidates metrics with one nested generator per bundle; a long streaming
    run (a bundle per poll) nests deeper than Python's default recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        return result.metrics().query()
    except RecursionError:
        log.warning("metrics unavailable (too many bundles to consolidate)")
        return None
    except (NotImplementedError, AttributeError) as e:
        log.info("this runner reports no metrics (%s)", type(e).__name__)
        return None
    finally:
        sys.setrecursionlimit(limit)


def counters(metrics: dict) -> dict[str, int]:
    out = {}
    for c in metrics["counters"]:
        if c.key.metric.namespace == graph.METRICS_NS:
            out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return out


def stage_seconds(metrics: dict) -> dict[str, float]:
    """Model time per stage (RunInference's batch latency, summed over workers) and model loading."""
    out: dict[str, float] = {}
    for d in metrics["distributions"]:
        ns, name = d.key.metric.namespace, d.key.metric.name
        value = d.committed or d.attempted
        if not ns.startswith("news_ingest_") or value is None:
            continue
        stage = ns[len("news_ingest_") :].split("_")[0]
        if name.endswith("inference_batch_latency_micro_secs"):
            out[f"{stage}_seconds"] = out.get(f"{stage}_seconds", 0.0) + value.sum / 1e6
        elif name.endswith("load_model_latency_milli_secs"):
            out["model_load_seconds"] = out.get("model_load_seconds", 0.0) + value.sum / 1e3
            out["model_loads"] = out.get("model_loads", 0) + value.count  # one per model per SDK worker
    return {k: v if k == "model_loads" else round(v, 2) for k, v in out.items()}


def summary_line(result, opts: NewsIngestOptions, wall: float, cancelled: bool = False) -> dict:
    summary: dict = {}
    metrics = query_metrics(result)
    if metrics is not None and cancelled and not counters(metrics):
        metrics = None  # Flink reports no metrics of a cancelled job: no counts, rather than zeros
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
    summary["wall_seconds"] = round(wall, 2)
    if metrics is not None:
        summary["articles_per_second"] = round(summary["articles_in"] / wall, 2) if wall else 0.0
        summary.update(stage_seconds(metrics))
    summary["output"] = opts.output
    return summary


def job_status(result) -> dict:
    """Job id and state of a job left running on a remote service (none for a dry run)."""
    status = {}
    try:
        status["job_id"] = result.job_id()
    except Exception:  # noqa: BLE001 - dry runs and some runners have no job
        status["job_id"] = None
    try:
        status["state"] = str(result.state)
    except Exception:  # noqa: BLE001
        status["state"] = None
    return status


class FlinkJob:
    """The Flink job of a run on a session cluster: found by its name, reported, cancelled by id."""

    def __init__(self, master: str, job_name: str):
        self.master, self.job_name, self.job_id = master, job_name, None

    def find(self) -> None:
        self.job_id = flink.find_job(self.master, self.job_name)
        if self.job_id:
            log.info("Flink job %s on %s: %s", self.job_id, self.master, self.web_ui())

    def web_ui(self) -> str:
        return f"{flink.rest_url(self.master)}/#/job/running/{self.job_id}/overview"

    def cancel(self) -> None:
        if self.job_id:
            state = flink.cancel_job(self.master, self.job_id)
            log.info("Flink job %s: %s", self.job_id, state)

    def summary(self) -> dict:
        return {"flink_job_id": self.job_id, "flink_web_ui": self.web_ui() if self.job_id else None}


def flink_job(argv: list[str], options: PipelineOptions) -> FlinkJob | None:
    """The Flink job this run submits to a session cluster (after checking the cluster can take it), or
    None for other runners and an embedded Flink."""
    master = engines.flink_master(argv)
    if master is None or flink.rest_url(master) is None:
        return None
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, GoogleCloudOptions

    flink.check_cluster(master, options.view_as(FlinkRunnerOptions).flink_version)
    return FlinkJob(master, options.view_as(GoogleCloudOptions).job_name)


class _Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM while a streaming job runs."""


def _raise_stop(signum, _frame):
    raise _Stop(signal.Signals(signum).name)


def run_until_done_or_stopped(result, streaming: bool, stop_after: float = 0, job: FlinkJob | None = None) -> str:
    """Waits for the job. A streaming job is cancelled on Ctrl-C / SIGTERM (a clean stop, exit 0), or
    after ``stop_after`` seconds when its source never ends by itself (Kafka). Windows already written
    stay; input whose output was not written yet is read again by the next run (files: the watch
    re-reads the folder; Kafka: offsets are committed only after the output exists)."""
    if not streaming:
        result.wait_until_finish()
        return "done"
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result.wait_until_finish(duration=int(stop_after * 1000) if stop_after > 0 else None)
        if not beam.runners.runner.PipelineState.is_terminal(result.state):
            log.info("--max-runtime reached: stopping the streaming job")
            _cancel(result, job)
            return "max-runtime"
        return "done"
    except _Stop as stop:
        log.info("%s: stopping the streaming job", stop)
        _cancel(result, job)
        return "stopped"
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _cancel(result, job: FlinkJob | None = None) -> None:
    try:
        result.cancel()
    except Exception as e:  # noqa: BLE001 - a runner that cannot cancel is stopped by our exit
        log.warning("could not cancel the job cleanly: %s", e)
    if job is not None:  # Beam's cancel leaves the job running on a Flink session cluster
        job.cancel()


def _java_environment_problem(error: Exception) -> str | None:
    """One line for a job that failed because a Java transform asked for an environment the runner cannot
    start here (Docker, Java's default)."""
    text = str(error)
    if "docker" in text.lower() and ("beam_java" in text or "java" in text.lower()):
        return (
            "the Java Kafka IO asked the runner for a Docker environment, and none can run here: use the "
            "expansion service the CLI starts (it offers an EXTERNAL Java worker), or start yours with "
            "--defaultEnvironmentType=EXTERNAL --defaultEnvironmentConfig=HOST:PORT"
        )
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    for noisy in ("apache_beam", "transformers", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    engine_log = engines.log_engine_output() if (engines.runner_name(argv) or "").lower() == "flinkrunner" else None
    explicit_runner = engines.runner_name(argv) is not None
    try:
        argv = engines.complete_runner_args(argv)
    except engines.EngineUnavailable as e:
        print(f"news-ingest run: error: {e}", file=sys.stderr)
        return 2
    import transformers

    transformers.utils.logging.disable_progress_bar()
    options = PipelineOptions(argv)
    opts = options.view_as(NewsIngestOptions)
    streaming = options.view_as(StandardOptions).streaming
    problem = check_args(opts, streaming, explicit_runner)
    if problem:
        print(f"news-ingest run: error: {problem}", file=sys.stderr)
        return 2
    options.view_as(beam.options.pipeline_options.SetupOptions).save_main_session = False
    workers = options.view_as(beam.options.pipeline_options.DirectOptions).direct_num_workers or 1
    if workers > 1:
        # one process per worker: split the cores instead of oversubscribing them
        if not opts.torch_threads:
            opts.torch_threads = max(1, available_cores() // workers)
        if not opts.article_threads:
            opts.article_threads = 1
    local_output = bool(opts.output) and "://" not in opts.output
    if local_output:
        os.makedirs(opts.output, exist_ok=True)
    if local_output and not streaming:
        for path in output_dir.remove_leftover_temp_dirs(opts.output):
            log.info("removed leftover temporary folder %s (an earlier run was interrupted)", path)
        removed = output_dir.remove_previous_outputs(opts.output)
        if removed:
            log.info("replacing %d output files of an earlier run in %s", len(removed), opts.output)
    started = time.time()
    job = None
    try:
        job = flink_job(argv, options)
        with contextlib.ExitStack() as services:
            expansion = None
            if opts.kafka_topic:
                from pipeline.runtime.expansion_service import kafka_expansion_service

                expansion = services.enter_context(kafka_expansion_service(opts.kafka_expansion_service))
            p = make_pipeline(options, explicit_runner)
            graph.build(p, opts, expansion_service=expansion)
            result = p.run()
            if job is not None:
                job.find()
            if engines.runs_remotely(argv):
                ending = "submitted"  # the job runs on: its id and state are in the summary
            else:
                ending = run_until_done_or_stopped(result, streaming, opts.max_runtime if opts.kafka_topic else 0, job)
        wall = time.time() - started
        # before the job server stops: it holds the metrics
        summary = summary_line(result, opts, wall, cancelled=ending in ("stopped", "max-runtime"))
    except engines.EngineUnavailable as e:
        print(f"news-ingest run: error: {e}", file=sys.stderr)
        return 2
    except ModelNotAvailable as e:
        print(f"news-ingest run: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # Beam wraps worker errors; surface a model error plainly
        if "ModelNotAvailable" in str(e):
            msg = str(e).split("ModelNotAvailable:")[-1].strip().splitlines()[0]
            print(f"news-ingest run: error: {msg}", file=sys.stderr)
            return 2
        problem = _java_environment_problem(e)
        if problem:
            print(f"news-ingest run: error: {problem}", file=sys.stderr)
            return 2
        raise
    finally:
        job_server_jar = engines.given(argv, "--flink_job_server_jar")
        if job_server_jar:
            processes.stop_children_running(job_server_jar)
        if engine_log and os.path.getsize(engine_log):
            log.info("the job server's log: %s", engine_log)
        elif engine_log:
            os.remove(engine_log)  # no job server was started
        if local_output and streaming:
            output_dir.remove_partial_window_files(opts.output)
    if ending != "done":
        summary["ended"] = ending
    if ending == "submitted":
        summary.update(job_status(result))
    if job is not None:
        summary.update(job.summary())
    print("summary: " + json.dumps(summary), flush=True)
    return 0
