"""`news-ingest run`: the RunConfig from the command line, the run, a one-line summary.

``run_pipeline(config, beam_args)`` is a whole run in this process, for this command and for the offline
commands alike: it completes the runner's flags (engine files), prepares the output folder, starts what the
graph needs (the Kafka expansion service), runs the graph, waits for the job and reads its metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import logging
import os
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    SetupOptions,
)
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline import graph, summary
from pipeline.config import KafkaConfig, RunConfig
from pipeline.options import NewsIngestOptions, beam_args
from pipeline.runtime import engines, flink, job, job_server, output_dir, processes
from pipeline.runtime.expansion_service import kafka_expansion_service
from transforms.inference.loading import ModelNotAvailable
from transforms.inference.onnx_runtime import OnnxRuntimeUnavailable, require_onnxruntime
from transforms.inference.settings import Backend
from transforms.inference.threads import available_cores
from transforms.io.avro_messages import CONFLUENT, SINGLE_OBJECT
from transforms.io.schema_registry import SchemaRegistryError, register_value_schema

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class RunResult:
    state: str  # how the run ended: job.DONE, job.STOPPED, job.MAX_RUNTIME or job.SUBMITTED
    counters: dict[str, int]  # the graph's counters (units, records, dead_letters, ...); {}: none reported
    seconds: float  # from the start of the job to its end (or its submission)
    first_record_at: float | None  # unix time the first record was done (a Beam metric)
    output: str | None
    summary: dict[str, Any] = field(default_factory=dict)  # what `news-ingest run` prints as its summary line


def make_pipeline(options: PipelineOptions, runner_given: bool) -> beam.Pipeline:
    if runner_given:
        return beam.Pipeline(options=options)
    return beam.Pipeline(runner=FnApiRunner(), options=options)


def check_config(config: RunConfig, runner_given: bool = False) -> str | None:
    """The one-line problem that stops this run before it starts, or None."""
    if not config.output and not (config.streaming and config.kafka and config.kafka.output_topic):
        return "--output DIR is required (or, streaming, --kafka-output-topic TOPIC)"
    if config.inference.backend != Backend.TORCH:
        try:
            require_onnxruntime()
        except OnnxRuntimeUnavailable as e:
            return str(e)
    if config.kafka:
        problem = _value_format_problem(config.kafka) or _kafka_problem(config, runner_given)
        if problem:
            return problem
    if config.streaming:
        return _streaming_problem(config, runner_given)
    if not config.inputs:
        return "--input GLOB is required (or --streaming --watch GLOB)"
    for pattern in config.inputs:
        if "://" not in pattern and not glob.glob(os.path.expanduser(pattern)):
            return f"--input {pattern!r} matches no files"
    return None


def _kafka_problem(config: RunConfig, runner_given: bool) -> str | None:
    if not config.streaming:
        return "Kafka topics need --streaming"
    if not runner_given:
        return (
            "Kafka needs a streaming runner, e.g. --runner PrismRunner: the default in-process runner "
            "writes windows only when its source ends, and a topic never ends"
        )
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return "Kafka needs the confluent-kafka package: pip install 'news-ingest[kafka]'"
    return None


def _value_format_problem(kafka: KafkaConfig) -> str | None:
    """The schema registry comes with the confluent value format, and only with it."""
    if kafka.value_format == CONFLUENT:
        if not kafka.schema_registry:
            return "--kafka-value-format confluent needs --schema-registry URL"
        url = urllib.parse.urlsplit(kafka.schema_registry)
        if url.username or url.password:
            return "--schema-registry: credentials in the URL are not supported (the registry is called without any)"
        if url.scheme not in ("http", "https") or not url.hostname:
            return f"--schema-registry {kafka.schema_registry!r} is not an http:// or https:// URL"
    elif kafka.schema_registry:
        return "--schema-registry is for --kafka-value-format confluent only"
    if kafka.value_format != SINGLE_OBJECT and not kafka.output_topic:
        return f"--kafka-value-format {kafka.value_format} needs --kafka-output-topic TOPIC"
    return None


def _streaming_problem(config: RunConfig, runner_given: bool) -> str | None:
    reads_kafka = bool(config.kafka and config.kafka.topics)
    if not (config.watch or reads_kafka):
        return "--streaming needs --watch GLOB or --kafka-topic TOPIC"
    if config.watch and reads_kafka:
        return "--watch and --kafka-topic: choose one source"
    if config.max_runtime <= 0 and not runner_given:
        return (
            "--max-runtime 0 (run until stopped) needs a streaming runner, e.g. --runner PrismRunner: "
            "the default in-process runner writes windows only when the watch ends"
        )
    return None


def for_local_workers(config: RunConfig, workers: int) -> RunConfig:
    """With several local worker processes (--direct_num_workers), each takes its share of the cores
    instead of all of them; a thread count the user set stays."""
    if workers <= 1:
        return config
    settings = config.inference
    return dataclasses.replace(
        config,
        inference=dataclasses.replace(
            settings,
            model_threads=settings.model_threads or max(1, available_cores() // workers),
            article_threads=settings.article_threads or 1,
        ),
    )


def runner_flags(config: RunConfig, args: Sequence[str]) -> engines.RunnerFlags:
    """Beam's flags for this run, completed for its runner; Beam's streaming mode is the config's."""
    args = [a for a in args if a != "--streaming"] + (["--streaming"] if config.streaming else [])
    flags = engines.RunnerFlags(engines.complete_runner_args(args))
    flags.options.view_as(SetupOptions).save_main_session = False
    return flags


def register_value_schemas(config: RunConfig) -> None:
    """With the confluent value format, registers each output topic's schema before anything starts, so that
    a registry that cannot be reached stops the run at once (SchemaRegistryError), not at a worker's first
    message. Each worker registers again in its setup and gets the same id (registering is idempotent)."""
    kafka = config.kafka
    if kafka is None or kafka.value_format != CONFLUENT:
        return
    url = graph.required(kafka.schema_registry, "--schema-registry")
    for topic, schema_name in kafka.output_schemas():
        schema_id = register_value_schema(url, topic, schema_name)
        log.info("schema registry %s: %s is schema id %d", kafka.schema_registry, topic, schema_id)


def run_pipeline(config: RunConfig, beam_args: Sequence[str] = ()) -> RunResult:
    """Runs ``config`` in this process with Beam's flags ``beam_args`` (``--runner`` and the like; none:
    the in-process FnApiRunner) and returns how it ended. Raises engines.EngineUnavailable when the
    runner cannot run here, SchemaRegistryError when the confluent format's registry does not register
    the schemas, and whatever the job raised."""
    register_value_schemas(config)
    flags = runner_flags(config, beam_args)
    session_job = flink.session_job(flags)  # a session cluster that cannot take the job stops the run here
    early_server = job_server.take(flags)  # a Flink job server started while the CLI imported (job_server)
    if early_server is not None:  # the completed flags again (the same job name), with the server's address
        flags = runner_flags(config, [*flags.argv, "--job_endpoint", early_server.endpoint])
    import transformers

    transformers.utils.logging.disable_progress_bar()
    config = for_local_workers(config, flags.options.view_as(DirectOptions).direct_num_workers or 1)
    local_output = output_dir.is_local(config.output)
    if local_output:
        output_dir.prepare(str(config.output), config.streaming)
    if early_server is not None:
        engine_log: str | None = early_server.log_path
    else:
        engine_log = engines.log_engine_output() if flags.runner == "flinkrunner" else None
    try:
        return _run(config, flags, session_job)
    finally:
        if early_server is not None:
            early_server.stop()
        if flags.flink_job_server_jar:
            processes.stop_children_running(flags.flink_job_server_jar)
        if engine_log and os.path.getsize(engine_log):
            log.info("the job server's log: %s", engine_log)
        elif engine_log:
            os.remove(engine_log)  # no job server was started
        if local_output and config.streaming:
            output_dir.remove_partial_window_files(str(config.output))


def _run(config: RunConfig, flags: engines.RunnerFlags, session_job: flink.FlinkJob | None) -> RunResult:
    started = time.time()
    with contextlib.ExitStack() as services:
        expansion = None
        if config.kafka and config.kafka.topics:
            expansion = services.enter_context(kafka_expansion_service(config.kafka.expansion_service))
        p = make_pipeline(flags.options, "runner" in flags.given)
        graph.build(p, config, expansion_service=expansion)
        result = p.run()
        if session_job is not None:
            session_job.find()
        if flags.runs_remotely:
            state = job.SUBMITTED  # the job runs on: its id and state are in the summary
        else:
            stop_after = config.max_runtime if config.kafka and config.kafka.topics else 0
            state = job.run_until_done_or_stopped(result, config.streaming, stop_after, session_job)
    seconds = time.time() - started
    # before the job server stops: it holds the metrics
    metrics = summary.query_metrics(result, cancelled=state in (job.STOPPED, job.MAX_RUNTIME))
    line = summary.summary_dict(metrics, seconds, config.output)
    if state != job.DONE:
        line["ended"] = state
    if state == job.SUBMITTED:
        line.update(job.job_status(result))
    if session_job is not None:
        line.update(session_job.summary())
    return RunResult(
        state=state,
        counters=summary.counters(metrics) if metrics is not None else {},
        seconds=seconds,
        first_record_at=summary.first_record_at(metrics) if metrics is not None else None,
        output=config.output,
        summary=line,
    )


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


def problem_of(error: Exception) -> str | None:
    """The one line a user can act on for an error that ends a run, or None for an unexpected one."""
    if isinstance(error, (engines.EngineUnavailable, ModelNotAvailable, SchemaRegistryError, processes.StartFailed)):
        return str(error)
    for name in ("ModelNotAvailable", "SchemaRegistryError"):  # Beam wraps worker errors; surface them plainly
        if f"{name}:" in str(error):
            return str(error).split(f"{name}:")[-1].strip().splitlines()[0]
    return _java_environment_problem(error)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    for noisy in ("apache_beam", "transformers", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = RunConfig.from_options(PipelineOptions(argv))
    beam_flags = beam_args(argv)
    problem = check_config(config, "runner" in engines.given_options(beam_flags))
    if problem:
        print(f"news-ingest run: error: {problem}", file=sys.stderr)
        return 2
    try:
        result = run_pipeline(config, beam_flags)
    except Exception as e:
        problem = problem_of(e)
        if problem is None:
            raise
        print(f"news-ingest run: error: {problem}", file=sys.stderr)
        return 2
    print("summary: " + json.dumps(result.summary), flush=True)
    return 0
