"""Kafka out: records and dead letters as Avro messages in one of ``avro_messages``' value formats.

A Python producer (confluent-kafka, ``acks=all``, idempotent) rather than Beam's Java ``WriteToKafka``:
its delivery reports tell which messages the brokers accepted, and only those are passed on as
acknowledgements, so input offsets are committed after the output exists (``kafka_offsets``).
A bundle whose messages are not all delivered fails and is retried by the runner (at least once).
In the ``confluent`` format each worker registers the schema in ``setup``, before its first message.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.io import avro_messages, schema_registry

SINK = "kafka"  # the name acknowledgements carry (kafka_offsets)


def message_key(record: dict) -> bytes | None:
    """Records are keyed by article id (one partition per article, so its versions stay in order);
    dead letters by their input position, which may be unknown."""
    if "id" in record:
        return record["id"].encode("utf-8")
    if record.get("source_line") is not None:
        return f"{record['source_file']}@{record['source_line']}".encode()
    return None


def value_header(value_format: str, topic: str, schema_name: str, registry_url: str | None = None) -> bytes:
    """The bytes before the Avro body of every message on ``topic``. For ``confluent`` this registers the schema
    under ``<topic>-value`` at ``registry_url`` (raises ``schema_registry.SchemaRegistryError`` when it cannot)."""
    schema_id = None
    if value_format == avro_messages.CONFLUENT:
        if not registry_url:
            raise ValueError("the confluent value format needs a schema registry URL")
        schema_id = schema_registry.register_value_schema(registry_url, topic, schema_name)
    return avro_messages.header(value_format, schema_name, schema_id)


class _ProduceFn(beam.DoFn):
    def __init__(self, bootstrap: str, topic: str, schema_name: str, value_format: str, registry_url: str | None):
        self.bootstrap, self.topic, self.schema_name = bootstrap, topic, schema_name
        self.value_format, self.registry_url = value_format, registry_url

    def setup(self):
        from confluent_kafka import Producer

        self.header = value_header(self.value_format, self.topic, self.schema_name, self.registry_url)
        self.producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "message.max.bytes": 16 << 20,
            }
        )

    def start_bundle(self):
        self.sent, self.failed = [], []

    def process(self, record, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        position = (record["source_file"], record["source_line"])

        def delivered(err, _msg, position=position, timestamp=timestamp, window=window):
            (self.failed if err else self.sent).append((position, timestamp, window, err))

        self.producer.produce(
            self.topic,
            key=message_key(record),
            value=avro_messages.encode(self.schema_name, record, self.header),
            on_delivery=delivered,
        )
        self.producer.poll(0)

    def finish_bundle(self):
        self.producer.flush()
        if self.failed:
            raise RuntimeError(f"{len(self.failed)} messages to {self.topic} not delivered: {self.failed[0][3]}")
        for position, timestamp, window, _ in self.sent:
            yield WindowedValue((*position, SINK), timestamp, [window])

    def teardown(self):
        producer = getattr(self, "producer", None)
        if producer is not None:
            producer.flush(10)


class WriteKafkaMessages(beam.PTransform):
    """Records -> messages on ``topic``; outputs ``(source_file, source_line, "kafka")`` for each delivered one.
    ``value_format``: one of ``avro_messages.VALUE_FORMATS``; ``registry_url``: the schema registry (confluent)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        schema_name: str,
        value_format: str = avro_messages.SINGLE_OBJECT,
        registry_url: str | None = None,
    ):
        super().__init__()
        self.bootstrap, self.topic, self.schema_name = bootstrap, topic, schema_name
        self.value_format, self.registry_url = value_format, registry_url

    def expand(self, records):
        produce = _ProduceFn(self.bootstrap, self.topic, self.schema_name, self.value_format, self.registry_url)
        return records | "Produce" >> beam.ParDo(produce)
