"""Kafka in: Beam's cross-language ``ReadFromKafka`` (Java KafkaIO) -> RawUnits.

One message is one JSON article (the fields of a JSONL line). A unit remembers where its message came
from: ``source_file`` is ``kafka:<topic>/<partition>`` and ``line`` the offset, so every record and
dead letter names its message, and offsets can be committed after the sinks (``kafka_offsets``).
Event time is the message timestamp (Kafka CreateTime, or LogAppendTime where the topic sets it).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka

from transforms import dead_letter as dl
from transforms.article import RawUnit

SOURCE_PREFIX = "kafka:"
# KafkaIO's read keeps polling for this long before it hands the runner what it read (it returns from
# the splittable DoFn), and Prism releases a bundle's output only then: a message waits up to this long
# before it is processed. Beam's default is 2 s; 1 s is the least it takes (whole seconds).
POLL_SECONDS = 1


def source_name(topic: str, partition: int) -> str:
    return f"{SOURCE_PREFIX}{topic}/{partition}"


def parse_source_name(name: str) -> tuple[str, int] | None:
    """``kafka:<topic>/<partition>`` -> (topic, partition); None for other sources."""
    if not name.startswith(SOURCE_PREFIX):
        return None
    topic, _, partition = name[len(SOURCE_PREFIX) :].rpartition("/")
    return topic, int(partition)


def consumer_config(bootstrap: str, group_id: str) -> dict[str, str]:
    # Offsets are committed by this project after the sinks (kafka_offsets), never by the client on a
    # timer; a group with no committed offset starts at the beginning of the topic.
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
    }


class _MessageToUnitFn(beam.DoFn):
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process(self, message):
        source = source_name(message.topic, message.partition)
        try:
            value = bytes(message.value or b"")  # a null value (tombstone) is an empty, invalid article
            yield RawUnit(
                source, int(message.offset), value[: self.max_bytes], "jsonl", truncated=len(value) > self.max_bytes
            )
        except Exception as e:  # noqa: BLE001 - whatever the message holds, it ends as a dead letter
            yield dl.tagged(dl.dead_letter(dl.READ, e, raw=b"", source_file=source, source_line=int(message.offset)))


class ReadKafkaArticles(beam.PTransform):
    """Kafka topics -> RawUnits (main) | dead letters, timestamped with the message time."""

    def __init__(self, bootstrap: str, topics: list[str], group_id: str, expansion_service, max_bytes: int = 5 << 20):
        super().__init__()
        self.bootstrap, self.topics, self.group_id = bootstrap, list(topics), group_id
        self.expansion_service, self.max_bytes = expansion_service, max_bytes

    def expand(self, pbegin):
        messages = pbegin | "ReadFromKafka" >> ReadFromKafka(
            consumer_config=consumer_config(self.bootstrap, self.group_id),
            topics=self.topics,
            with_metadata=True,
            timestamp_policy=ReadFromKafka.create_time_policy,
            commit_offset_in_finalize=False,  # see kafka_offsets: committed after the sinks instead
            consumer_polling_timeout=POLL_SECONDS,
            expansion_service=self.expansion_service,
        )
        return messages | "ToUnits" >> beam.ParDo(_MessageToUnitFn(self.max_bytes)).with_outputs(
            dl.DEAD_LETTER, main="units"
        )
