"""The pipeline graph: source -> parse -> NER -> topics -> records -> Avro sinks (+ dead letters).

Composition only: every step is a transform of ``transforms``, every setting comes from the RunConfig.
Batch and streaming share ``EnrichArticles``; only the source (read once vs. watch or Kafka) and the sink
(sharded files vs. per-window files and Kafka topics) differ.
"""

from __future__ import annotations

import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window

import schemas
from pipeline import __version__
from pipeline.config import KafkaConfig, RunConfig
from transforms import dead_letter as dl
from transforms.enrich import EnrichWith
from transforms.io.avro_files import SINK as FILES_SINK
from transforms.io.avro_files import WriteAvroFiles, WritePartitionedAvroFiles, WriteWindowedAvroFiles
from transforms.io.files import ReadFiles, WatchFiles
from transforms.io.kafka_offsets import CommitKafkaOffsets
from transforms.io.kafka_read import ReadKafkaArticles
from transforms.io.kafka_write import SINK as KAFKA_SINK
from transforms.io.kafka_write import WriteKafkaMessages
from transforms.io.partitions import PARTITIONS
from transforms.ner.handler import NerModelHandler
from transforms.parse import ParseArticles
from transforms.records import Provenance, ToRecords
from transforms.topics.embedding import EmbeddingTopicModelHandler
from transforms.topics.nli import NliTopicModelHandler
from transforms.topics.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)
METRICS_NS = "news_ingest"
# The unix time (ms) of each worker's first record: the minimum over workers is the run's first record.
FIRST_RECORD_METRIC = "first_record_unix_ms"
# How far behind the watermark an element may arrive and still get its window file (a late pane).
# Streaming windows must not drop data silently; a week covers replays after an outage.
ALLOWED_LATENESS_SECONDS = 7 * 24 * 3600
TOPIC_HANDLERS = {"embedding": EmbeddingTopicModelHandler, "nli": NliTopicModelHandler}


def event_time_windows(seconds: int) -> beam.WindowInto:
    """Fixed event-time windows, fired when the watermark passes their end and again for late data."""
    return beam.WindowInto(
        window.FixedWindows(seconds),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.DISCARDING,
        allowed_lateness=ALLOWED_LATENESS_SECONDS,
    )


def required(value: str | None, flag: str) -> str:
    """A setting this graph cannot do without (the CLI checks them all before it builds the graph)."""
    if value is None:
        raise ValueError(f"{flag} is required")
    return value


def topic_handler(config: RunConfig, taxonomy: Taxonomy):
    handler = TOPIC_HANDLERS[config.topic_method]
    return handler(taxonomy, model_name=config.topic_model, settings=config.inference)


class EnrichArticles(beam.PTransform):
    """RawUnits -> {"records": Avro dicts, "dead_letter": Avro dicts}."""

    def __init__(self, ner_handler, topic_handler, provenance: Provenance, topic_order: list[str]):
        super().__init__()
        self.ner_handler, self.topic_handler = ner_handler, topic_handler
        self.provenance, self.topic_order = provenance, topic_order

    def expand(self, units):
        parsed = units | "Parse" >> ParseArticles()
        ner = parsed["articles"] | "NER" >> EnrichWith(self.ner_handler, dl.NER)
        topics = ner["articles"] | "Topics" >> EnrichWith(self.topic_handler, dl.TOPICS)
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
    """Counts records, entities and assigned topics; notes when this worker's first record was done; logs
    progress (articles done, rate) per worker."""

    def __init__(self, every_seconds: float = 10.0):
        self.every = every_seconds

    def setup(self):
        self.records = Metrics.counter(METRICS_NS, "records")
        self.entities = Metrics.counter(METRICS_NS, "entities")
        self.topics = Metrics.counter(METRICS_NS, "topic_labels")
        self.ner_truncated = Metrics.counter(METRICS_NS, "ner_truncated")
        self.first_record = Metrics.distribution(METRICS_NS, FIRST_RECORD_METRIC)
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
            self.first_record.update(int(now * 1000))
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


def read_source(p: beam.Pipeline, config: RunConfig, expansion_service=None):
    if config.kafka and config.kafka.topics:
        return p | "ReadKafka" >> ReadKafkaArticles(
            config.kafka.bootstrap,
            list(config.kafka.topics),
            config.kafka.group_id,
            expansion_service,
            max_bytes=config.max_article_bytes,
        )
    if config.streaming:
        return p | "WatchInput" >> WatchFiles(
            required(config.watch, "--watch"),
            interval=config.poll_seconds,
            max_runtime=config.max_runtime,
            fmt=config.input_format,
            max_bytes=config.max_article_bytes,
        )
    return p | "ReadInput" >> ReadFiles(
        list(config.inputs), fmt=config.input_format, max_bytes=config.max_article_bytes
    )


def write_streaming(records, dead, config: RunConfig) -> list:
    """Window files and/or Kafka topics; returns each sink's acknowledgements."""
    acks = []
    if config.output:
        partition = PARTITIONS[config.partition_by]
        acks.append(
            records
            | "WriteArticles"
            >> WriteWindowedAvroFiles(config.output, "articles", schemas.ENRICHED_ARTICLE, partition=partition)
        )
        acks.append(
            dead | "WriteDeadLetters" >> WriteWindowedAvroFiles(config.output, "deadletter", schemas.DEAD_LETTER)
        )
    kafka = config.kafka
    if kafka and kafka.output_topic and kafka.deadletter_topic:
        acks.append(records | "ProduceArticles" >> kafka_sink(kafka, kafka.output_topic, schemas.ENRICHED_ARTICLE))
        acks.append(dead | "ProduceDeadLetters" >> kafka_sink(kafka, kafka.deadletter_topic, schemas.DEAD_LETTER))
    return acks


def write_batch_records(records, config: RunConfig) -> None:
    """Sharded files in the output folder, or in one folder per partition (dead letters never are)."""
    output, partition = required(config.output, "--output"), PARTITIONS[config.partition_by]
    if partition is None:
        records | "WriteArticles" >> WriteAvroFiles(output, "articles", schemas.ENRICHED_ARTICLE, config.num_shards)
    else:
        records | "WriteArticles" >> WritePartitionedAvroFiles(
            output, "articles", schemas.ENRICHED_ARTICLE, partition, config.num_shards
        )


def kafka_sink(kafka: KafkaConfig, topic: str, schema_name: str) -> WriteKafkaMessages:
    return WriteKafkaMessages(kafka.bootstrap, topic, schema_name, kafka.value_format, kafka.schema_registry)


def sink_names(config: RunConfig) -> list[str]:
    kafka_sink = bool(config.kafka and config.kafka.output_topic)
    return ([FILES_SINK] if config.output else []) + ([KAFKA_SINK] if kafka_sink else [])


def commit_offsets(acks: list, kafka: KafkaConfig, sinks: list[str]) -> None:
    """Commits a Kafka message's offset once every sink acknowledged its outputs."""
    (acks | "AllAcks" >> beam.Flatten() | "CommitOffsets" >> CommitKafkaOffsets(kafka.bootstrap, kafka.group_id, sinks))


def build(p: beam.Pipeline, config: RunConfig, *, units=None, expansion_service=None) -> dict:
    """Adds the whole graph to ``p``. ``units`` overrides the source (tests feed a TestStream here);
    ``expansion_service`` serves the Java Kafka IO (an address or a Beam ExpansionService)."""
    taxonomy = load_taxonomy(config.taxonomy_path)
    ner = NerModelHandler(config.ner_model, config.inference, config.ner)
    topics = topic_handler(config, taxonomy)
    provenance = Provenance(__version__, ner.model_id, topics.model_id, taxonomy.label)
    read_dead = []
    if units is None:
        read = read_source(p, config, expansion_service)
        units, read_dead = read["units"], [read[dl.DEAD_LETTER]]
        if config.streaming:
            read_dead = [read_dead[0] | "WindowReadErrors" >> event_time_windows(config.window_seconds)]
    units = units | "CountUnits" >> beam.ParDo(_CountFn("units"))
    if config.streaming:  # window at the source so batching, dead letters and files all follow event time
        units = units | "Window" >> event_time_windows(config.window_seconds)
    else:
        units = units | "Spread" >> beam.Reshuffle()
    out = units | "Enrich" >> EnrichArticles(ner, topics, provenance, [t.id for t in taxonomy.topics])
    dead = (read_dead + [out[dl.DEAD_LETTER]]) | "DeadLetters" >> beam.Flatten()
    dead = (
        dead
        | "CapRaw" >> beam.Map(cap_raw, config.max_deadletter_bytes)
        | "CountDeadLetters" >> beam.ParDo(_CountFn("dead_letters"))
    )
    if config.streaming:
        acks = write_streaming(out["records"], dead, config)
        if config.kafka and config.kafka.topics:
            commit_offsets(acks, config.kafka, sink_names(config))
    else:
        write_batch_records(out["records"], config)
        output = required(config.output, "--output")
        dead | "WriteDeadLetters" >> WriteAvroFiles(output, "deadletter", schemas.DEAD_LETTER, config.num_shards)
    return {"records": out["records"], "dead_letters": dead}
