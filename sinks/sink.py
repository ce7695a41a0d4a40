"""The ClickHouse sink: aggregates, normalised events, dead letters and key events → ClickHouse.

Batches are bounded by rows and by time. A batch is inserted, then its offsets are committed;
a crash in between re-delivers it, and the re-insert is absorbed twice over: the deduplication
token (topic/partition/offset ranges) skips an identical insert, and ReplacingMergeTree versions
plus FINAL reads make any re-split batch collapse to the same visible rows. When ClickHouse is
unavailable the sink pauses its partitions (also those a rebalance assigns meanwhile), retries
with back-off, commits nothing, and resumes. A message it cannot turn into a row goes to the
dead-letter topic (reason SINK_UNCONVERTIBLE), delivered before its offset is committed.
Nothing is skipped silently. See docs/sink-design.md.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from typing import Callable, Optional

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from creditstream.monitoring import metrics
from creditstream.schemas.models import DeadLetter
from creditstream.schemas.rules import SINK_UNCONVERTIBLE
from creditstream.schemas.tables import columns
from creditstream.schemas.topics import AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, SOURCE_PRODUCED_HEADER
from creditstream.sinks.clickhouse import bound_dead_letter_bytes, connect, migrate
from creditstream.sinks.config import SinkConfig
from creditstream.sinks.rows import SINK_TOPICS, message_time, to_rows

log = logging.getLogger("creditstream.sink")


def source_produced_seconds(message) -> float:
    """Produce time of the newest provider event in an aggregate row (header set by the
    worker), else the row's own timestamp."""
    for name, value in message.headers() or ():
        if name == SOURCE_PRODUCED_HEADER:
            return int(value) / 1000
    return message_time(message.timestamp()[1]).timestamp()


# Tables whose row count tells a reader that the rest of a change is in ClickHouse (api/store.py
# finance_facts waits for finance_changes to hold what the API folded): inserted after the others.
MARKER_TABLES = frozenset({"finance_changes"})


class Batch:
    def __init__(self):
        self.rows: dict[str, list] = defaultdict(list)
        self.ranges: dict[tuple[str, int], list[int]] = {}  # (topic, partition) -> [first, last]
        self.started = 0.0
        self.count = 0
        self.aggregate_times: list = []
        self.dead_letters: list[DeadLetter] = []  # messages that could not become rows
        self.oldest_ms = 0  # produce time of its oldest message (ms since the epoch; 0: none known)

    def add(self, topic: str, partition: int, offset: int, timestamp_ms: int = 0) -> None:
        if not self.ranges:
            self.started = time.monotonic()
        span = self.ranges.setdefault((topic, partition), [offset, offset])
        span[1] = offset
        self.count += 1
        if timestamp_ms > 0 and (not self.oldest_ms or timestamp_ms < self.oldest_ms):
            self.oldest_ms = timestamp_ms

    def due(self, config: SinkConfig, now_monotonic: float, now_epoch: float) -> bool:
        """Insert now? At batch_rows messages, or batch_seconds after the first one; while the
        sink reads a backlog (a message in the batch was produced over catch_up_lag_seconds ago)
        catch_up_batch_seconds instead, if longer: those rows are late anyway, and fewer, larger inserts
        leave the worker the CPU it needs to catch up (pipeline benchmark, 2 cores: 0.1 s windows
        held the whole pipeline to ~2,800 events/s, 1 s windows let it reach ~4,000)."""
        if not self.count:
            return False
        if self.count >= config.batch_rows:
            return True
        behind = bool(self.oldest_ms) and now_epoch - self.oldest_ms / 1000 > config.catch_up_lag_seconds
        window = max(config.batch_seconds, config.catch_up_batch_seconds) if behind else config.batch_seconds
        return now_monotonic - self.started >= window

    def token(self, table: str) -> str:
        ranges = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(self.ranges.items()))
        return hashlib.sha256(f"{table}|{ranges}".encode()).hexdigest()

    def commit_offsets(self) -> list[TopicPartition]:
        return [TopicPartition(t, p, last + 1) for (t, p), (_, last) in self.ranges.items()]


class ClickHouseSink(threading.Thread):
    """The sink on a thread of its own. If it fails for good it stops and keeps the exception in
    ``error``; whoever runs it decides what the process does then (creditstream.runtime)."""

    def __init__(self, config: SinkConfig, client_factory: Optional[Callable[[], object]] = None):
        super().__init__(name="clickhouse-sink", daemon=True)
        self.config = config
        # called on the sink's own thread: chdb wants one client per thread
        self.client_factory = client_factory or (lambda: connect(config.clickhouse_url))
        self.client = None
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.error: Optional[BaseException] = None
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.retrying = False  # a retry is waiting: every assigned partition stays paused
        # (topic, partition) assigned, kept by the rebalance callbacks: other threads read this,
        # never the consumer (a consumer call from another thread can deadlock with a rebalance)
        self.assigned: frozenset[tuple[str, int]] = frozenset()

    def run(self) -> None:
        try:
            self.consume()
        except BaseException as exc:
            if not self.stopping.is_set():
                log.critical("ClickHouse sink failed", exc_info=True)
                self.error = exc

    def consume(self) -> None:
        self.client = self.client_factory()
        self.retry(lambda: migrate(self.client), "apply migrations")
        self.retry(lambda: bound_dead_letter_bytes(self.client, self.config.dead_letter_retention_seconds),
                   "bound the dead letters' kept bytes")
        self.producer = Producer(self.config.kafka.producer())
        self.consumer = Consumer(self.config.kafka.consumer(
            self.config.group_id, **{"session.timeout.ms": int(self.config.session_timeout_seconds * 1000)}))
        self.consumer.subscribe(list(SINK_TOPICS), on_assign=self.on_assign, on_revoke=self.on_revoke)
        self.ready.set()
        batch = Batch()
        next_lag_report = 0.0
        try:
            while not self.stopping.is_set():
                if time.monotonic() >= next_lag_report:
                    self.report_lag()
                    next_lag_report = time.monotonic() + 10
                for message in self.consumer.consume(num_messages=1000, timeout=0.1):
                    if message.error():
                        log.warning("sink consumer: %s", message.error())
                        continue
                    self.add(batch, message)
                if batch.due(self.config, time.monotonic(), time.time()):
                    self.flush(batch)
                    batch = Batch()
            if batch.count:
                self.flush(batch)
        finally:
            self.consumer.close()

    def add(self, batch: Batch, message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        timestamp = message.timestamp()[1]
        batch.add(topic, partition, offset, timestamp)
        try:
            rows = to_rows(topic, offset, timestamp, message.value())
        except Exception as exc:  # our own topics: a foreign writer or a platform bug, never lost
            metrics.SINK_UNCONVERTIBLE.labels(topic).inc()
            log.error("sink cannot convert %s[%d]@%d: %r; sending it to %s", topic, partition, offset, exc,
                      DEAD_LETTER_TOPIC)
            batch.dead_letters.append(DeadLetter.of_message(
                SINK_UNCONVERTIBLE, f"the sink could not turn {topic}[{partition}]@{offset} into a row: {exc!r}",
                topic, partition, offset, timestamp if timestamp > 0 else None, message.key(), message.value()))
            return
        for row in rows:
            batch.rows[row.TABLE].append(row)
        if rows and topic == AGGREGATES_TOPIC:
            batch.aggregate_times.append(source_produced_seconds(message))

    def flush(self, batch: Batch) -> None:
        started = time.perf_counter()
        self.retry(lambda: self.insert(batch), "insert a batch")
        if batch.dead_letters:
            self.retry(lambda: self.send_dead_letters(batch), "deliver dead letters")
        self.retry(lambda: self.commit(batch), "commit offsets")
        metrics.SINK_INSERT_SECONDS.observe(time.perf_counter() - started)
        metrics.SINK_BATCH_ROWS.observe(batch.count)
        now = time.time()
        for produced in batch.aggregate_times:
            metrics.FRESHNESS.observe(max(0.0, now - produced))

    def send_dead_letters(self, batch: Batch) -> None:
        """All of the batch's dead letters, acknowledged by the broker (sent again on a retry:
        keyed by source position, a repeat is one row in ClickHouse)."""
        failures = []
        for letter in batch.dead_letters:
            self.producer.produce(DEAD_LETTER_TOPIC, letter.to_bytes(), letter.position,
                                  on_delivery=lambda err, _msg: err and failures.append(err))
        remaining = self.producer.flush(30)
        if remaining or failures:
            raise RuntimeError(f"{remaining} dead letters undelivered; failures: {failures[:3]}")

    def commit(self, batch: Batch) -> None:
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        offsets = [tp for tp in batch.commit_offsets() if (tp.topic, tp.partition) in assigned]
        if offsets:  # a partition revoked meanwhile is re-read by its new owner; RMT absorbs the repeat
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def insert(self, batch: Batch) -> None:
        """Each table's rows; the history tables that readers count to know a write has arrived
        (finance_changes) go last, so that a count that includes a change finds its typed row too."""
        for table, rows in sorted(batch.rows.items(), key=lambda item: item[0] in MARKER_TABLES):
            self.client.insert(table, rows, column_names=columns(table),
                               settings={"insert_deduplication_token": batch.token(table)})
            metrics.SINK_ROWS.labels(table).inc(len(rows))

    def retry(self, action, what: str) -> None:
        """Run ``action`` until it succeeds. While failing, every assigned partition is paused, so
        polling to keep the group membership alive cannot hand over (and lose) new messages."""
        delay = 0.2
        while True:
            try:
                action()
                metrics.SINK_UP.set(1)
                self.resume()
                return
            except Exception as exc:
                if self.stopping.is_set():
                    raise
                if not isinstance(exc, KafkaException):
                    metrics.SINK_FAILURES.inc()
                    metrics.SINK_UP.set(0)
                log.warning("sink could not %s: %s; retrying in %.1fs", what, str(exc).splitlines()[0], delay)
                self.pause()
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.stopping.is_set():
                self.keep_alive()
            delay = min(delay * 2, 10.0)

    def pause(self) -> None:
        if self.consumer is not None and not self.retrying:
            self.retrying = True
            self.consumer.pause(self.consumer.assignment())

    def resume(self) -> None:
        if self.retrying:
            self.retrying = False
            self.consumer.resume(self.consumer.assignment())

    def keep_alive(self) -> None:
        """Poll while a retry waits, so the group does not evict the sink. Should a message come
        anyway (a partition assigned by a rebalance before it could be paused), seek back to it and
        pause its partition: it is read again after the retry instead of being lost."""
        if self.consumer is None:
            time.sleep(0.05)
            return
        message = self.consumer.poll(0.05)
        if message is not None and not message.error():
            where = TopicPartition(message.topic(), message.partition(), message.offset())
            self.consumer.seek(where)
            self.consumer.pause([where])
            log.info("sink paused %s[%d] at %d during a retry", where.topic, where.partition, where.offset)

    def on_assign(self, consumer, partitions) -> None:
        """A rebalance during a retry assigns partitions unpaused: take them and pause them at once."""
        self.assigned = frozenset((p.topic, p.partition) for p in partitions)
        if self.retrying:
            consumer.assign(partitions)
            consumer.pause(partitions)
            log.info("sink paused newly assigned partitions during a retry: %s",
                     [(p.topic, p.partition) for p in partitions])

    def report_lag(self) -> None:
        """creditstream_sink_consumer_lag: end of each assigned partition minus the sink's position."""
        try:
            for tp in self.consumer.position(self.consumer.assignment()):
                low, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=False)
                position = tp.offset if tp.offset >= 0 else low
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
        except KafkaException as exc:
            log.debug("consumer lag not available: %s", exc)

    def on_revoke(self, consumer, partitions) -> None:
        self.assigned = frozenset()
        log.info("sink partitions revoked: %s", [(p.topic, p.partition) for p in partitions])

    def stop(self) -> None:
        self.stopping.set()
