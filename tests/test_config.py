"""RunConfig, built once from the flags: every setting reaches the graph and its handlers in one step; and
run_pipeline, the run in this process, returns what the summary line prints."""

import json
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import read_avro

from pipeline import graph
from pipeline.config import KafkaConfig, RunConfig
from pipeline.run import RunResult, for_local_workers, run_pipeline
from transforms.inference.settings import Backend
from transforms.ner.encoding import STRIDE_TOKENS, WINDOW_TOKENS
from transforms.ner.handler import MAX_NER_CHARS, NerSettings
from transforms.topics.taxonomy import load_taxonomy


def config_of(*flags: str) -> RunConfig:
    return RunConfig.from_options(PipelineOptions(["--output", "x", *flags]))


def test_defaults_are_the_flags_defaults():
    config = config_of()
    assert config.inputs == () and config.output == "x" and not config.streaming and config.kafka is None
    assert config.ner == NerSettings(WINDOW_TOKENS, STRIDE_TOKENS, MAX_NER_CHARS)
    assert config.inference.backend == Backend.ONNXRUNTIME_INT8 == "onnxruntime-int8"
    assert (config.inference.min_batch_size, config.inference.max_batch_size) == (16, 32)
    assert config.topic_method == "embedding"


def test_every_model_flag_lands_in_one_setting():
    config = config_of(
        "--inference-backend",
        "torch",
        "--torch-threads",
        "3",
        "--ner-window",
        "96",
        "--ner-stride",
        "24",
        "--max-ner-chars",
        "500",
        "--allow-download",
        "--batch-size",
        "4",
        "--input",
        "a",
        "--input",
        "b",
    )
    assert config.ner == NerSettings(window_tokens=96, stride_tokens=24, max_chars=500)
    s = config.inference
    assert (s.backend, s.model_threads, s.allow_download, s.max_batch_size) == ("torch", 3, True, 4)
    assert s.min_batch_size == 4  # never above the largest batch
    assert config.inputs == ("a", "b")
    with pytest.raises(AttributeError):
        config.ner_model = "other"  # type: ignore[misc]


def test_kafka_settings_and_the_dead_letter_topic_default():
    config = config_of("--streaming", "--kafka-topic", "in", "--kafka-output-topic", "out")
    assert config.streaming
    assert config.kafka == KafkaConfig("127.0.0.1:9092", ("in",), "news-ingest", "out", "out.deadletter", None)
    assert config_of("--kafka-output-topic", "out", "--kafka-deadletter-topic", "dl").kafka.deadletter_topic == "dl"


def test_the_graph_hands_each_handler_its_settings(monkeypatch):
    config = config_of("--input", "in.jsonl", "--max-ner-chars", "500", "--batch-size", "32", "--min-batch-size", "16")
    built = {}

    class Recording(graph.NerModelHandler):
        def __init__(self, model_name=None, settings=None, ner=None):
            built.update(model_name=model_name, settings=settings, ner=ner)
            super().__init__(model_name, settings, ner)

    monkeypatch.setattr(graph, "NerModelHandler", Recording)
    graph.build(beam.Pipeline(), config)
    assert built == {"model_name": None, "settings": config.inference, "ner": config.ner}
    topics = graph.topic_handler(config, load_taxonomy())
    assert topics.settings is config.inference
    assert topics.batch_elements_kwargs() == {"min_batch_size": 16, "max_batch_size": 32}


def test_local_workers_share_the_cores_unless_threads_are_set():
    config = config_of()
    assert for_local_workers(config, 1) is config
    split = for_local_workers(config, 2).inference
    assert split.model_threads >= 1 and split.article_threads == 1
    kept = for_local_workers(config_of("--torch-threads", "5", "--article-threads", "2"), 4).inference
    assert (kept.model_threads, kept.article_threads) == (5, 2)


def test_run_pipeline_runs_in_process_and_reports_the_first_record(tmp_path, tiny_ner):
    rows = [{"id": "a", "text": "Drones struck Kharkiv."}, {"id": "b", "text": "Talks resumed in Geneva."}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n")
    config = RunConfig.from_options(
        PipelineOptions(
            ["--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"), "--ner-model", str(tiny_ner)]
        )
    )
    started = time.time()
    result = run_pipeline(config)
    assert isinstance(result, RunResult) and result.state == "done" and result.output == str(tmp_path / "out")
    assert result.counters["units"] == 3 and result.counters["records"] == 2 and result.counters["dead_letters"] == 1
    assert started < result.first_record_at < time.time()
    assert 0 < result.seconds < time.time() - started
    assert result.summary["records_out"] == 2 and result.summary["first_record_at"] == round(result.first_record_at, 3)
    assert sorted(r["id"] for r in read_avro(str(tmp_path / "out" / "articles-*.avro"))) == ["a", "b"]
