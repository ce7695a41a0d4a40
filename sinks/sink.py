"""The ClickHouse sink: aggregates, normalised events and dead letters → ClickHouse.

Batches are bounded by rows and by time. A batch is inserted, then its offsets are committed;
a crash in between re-delivers it, and the re-insert is absorbed twice over: the deduplication
token (topic/partition/offset ranges) skips an identical insert, and ReplacingMergeTree versions
plus FINAL reads make any re-split batch collapse to the same visible rows. When ClickHouse is
unavailable the sink pauses its partitions, retries with backoff, commits nothing, and resumes.
See docs/sink-design.md.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import defaultdict

from confluent_kafka import Consumer, KafkaException, TopicPartition

from creditstream.contract import AGGREGATES_TOPIC
from creditstream.settings import Settings
from monitoring import metrics
from sinks.clickhouse import connect, migrate
from sinks.rows import COLUMNS, SINK_TOPICS, message_time, to_row

log = logging.getLogger("creditstream.sink")


def source_produced_seconds(message) -> float:
    """Produce time of the newest provider event in an aggregate row (header set by the
    aggregator), else the row's own timestamp."""
    for name, value in message.headers() or ():
        if name == "source-produced-ms":
            return int(value) / 1000
    return message_time(message.timestamp()[1]).timestamp()


class Batch:
    def __init__(self):
        self.rows: dict[str, list] = defaultdict(list)
        self.ranges: dict[tuple[str, int], list[int]] = {}  # (topic, partition) -> [first, last]
        self.started = 0.0
        self.count = 0
        self.aggregate_times: list = []

    def add(self, topic: str, partition: int, offset: int) -> None:
        if not self.ranges:
            self.started = time.monotonic()
        span = self.ranges.setdefault((topic, partition), [offset, offset])
        span[1] = offset
        self.count += 1

    def token(self, table: str) -> str:
        ranges = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(self.ranges.items()))
        return hashlib.sha256(f"{table}|{ranges}".encode()).hexdigest()

    def commit_offsets(self) -> list[TopicPartition]:
        return [TopicPartition(t, p, last + 1) for (t, p), (_, last) in self.ranges.items()]


class ClickHouseSink(threading.Thread):
    def __init__(self, settings: Settings, client=None):
        super().__init__(name="clickhouse-sink", daemon=True)
        self.settings = settings
        self.client = client
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.consumer: Consumer | None = None

    def run(self) -> None:
        try:
            self.consume()
        except BaseException:
            if self.stopping.is_set():
                return
            # A sink that died silently would leave lenders with stale data while the worker looks
            # healthy: take the whole process down so its supervisor restarts it.
            log.critical("ClickHouse sink crashed; exiting the worker", exc_info=True)
            logging.shutdown()
            os._exit(70)

    def consume(self) -> None:
        if self.client is None:
            self.client = connect(self.settings.clickhouse_url)  # created on this thread: one client per thread
        self.retry(lambda: migrate(self.client), "apply migrations")
        self.consumer = Consumer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "group.id": f"{self.settings.app_id}-sink",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })
        self.consumer.subscribe(list(SINK_TOPICS), on_revoke=self.on_revoke)
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
                if batch.count and (batch.count >= self.settings.sink_batch_rows or
                                    time.monotonic() - batch.started >= self.settings.sink_batch_seconds):
                    self.flush(batch)
                    batch = Batch()
            if batch.count:
                self.flush(batch)
        finally:
            self.consumer.close()

    def add(self, batch: Batch, message) -> None:
        topic, offset = message.topic(), message.offset()
        batch.add(topic, message.partition(), offset)
        try:
            row = to_row(topic, offset, message.timestamp()[1], message.value())
        except Exception as exc:  # our own topics: a bad message is a bug, not a reason to stop
            metrics.SINK_UNPARSEABLE.labels(topic).inc()
            log.error("sink skips %s[%d]@%d: %r", topic, message.partition(), offset, exc)
            return
        if row is not None:
            batch.rows[row.table].append(row.values)
            if topic == AGGREGATES_TOPIC:
                batch.aggregate_times.append(source_produced_seconds(message))

    def flush(self, batch: Batch) -> None:
        started = time.perf_counter()
        self.retry(lambda: self.insert(batch), "insert a batch")
        self.retry(lambda: self.commit(batch), "commit offsets")
        metrics.SINK_INSERT_SECONDS.observe(time.perf_counter() - started)
        metrics.SINK_BATCH_ROWS.observe(batch.count)
        now = time.time()
        for produced in batch.aggregate_times:
            metrics.FRESHNESS.observe(max(0.0, now - produced))

    def commit(self, batch: Batch) -> None:
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        offsets = [tp for tp in batch.commit_offsets() if (tp.topic, tp.partition) in assigned]
        if offsets:  # a partition revoked meanwhile is re-read by its new owner; RMT absorbs the repeat
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def insert(self, batch: Batch) -> None:
        for table, rows in batch.rows.items():
            self.client.insert(table, rows, column_names=COLUMNS[table],
                               settings={"insert_deduplication_token": batch.token(table)})
            metrics.SINK_ROWS.labels(table).inc(len(rows))

    def retry(self, action, what: str) -> None:
        """Run ``action`` until it succeeds. While failing, the partitions are paused, so polling to
        keep the group membership alive cannot hand over (and lose) new messages."""
        delay, paused = 0.2, []
        while True:
            try:
                action()
                metrics.SINK_UP.set(1)
                if paused:
                    self.consumer.resume(paused)
                return
            except Exception as exc:
                if self.stopping.is_set():
                    raise
                if not isinstance(exc, KafkaException):
                    metrics.SINK_FAILURES.inc()
                    metrics.SINK_UP.set(0)
                log.warning("sink could not %s: %s; retrying in %.1fs", what, str(exc).splitlines()[0], delay)
                if self.consumer is not None and not paused:
                    paused = self.consumer.assignment()
                    self.consumer.pause(paused)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.stopping.is_set():
                if self.consumer is not None:
                    self.consumer.poll(0.05)  # keep group membership while waiting; partitions are paused
                else:
                    time.sleep(0.05)
            delay = min(delay * 2, 10.0)

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
        log.info("sink partitions revoked: %s", [(p.topic, p.partition) for p in partitions])

    def stop(self) -> None:
        self.stopping.set()
