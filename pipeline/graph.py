"""The pipeline graph: source -> parse -> NER -> topics -> records -> Avro sinks (+ dead letters).

Batch and streaming share ``EnrichArticles``; only the source (read once vs. watch) and the sink
(sharded files vs. per-window files) differ.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

import schemas
from pipeline import __version__
from pipeline.options import NewsIngestOptions
from transforms import dead_letter as dl
from transforms.enrich import EnrichWith
from transforms.inference.settings import InferenceSettings
from transforms.io.avro_files import SINK as FILES_SINK
from transforms.io.avro_files import WriteAvroFiles, WriteWindowedAvroFiles
from transforms.io.files import ReadFiles, WatchFiles
from transforms.ner.handler import NerModelHandler, ner_text_end
from transforms.parse import ParseArticles
from transforms.records import Provenance, ToRecords
from transforms.topics.taxonomy import load_taxonomy

log = logging.getLogger(__name__)
METRICS_NS = "news_ingest"
# How far behind the watermark an element may arrive and still get its window file (a late pane).
# Streaming windows must not drop data silently; a week covers replays after an outage.
ALLOWED_LATENESS_SECONDS = 7 * 24 * 3600


def event_time_windows(seconds: int) -> beam.WindowInto:
    """Fixed event-time windows, fired when the watermark passes their end and again for late data."""
    from apache_beam.transforms import trigger

    return beam.WindowInto(
        window.FixedWindows(seconds),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.DISCARDING,
        allowed_lateness=ALLOWED_LATENESS_SECONDS,
    )


def with_entities(article, entities, max_ner_chars: int):
    end = ner_text_end(article.text, max_ner_chars)
    return dataclasses.replace(article, entities=entities, ner_truncated_at=end if end < len(article.text) else None)


def with_topics(article, result):
    return dataclasses.replace(article, topic_scores=dict(result.scores), topic_labels=list(result.labels))


def topic_handler(opts: NewsIngestOptions, taxonomy, settings: InferenceSettings):
    if opts.topic_backend == "nli":
        from transforms.topics.nli import NliTopicModelHandler as Handler
    else:
        from transforms.topics.embedding import EmbeddingTopicModelHandler as Handler
    return Handler(taxonomy, model_name=opts.topic_model, settings=settings)


class EnrichArticles(beam.PTransform):
    """RawUnits -> {"records": Avro dicts, "dead_letter": Avro dicts}."""

    def __init__(self, ner_handler, topic_handler, provenance: Provenance, topic_order: list[str]):
        super().__init__()
        self.ner_handler, self.topic_handler = ner_handler, topic_handler
        self.provenance, self.topic_order = provenance, topic_order

    def expand(self, units):
        parsed = units | "Parse" >> ParseArticles()
        ner = parsed["articles"] | "NER" >> EnrichWith(
            self.ner_handler, dl.NER, functools.partial(with_entities, max_ner_chars=self.ner_handler.max_chars)
        )
        topics = ner["articles"] | "Topics" >> EnrichWith(self.topic_handler, dl.TOPICS, with_topics)
        records = topics["articles"] | "Records" >> ToRecords(self.provenance, self.topic_order)
        dead = (
            parsed[dl.DEAD_LETTER],
            ner[dl.DEAD_LETTER],
            topics[dl.DEAD_LETTER],
            records[dl.DEAD_LETTER],
        ) | "AllDeadLetters" >> beam.Flatten()
        return {"records": records["records"] | "Count" >> beam.ParDo(_CountRecordsFn()), dl.DEAD_LETTER: dead}


def cap_raw(record: dict, max_bytes: int) -> dict:
    if len(record["raw"]) > max_bytes:
        record = dict(record, raw=record["raw"][:max_bytes], raw_truncated=True)
    return record


class _CountRecordsFn(beam.DoFn):
    """Counts records, entities and assigned topics; logs progress (articles done, rate) per worker."""

    def __init__(self, every_seconds: float = 10.0):
        self.every = every_seconds

    def setup(self):
        self.records = Metrics.counter(METRICS_NS, "records")
        self.entities = Metrics.counter(METRICS_NS, "entities")
        self.topics = Metrics.counter(METRICS_NS, "topic_labels")
        self.ner_truncated = Metrics.counter(METRICS_NS, "ner_truncated")
        self.started, self.done, self.last = time.time(), 0, time.time()

    def process(self, record):
        self.records.inc()
        self.entities.inc(len(record["entities"]))
        self.topics.inc(len(record["topic_labels"]))
        if record["ner_truncated_at"] is not None:
            self.ner_truncated.inc()
        self.done += 1
        now = time.time()
        if self.done == 1:
            log.info("first record at %.3f (unix time)", now)
        if now - self.last >= self.every:
            self.last = now
            log.info(
                "progress: %d articles enriched by this worker (%.1f articles/s)",
                self.done,
                self.done / (now - self.started),
            )
        yield record


class _CountFn(beam.DoFn):
    def __init__(self, name: str):
        self.name = name

    def setup(self):
        self.counter = Metrics.counter(METRICS_NS, self.name)

    def process(self, element):
        self.counter.inc()
        yield element


def read_source(p: beam.Pipeline, opts: NewsIngestOptions, streaming: bool, expansion_service=None):
    if opts.kafka_topic:
        from transforms.io.kafka_read import ReadKafkaArticles

        return p | "ReadKafka" >> ReadKafkaArticles(
            opts.kafka_bootstrap,
            opts.kafka_topic,
            opts.kafka_group_id,
            expansion_service,
            max_bytes=opts.max_article_bytes,
        )
    if streaming:
        return p | "WatchInput" >> WatchFiles(
            opts.watch,
            interval=opts.poll_seconds,
            max_runtime=opts.max_runtime,
            fmt=opts.format,
            max_bytes=opts.max_article_bytes,
        )
    return p | "ReadInput" >> ReadFiles(opts.input, fmt=opts.format, max_bytes=opts.max_article_bytes)


def write_streaming(records, dead, opts: NewsIngestOptions) -> list:
    """Window files and/or Kafka topics; returns each sink's acknowledgements."""
    acks = []
    if opts.output:
        acks.append(
            records | "WriteArticles" >> WriteWindowedAvroFiles(opts.output, "articles", schemas.ENRICHED_ARTICLE)
        )
        acks.append(dead | "WriteDeadLetters" >> WriteWindowedAvroFiles(opts.output, "deadletter", schemas.DEAD_LETTER))
    if opts.kafka_output_topic:
        from transforms.io.kafka_write import WriteKafkaMessages

        acks.append(
            records
            | "ProduceArticles"
            >> WriteKafkaMessages(opts.kafka_bootstrap, opts.kafka_output_topic, schemas.ENRICHED_ARTICLE)
        )
        acks.append(
            dead
            | "ProduceDeadLetters"
            >> WriteKafkaMessages(opts.kafka_bootstrap, deadletter_topic(opts), schemas.DEAD_LETTER)
        )
    return acks


def deadletter_topic(opts: NewsIngestOptions) -> str:
    return opts.kafka_deadletter_topic or f"{opts.kafka_output_topic}.deadletter"


def sink_names(opts: NewsIngestOptions) -> list[str]:
    from transforms.io.kafka_write import SINK as KAFKA_SINK

    return ([FILES_SINK] if opts.output else []) + ([KAFKA_SINK] if opts.kafka_output_topic else [])


def build(p: beam.Pipeline, opts: NewsIngestOptions, *, units=None, expansion_service=None) -> dict:
    """Adds the whole graph to ``p``. ``units`` overrides the source (tests feed a TestStream here);
    ``expansion_service`` serves the Java Kafka IO (an address or a Beam ExpansionService)."""
    streaming = bool(p.options.view_as(beam.options.pipeline_options.StandardOptions).streaming)
    taxonomy = load_taxonomy(opts.topics)
    settings = InferenceSettings.from_options(opts)
    ner = NerModelHandler(opts.ner_model, settings)
    topics = topic_handler(opts, taxonomy, settings)
    provenance = Provenance(__version__, ner.model_id, topics.model_id, taxonomy.label)
    read_dead = []
    if units is None:
        read = read_source(p, opts, streaming, expansion_service)
        units, read_dead = read["units"], [read[dl.DEAD_LETTER]]
        if streaming:
            read_dead = [read_dead[0] | "WindowReadErrors" >> event_time_windows(opts.window_seconds)]
    units = units | "CountUnits" >> beam.ParDo(_CountFn("units"))
    if streaming:  # window at the source so batching, dead letters and files all follow event time
        units = units | "Window" >> event_time_windows(opts.window_seconds)
    else:
        units = units | "Spread" >> beam.Reshuffle()
    out = units | "Enrich" >> EnrichArticles(ner, topics, provenance, [t.id for t in taxonomy.topics])
    dead = (read_dead + [out[dl.DEAD_LETTER]]) | "DeadLetters" >> beam.Flatten()
    dead = (
        dead
        | "CapRaw" >> beam.Map(cap_raw, opts.max_deadletter_bytes)
        | "CountDeadLetters" >> beam.ParDo(_CountFn("dead_letters"))
    )
    if streaming:
        acks = write_streaming(out["records"], dead, opts)
        if opts.kafka_topic:
            from transforms.io.kafka_offsets import CommitKafkaOffsets

            (
                acks
                | "AllAcks" >> beam.Flatten()
                | "CommitOffsets" >> CommitKafkaOffsets(opts.kafka_bootstrap, opts.kafka_group_id, sink_names(opts))
            )
    else:
        out["records"] | "WriteArticles" >> WriteAvroFiles(
            opts.output, "articles", schemas.ENRICHED_ARTICLE, opts.num_shards
        )
        dead | "WriteDeadLetters" >> WriteAvroFiles(opts.output, "deadletter", schemas.DEAD_LETTER, opts.num_shards)
    return {"records": out["records"], "dead_letters": dead}
