"""Kafka out: records and dead letters as Avro single-object encoded messages (``avro_messages``).

A Python producer (confluent-kafka, ``acks=all``, idempotent) rather than Beam's Java ``WriteToKafka``:
its delivery reports tell which messages the brokers accepted, and only those are passed on as
acknowledgements, so input offsets are committed after the output exists (``kafka_offsets``).
A bundle whose messages are not all delivered fails and is retried by the runner (at least once).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.io import avro_messages

SINK = "kafka"  # the name acknowledgements carry (kafka_offsets)


def message_key(record: dict) -> bytes | None:
    """Records are keyed by article id (one partition per article, so its versions stay in order);
    dead letters by their input position, which may be unknown."""
    if "id" in record:
        return record["id"].encode("utf-8")
    if record.get("source_line") is not None:
        return f"{record['source_file']}@{record['source_line']}".encode()
    return None


class _ProduceFn(beam.DoFn):
    def __init__(self, bootstrap: str, topic: str, schema_name: str):
        self.bootstrap, self.topic, self.schema_name = bootstrap, topic, schema_name

    def setup(self):
        from confluent_kafka import Producer

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
            value=avro_messages.encode(self.schema_name, record),
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
    """Records -> messages on ``topic``; outputs ``(source_file, source_line, "kafka")`` for each delivered one."""

    def __init__(self, bootstrap: str, topic: str, schema_name: str):
        super().__init__()
        self.bootstrap, self.topic, self.schema_name = bootstrap, topic, schema_name

    def expand(self, records):
        return records | "Produce" >> beam.ParDo(_ProduceFn(self.bootstrap, self.topic, self.schema_name))
