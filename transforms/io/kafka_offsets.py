"""Consumer offsets committed only after the output exists: at-least-once from topic to sinks.

Every input message ends as exactly one record or one dead letter, and every sink reports the
(source_file, offset) of what it has durably written (``kafka_sink``: delivered to the brokers;
``avro_sinks``: window file renamed into place). Per partition, this keeps the offsets acknowledged by
every sink and commits the group's offset to the end of the unbroken run of finished offsets from the
last commit. So a crash at any point re-reads everything not yet written, and nothing is committed
that a sink has not written (duplicates after a restart are possible; losses are not).

A partition whose offsets have gaps (compacted topics, transaction markers) stops advancing its
commit at the first gap: still at least once, only with more re-reading after a restart.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import GlobalWindows

from transforms.io.kafka_read import parse_source_name

log = logging.getLogger(__name__)


def advance(next_offset: int, pending: dict[int, set], sinks: frozenset) -> int:
    """The first offset at or after ``next_offset`` that not every sink has acknowledged; acknowledged
    offsets before it are removed from ``pending``."""
    while pending.get(next_offset, set()) >= sinks:
        del pending[next_offset]
        next_offset += 1
    return next_offset


class _CommitFn(beam.DoFn):
    NEXT = ReadModifyWriteStateSpec("next_offset", PickleCoder())
    PENDING = ReadModifyWriteStateSpec("pending", PickleCoder())

    def __init__(self, bootstrap: str, group_id: str, sinks: frozenset):
        self.bootstrap, self.group_id, self.sinks = bootstrap, group_id, sinks

    def setup(self):
        from confluent_kafka import Consumer

        # never subscribes: it only reads and commits the group's offsets (KafkaIO assigns partitions
        # itself, so the group has no members and a plain commit is accepted)
        self.consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.group_id, "enable.auto.commit": False}
        )

    def _start(self, topic: str, partition: int) -> int:
        from confluent_kafka import TopicPartition

        (committed,) = self.consumer.committed([TopicPartition(topic, partition)], timeout=30)
        if committed.offset >= 0:
            return committed.offset
        low, _high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        return low  # no commit yet: the read started at the beginning (auto.offset.reset=earliest)

    def process(self, element, next_state=beam.DoFn.StateParam(NEXT), pending_state=beam.DoFn.StateParam(PENDING)):
        from confluent_kafka import TopicPartition

        source, (offset, sink) = element
        topic, partition = parse_source_name(source)
        next_offset = next_state.read()
        if next_offset is None:
            next_offset = self._start(topic, partition)
        pending = pending_state.read() or {}
        if offset >= next_offset:  # below it: a re-read message whose offset is committed already
            pending.setdefault(offset, set()).add(sink)
        advanced = advance(next_offset, pending, self.sinks)
        if advanced > next_offset:
            self.consumer.commit(offsets=[TopicPartition(topic, partition, advanced)], asynchronous=False)
            log.debug("committed %s/%d at %d", topic, partition, advanced)
            yield source, advanced
        next_state.write(advanced)
        pending_state.write(pending)

    def teardown(self):
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            consumer.close()


class CommitKafkaOffsets(beam.PTransform):
    """Acknowledgements ``(source_file, source_line, sink)`` from every sink -> committed offsets
    ``(kafka:<topic>/<partition>, next offset)``."""

    def __init__(self, bootstrap: str, group_id: str, sinks: list[str]):
        super().__init__()
        self.bootstrap, self.group_id, self.sinks = bootstrap, group_id, frozenset(sinks)

    def expand(self, acks):
        return (
            acks
            | "KafkaOnly" >> beam.Filter(lambda a: parse_source_name(a[0]) is not None and a[1] is not None)
            | "ByPartition"
            >> beam.Map(lambda a: (a[0], (int(a[1]), a[2]))).with_output_types(
                beam.typehints.KV[str, beam.typehints.Tuple[int, str]]
            )
            | "Global" >> beam.WindowInto(GlobalWindows())
            | "Commit" >> beam.ParDo(_CommitFn(self.bootstrap, self.group_id, self.sinks))
        )
