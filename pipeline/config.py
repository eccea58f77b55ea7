"""What a run does, decided once: ``RunConfig.from_options`` reads the flags of `news-ingest run` and is the
only reader of NewsIngestOptions. The graph, the run and the offline commands read the RunConfig; each model
setting reaches its handler from here in one step (``--max-ner-chars`` -> ``ner.max_chars`` -> the NER handler).
"""

from __future__ import annotations

from dataclasses import dataclass

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

import schemas
from pipeline.options import NewsIngestOptions
from transforms.inference.settings import InferenceSettings
from transforms.io.avro_messages import SINGLE_OBJECT
from transforms.ner.handler import NerSettings


@dataclass(frozen=True)
class KafkaConfig:
    """Kafka, where a run reads articles from topics or writes records to one."""

    bootstrap: str
    topics: tuple[str, ...]  # read articles from these; empty: the source is files
    group_id: str  # its committed offsets say which messages have their outputs
    output_topic: str | None  # records go here (None: to files only)
    deadletter_topic: str | None  # dead letters go here, beside output_topic
    expansion_service: str | None  # a jar or host:port (None: the jar `make engines` fetched)
    value_format: str = SINGLE_OBJECT  # how the output topics frame a record (avro_messages.VALUE_FORMATS)
    schema_registry: str | None = None  # the registry's URL (confluent)

    def output_schemas(self) -> list[tuple[str, str]]:
        """(topic, schema name) of each topic this run writes: records, then dead letters."""
        pairs = [(self.output_topic, schemas.ENRICHED_ARTICLE), (self.deadletter_topic, schemas.DEAD_LETTER)]
        return [(topic, name) for topic, name in pairs if topic]


@dataclass(frozen=True)
class RunConfig:
    inputs: tuple[str, ...]  # batch: file globs
    output: str | None  # the folder of articles-*.avro and deadletter-*.avro
    input_format: str  # auto | jsonl | seed | text
    num_shards: int  # batch: output files per kind (0: the runner decides); partitioned: per partition (0: one)
    partition_by: str  # none | date: the folders of the records (transforms.io.partitions)
    streaming: bool
    watch: str | None  # streaming: the glob polled for new files
    poll_seconds: float
    window_seconds: int  # streaming: fixed event-time windows of the output
    max_runtime: float  # streaming: seconds until the watch (or a Kafka run) stops; 0: until stopped
    kafka: KafkaConfig | None
    ner_model: str | None  # None: the embedded model
    ner: NerSettings
    taxonomy_path: str | None  # None: the packaged taxonomy
    topic_method: str  # embedding | nli
    topic_model: str | None  # None: the method's default model
    inference: InferenceSettings
    max_article_bytes: int  # larger input units become dead letters
    max_deadletter_bytes: int  # raw bytes a dead letter keeps

    @classmethod
    def from_options(cls, options: PipelineOptions) -> RunConfig:
        opts = options.view_as(NewsIngestOptions)
        return cls(
            inputs=tuple(opts.input or ()),
            output=opts.output,
            input_format=opts.format,
            num_shards=opts.num_shards,
            partition_by=opts.partition_by,
            streaming=bool(options.view_as(StandardOptions).streaming),
            watch=opts.watch,
            poll_seconds=opts.poll_seconds,
            window_seconds=opts.window_seconds,
            max_runtime=opts.max_runtime,
            kafka=kafka_config(opts),
            ner_model=opts.ner_model,
            ner=NerSettings(window_tokens=opts.ner_window, stride_tokens=opts.ner_stride, max_chars=opts.max_ner_chars),
            taxonomy_path=opts.topics,
            topic_method=opts.topic_method,
            topic_model=opts.topic_model,
            inference=inference_settings(opts),
            max_article_bytes=opts.max_article_bytes,
            max_deadletter_bytes=opts.max_deadletter_bytes,
        )


def kafka_config(opts: NewsIngestOptions) -> KafkaConfig | None:
    """None where the run neither reads nor writes Kafka (nor names a Kafka setting that check_config
    must then reject)."""
    framing = opts.kafka_value_format != SINGLE_OBJECT or opts.schema_registry
    if not (opts.kafka_topic or opts.kafka_output_topic or framing):
        return None
    output = opts.kafka_output_topic
    return KafkaConfig(
        bootstrap=opts.kafka_bootstrap,
        topics=tuple(opts.kafka_topic or ()),
        group_id=opts.kafka_group_id,
        output_topic=output,
        deadletter_topic=opts.kafka_deadletter_topic or (f"{output}.deadletter" if output else None),
        expansion_service=opts.kafka_expansion_service,
        value_format=opts.kafka_value_format,
        schema_registry=opts.schema_registry,
    )


def inference_settings(opts: NewsIngestOptions) -> InferenceSettings:
    return InferenceSettings(
        backend=opts.inference_backend,
        model_threads=opts.model_threads,
        article_threads=opts.article_threads,
        device=opts.device,
        allow_download=opts.allow_download,
        min_batch_size=max(1, min(opts.min_batch_size, opts.batch_size)),  # never above the largest batch
        max_batch_size=opts.batch_size,
    )
