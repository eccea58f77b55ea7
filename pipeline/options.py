"""Our pipeline options, the flags of `news-ingest run`. Every other flag (``--runner``,
``--direct_num_workers``, Dataflow flags, ...) is an ordinary Beam option and passes through unchanged.

Only ``pipeline.config.RunConfig.from_options`` reads these values; everything after it reads the RunConfig.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.inference.loading import DEVICES
from transforms.inference.settings import BACKENDS, DEFAULT_BACKEND
from transforms.io.avro_messages import SINGLE_OBJECT, VALUE_FORMATS
from transforms.io.partitions import PARTITIONS
from transforms.ner.encoding import STRIDE_TOKENS, WINDOW_TOKENS
from transforms.ner.handler import MAX_NER_CHARS

TOPIC_METHODS = ("embedding", "nli")
# Beam's adaptive batching otherwise settles on about 5 articles; the topic encoder is faster on 16
# (bench/RESULTS.md). The one default of the pipeline's smallest batch.
MIN_BATCH_SIZE = 16


def _input_output(parser) -> None:
    g = parser.add_argument_group("input/output")
    g.add_argument(
        "--input",
        action="append",
        default=None,
        help="file glob to read (repeatable); local paths or any Beam filesystem (gs://, s3://)",
    )
    g.add_argument("--output", default=None, help="output folder for articles-*.avro and deadletter-*.avro")
    g.add_argument(
        "--format",
        default="auto",
        choices=("auto", "jsonl", "seed", "text"),
        help="input format; auto detects per file (.jsonl/.json/.ndjson or a leading '{' -> jsonl, "
        "first line 'date YYYY-MM-DD title' -> seed, otherwise plain text)",
    )
    g.add_argument("--num-shards", type=int, default=0, help="output files per kind in batch runs (0: runner decides)")
    g.add_argument(
        "--partition-by",
        default="none",
        choices=tuple(PARTITIONS),
        help="output folders of the records: none (default), every file in the output folder; date, Hive-style "
        "folders by publication day (UTC), OUTPUT/date=YYYY-MM-DD/articles-*.avro, which Spark and Hive read as "
        "a date column (records without a date: docs/records.md, Partitioned output). Dead letters stay in the "
        "output folder",
    )


def _models(parser) -> None:
    m = parser.add_argument_group("models")
    m.add_argument(
        "--ner-model",
        default=None,
        help="token-classification model: a local directory, a folder on any Beam filesystem (gs://, s3://; "
        "copied once per worker) or a hub id (default: the embedded models/ner-minilm-conll03)",
    )
    m.add_argument("--topics", default=None, help="taxonomy YAML (default: the packaged five-topic taxonomy)")
    m.add_argument(
        "--topic-method",
        "--topic-backend",
        dest="topic_method",
        default="embedding",
        choices=TOPIC_METHODS,
        help="zero-shot topic method: sentence-embedding similarity or NLI entailment (--topic-backend is an alias)",
    )
    m.add_argument(
        "--topic-model",
        default=None,
        help="model for the topic method (default for embedding: packaged all-MiniLM-L6-v2; "
        "nli needs an MNLI checkpoint directory or hub id)",
    )
    m.add_argument(
        "--allow-download",
        action="store_true",
        default=False,
        help="allow fetching hub ids from the Hugging Face hub (never done otherwise)",
    )
    m.add_argument("--batch-size", type=int, default=32, help="articles per model batch, at most")
    m.add_argument(
        "--min-batch-size",
        type=int,
        default=MIN_BATCH_SIZE,
        help="articles per model batch, at least (Beam's adaptive batching grows from here; the "
        "rest of a bundle is still flushed at its end, so nothing waits for a full batch)",
    )
    m.add_argument(
        "--ner-window",
        type=int,
        default=WINDOW_TOKENS,
        help="NER window length in tokens; longer texts are split into overlapping windows "
        "(the embedded model is trained on 128)",
    )
    m.add_argument(
        "--ner-stride",
        type=int,
        default=STRIDE_TOKENS,
        help="tokens shared by neighbouring NER windows (each word is labelled by the window "
        "where it sits furthest from an edge)",
    )
    _model_runtime(m)


def _model_runtime(m) -> None:
    m.add_argument(
        "--model-threads",
        "--torch-threads",
        dest="model_threads",
        type=int,
        default=0,
        help="intra-op threads per forward pass, for any backend (0: 1 with the onnxruntime "
        "backends on CPU, where --article-threads uses the cores; torch's default, all cores, "
        "with torch; --torch-threads is an alias)",
    )
    m.add_argument(
        "--article-threads",
        type=int,
        default=0,
        help="articles a worker scores at once, each on its own thread and in its own forward "
        "passes (0: one per core with the onnxruntime backends on CPU, else 1)",
    )
    m.add_argument(
        "--inference-backend",
        default=DEFAULT_BACKEND.value,
        choices=BACKENDS,
        help="engine for the forward passes of the NER and topic models: onnxruntime-int8 "
        "(default: ONNX Runtime with int8 weights, the fastest on CPU); onnxruntime (fp32); "
        "or torch. The ONNX export is made once per model and cached "
        "($NEWS_INGEST_ONNX_CACHE). Every backend runs each article in its own forward "
        "passes, so a record never depends on which articles shared its batch",
    )
    m.add_argument(
        "--device",
        default="cpu",
        choices=DEVICES,
        help="where the NER and topic models run: cpu (default); cuda (a GPU; an error where torch "
        "sees none); auto (cuda when there is a GPU, else cpu). Decided on each worker. The "
        "onnxruntime backends use onnxruntime's CUDA execution provider when it has one",
    )


def _streaming(parser) -> None:
    s = parser.add_argument_group("streaming (with --streaming)")
    s.add_argument("--watch", default=None, help="glob watched for new files while running")
    s.add_argument("--poll-seconds", type=float, default=2.0, help="how often --watch looks for new files")
    s.add_argument("--window-seconds", type=int, default=60, help="fixed window length of the output files")
    s.add_argument(
        "--max-runtime",
        type=float,
        default=600.0,
        help="stop watching after this many seconds; 0: until stopped (Ctrl-C / SIGTERM; needs a streaming "
        "runner such as --runner PrismRunner, since the default in-process runner writes windows "
        "only when the watch ends)",
    )


def _kafka(parser) -> None:
    k = parser.add_argument_group("kafka (streaming; see docs/engines.md, Kafka)")
    k.add_argument("--kafka-bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    k.add_argument(
        "--kafka-topic",
        action="append",
        default=None,
        help="read articles from this topic, one JSON article per message (repeatable)",
    )
    k.add_argument(
        "--kafka-group-id",
        default="news-ingest",
        help="consumer group whose offsets are committed once the outputs of a message exist",
    )
    k.add_argument(
        "--kafka-output-topic",
        default=None,
        help="write records to this topic (Avro, in --kafka-value-format; key = article id)",
    )
    k.add_argument(
        "--kafka-deadletter-topic",
        default=None,
        help="write dead letters to this topic (default: <kafka-output-topic>.deadletter)",
    )
    k.add_argument(
        "--kafka-value-format",
        default=SINGLE_OBJECT,
        choices=VALUE_FORMATS,
        help="how a record is framed in a message of the output and dead-letter topics: single-object (Avro "
        "single-object encoding: C3 01 + the schema's 8-byte fingerprint + the Avro body); raw (the Avro body "
        "only; the reader brings the schema: schemas/*.avsc); confluent (Confluent's wire format: 00 + the "
        "4-byte schema id from --schema-registry + the Avro body)",
    )
    k.add_argument(
        "--schema-registry",
        default=None,
        help="URL of a Confluent-compatible schema registry (with --kafka-value-format confluent only): each "
        "topic's schema is registered under <topic>-value when the run starts",
    )
    k.add_argument(
        "--kafka-expansion-service",
        default=None,
        help="Beam expansion service for the Java Kafka IO: a jar or host:port (default: the jar "
        "fetched by make engines, started by the CLI)",
    )


def _limits(parser) -> None:
    lim = parser.add_argument_group("limits")
    lim.add_argument(
        "--max-article-bytes",
        type=int,
        default=5 << 20,
        help="input units larger than this become dead letters (default 5 MiB)",
    )
    lim.add_argument(
        "--max-ner-chars",
        type=int,
        default=MAX_NER_CHARS,
        help="characters of an article's text that NER reads (cut at a word boundary; the rest "
        "gets no entities and the record's ner_truncated_at says where NER stopped; "
        "0: no limit). Bounds the time one huge article can hold a batch or a stream",
    )
    lim.add_argument(
        "--max-deadletter-bytes",
        type=int,
        default=1 << 20,
        help="raw bytes kept in a dead letter (flagged raw_truncated when cut; default 1 MiB)",
    )


class NewsIngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        _input_output(parser)
        _models(parser)
        _streaming(parser)
        _kafka(parser)
        _limits(parser)


def beam_args(argv: Sequence[str]) -> list[str]:
    """``argv`` without our flags, in their order: the flags Beam's own options read (``--runner``,
    ``--streaming``, Dataflow's, the Java runner's)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    NewsIngestOptions._add_argparse_args(parser)
    _, rest = parser.parse_known_args(list(argv))
    return rest
