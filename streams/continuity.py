"""Every offset of an input partition reaches its handler: what Faust's fetcher passed over is read
back from the broker before the agent goes on.

Why the worker checks this itself: faust-streaming 0.15.3 commits the highest offset it counts as
handled, and its count can include a message its agents never saw. Found by the SIGKILL-restart
test (1 run in ~15): the restarted worker's streams flowed while Faust was still seeking them to
their committed offsets, and one message (offset 120 of a social-contribution partition; another
time offset 4 of the masked topic) never reached the agent, while 119 and 121 did. Faust then
committed past it: its gap check at the head of the acknowledged offsets lets a one-offset gap
through (``min(acked) - committed > 1``) and is skipped while nothing is committed yet. The event
was lost for good (an aggregate short by one month). The checkpoint acknowledges only what the
handler saw, so filling the hole before the next offset is handled keeps every commit honest.

``Continuity`` is the bookkeeping (no I/O): the next offset each partition owes, from the
partitions' heads at assignment (committed offset, or the log start) and then from each message
handled. ``read_back`` and ``partition_heads`` are the broker reads, with the worker's own
credentials and a consumer that never joins the group.
"""
from __future__ import annotations

import time
from typing import Iterable, Optional

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition
from faust.types import TP, Message

from creditstream.schemas.kafka import KafkaConnection

READ_TIMEOUT_SECONDS = 30.0  # reading a hole back; the worker exits (and re-reads) if the broker is gone longer


class Continuity:
    """The next offset each input partition owes its handler."""

    def __init__(self) -> None:
        self.expected: dict[TP, int] = {}

    def start(self, heads: dict[TP, int]) -> None:
        """After an assignment: Faust reads each partition from these offsets (its committed one,
        or the log start); a partition without a head is checked from its first message on. A
        partition already read from (the heads are asked for while the streams flow) keeps its place."""
        for tp, head in heads.items():
            self.expected.setdefault(tp, head)

    def reset(self) -> None:
        self.expected = {}

    def missing(self, tp: TP, offset: int) -> Optional[range]:
        """The offsets skipped before ``offset`` (None: none). An offset below the expected one is a
        message read again after a seek: handled again (folding is idempotent), nothing owed."""
        expected = self.expected.get(tp)
        if expected is None or offset == expected:
            self.expected[tp] = offset + 1
            return None
        if offset < expected:
            return None
        self.expected[tp] = offset + 1
        return range(expected, offset)


def gap(tp: TP, offsets: range) -> str:
    """A run of skipped offsets as logs and errors name it: ``topic[partition] offsets a-b``."""
    return f"{tp.topic}[{tp.partition}] offsets {offsets.start}-{offsets.stop - 1}"


def read_back(kafka: KafkaConnection, group: str, tp: TP, offsets: range,
              timeout: float = READ_TIMEOUT_SECONDS) -> list[Message]:
    """The records at ``offsets`` of one partition, as Faust messages (what the handlers take and
    Faust's consumer acknowledges). Offsets with no record (a transaction marker, compaction) are
    simply absent. Raises if the broker does not answer within ``timeout``."""
    consumer = Consumer(kafka.consumer(group, **{"enable.partition.eof": True}))
    try:
        consumer.assign([TopicPartition(tp.topic, tp.partition, offsets.start)])
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is None:
                continue
            if record.error():
                if record.error().code() == KafkaError._PARTITION_EOF:
                    return found
                raise KafkaException(record.error())
            if record.offset() >= offsets.stop:
                return found
            found.append(faust_message(record))
        raise TimeoutError(f"reading {gap(tp, offsets)} back took over {timeout:.0f} s")
    finally:
        consumer.close()


def faust_message(record) -> Message:
    """A confluent-kafka record as the Faust message the fetcher would have delivered."""
    timestamp_type, timestamp_ms = record.timestamp()
    return Message(record.topic(), record.partition(), record.offset(), timestamp_ms / 1000.0, timestamp_type,
                   record.headers() or [], record.key(), record.value(), None)


def partition_heads(kafka: KafkaConnection, group: str, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, int]:
    """Where Faust starts reading each partition after an assignment: the group's committed offset,
    or (none committed) the log start; an empty partition without a commit has no head yet."""
    wanted = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    if not wanted:
        return {}
    consumer = Consumer(kafka.consumer(group))  # never subscribes: asks, does not join
    try:
        heads = {TP(committed.topic, committed.partition): committed.offset
                 for committed in consumer.committed(wanted, timeout=timeout)
                 if committed.offset != OFFSET_INVALID and committed.offset >= 0}
        # timestamp 0: each log's first record (where Faust starts without a commit)
        starts = consumer.offsets_for_times([TopicPartition(t.topic, t.partition, 0) for t in wanted], timeout=timeout)
        for start in starts:
            tp = TP(start.topic, start.partition)
            if start.offset < 0:
                continue  # empty: the first record to come is the head
            heads[tp] = max(heads.get(tp, start.offset), start.offset)  # retention may have passed the commit
        return heads
    finally:
        consumer.close()
