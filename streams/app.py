"""The Faust app: one agent over the provider topics validates each event and folds it straight
into the enterprise's ledger; one more agent folds the events that arrive on the "wrong" partition.

    provider topics ──validate──▶ ledger (memory, write-behind) ──▶ credit.aggregates.v1
         │      │            │                    └──────▶ ledger table (changelog-backed)
         │      │            └──▶ credit.normalized.v1 (every valid event, Avro; the sink's history)
         │      └──▶ credit.deadletter.v1
         └─(partition ≠ murmur2(USCC))──▶ credit.ledger-repartition.v1 ──repartition──▶ ledger

Each event crosses Faust once. Events are acknowledged only after the ledgers they changed are
written to the table and everything they produced is delivered (``persist``), so Faust never
commits an offset whose effects could be lost. docs/stream-design.md explains the design.
Validation and aggregation are the plain functions in streams.pipeline / ledger / aggregates,
the same ones ``creditstream replay`` calls.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import os
import time

import faust
from aiokafka.partitioner import murmur2

from creditstream.contract import (
    AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, NORMALIZED_TOPIC, PROVIDER_TOPICS, REPARTITION_TOPIC,
)
from creditstream.settings import Settings
from monitoring import metrics
from schemas.registry import default_registry
from streams.aggregates import compute
from streams.months import format_month, live_as_of_month, parse_month
from streams.output import Output
from streams.pipeline import accept, dead_letter, decode_avro, normalized_avro
from streams.state import LedgerState
from streams.validation import Invalid

log = logging.getLogger("creditstream.worker")
YIELD_EVERY = 200  # aggregate rows published, or ledgers written, between yields to the event loop
PUBLISH_BACKOFF = 9.0  # idle time after a publish round, as a multiple of the round's cost
CATCH_UP_LAG = 5.0  # seconds behind the providers from which the worker counts as catching up


def raw() -> dict:
    """Bytes in, bytes out: decoding is ours, so no message can crash the agent in Faust's decoder.
    A fresh Schema each time: Faust mutates the one a Table is given."""
    return {"schema": faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")}


def json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, librdkafka murmur2, aiokafka) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class App(faust.App):
    """faust.App without Faust's built-in Monitor sensor. The Monitor keeps per-message statistics
    for Faust's own web pages (~5 % of the worker's time, measured); nothing here reads them, and
    the Prometheus metrics in monitoring/ cover the same ground."""

    def on_init_dependencies(self):
        services = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return services


class CreditStream:
    """Builds the Faust app from settings; keeps the live as-of month."""

    def __init__(self, settings: Settings, clock=None, sink_service=None):
        self.settings = settings
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.registry = default_registry()
        self.app = App(
            settings.app_id,
            broker=f"kafka://{settings.bootstrap_servers}",
            store=settings.store,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            producer_linger=settings.producer_linger_ms / 1000,
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,  # unacknowledged events are re-read after a rebalance, by design
            broker_commit_interval=min(2.8, settings.persist_seconds),
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            datadir=settings.data_dir,
            table_standby_replicas=0,
        )
        # key: USCC bytes; value: Ledger.to_bytes(). Faust creates the changelog topic and rebuilds
        # the local store from it on start; persist() writes both itself (see write_ledger).
        self.ledgers = self.app.Table(
            "ledger", default=None, partitions=settings.partitions,
            key_type=bytes, value_type=bytes,  # bytes types make Faust use the raw codec
        )
        self.state = LedgerState(self.ledgers, settings.ledger_cache_size)
        self.output = Output(settings.bootstrap_servers, settings.producer_linger_ms)
        self.changelog = self.ledgers.changelog_topic.get_topic_name()
        self.pending: list = []  # events handled since the last persist; acknowledged by it
        self.folded = 0  # events folded into ledgers so far (the flusher notices a quiet stream)
        self.generation = 0  # bumped by every rebalance: a persist in flight must not ack old events
        self.partition_cache: dict[bytes, int] = {}
        self.copartitioned: set[str] = set()  # provider topics with the table's partition count
        self.last_published: dict[bytes, int] = {}  # key -> hash of the row last sent, to skip repeats
        self.as_of = self.current_as_of()
        metrics.AS_OF_MONTH.set(self.as_of)
        # one agent over every provider topic: one stream and one task to wake per fetched batch
        self.app.agent(self.app.topic(*PROVIDER_TOPICS, **raw()), name="validate")(self.validate_agent)
        self.app.agent(self.app.topic(REPARTITION_TOPIC, **raw()), name="repartition")(self.repartition_agent)
        self.app.task(self.flusher)
        self.app.timer(settings.month_check_seconds)(self.month_rollover)
        self.app.page("/metrics")(metrics_page(sink_service))
        if sink_service is not None:
            self.app.timer(1.0)(_async(sink_service.check))
        self.app.on_partitions_revoked.connect(self.on_rebalance)
        self.app.on_partitions_assigned.connect(self.on_rebalance)

    def current_as_of(self) -> int:
        return parse_month(self.settings.as_of) if self.settings.as_of else live_as_of_month(self.clock())

    # -- validation and folding --------------------------------------------------------------------
    async def validate_agent(self, stream) -> None:
        consumed = {t: metrics.EVENTS_CONSUMED.labels(t) for t in PROVIDER_TOPICS}
        forwarded = {t: metrics.EVENTS_FORWARDED.labels(t) for t in PROVIDER_TOPICS}
        manual = stream.noack()
        async for _ in manual:  # not .events(): one async generator less per event
            event = manual.current_event
            message = event.message
            topic = message.topic
            consumed[topic].inc()
            self.pending.append(event)
            try:
                record, decoded = decode_avro(self.registry, topic, message.value)
                value = accept(record, decoded)
                data = normalized_avro(self.registry, record, message.value, decoded, value)
            except Invalid as exc:
                self.send_dead_letter(exc, message)
                continue
            except Exception as exc:  # a bug must not stop the worker: the record goes to dead letters
                log.exception("unexpected error validating %s[%d]@%d", topic, message.partition, message.offset)
                self.send_dead_letter(Invalid("UNDECODABLE", f"internal error: {exc!r}"), message)
                continue
            metrics.EVENT_TIME_LAG.observe(
                max(0.0, (dt.datetime.now(dt.timezone.utc) - value["occurred_at"]).total_seconds())
            )
            key = value["uscc"].encode()
            produced = message.timestamp or 0.0
            # keep the provider's produce time, so freshness is measured from the provider on
            self.output.send(NORMALIZED_TOPIC, key, data, int(produced * 1000))
            forwarded[topic].inc()
            if record == "ConsentGrant" or self.ledger_is_here(topic, message.partition, key):
                self.fold(key, record, value, produced)
            else:  # the ledger lives on another partition, maybe another worker: re-key it there
                self.output.send(REPARTITION_TOPIC, key, data, int(produced * 1000))
                metrics.EVENTS_REPARTITIONED.labels(topic).inc()

    async def repartition_agent(self, stream) -> None:
        manual = stream.noack()
        async for _ in manual:
            event = manual.current_event
            message = event.message
            self.pending.append(event)
            try:
                record, value = self.registry.decode(message.value)  # validated and normalised upstream
                self.fold(message.key, record, value, message.timestamp or 0.0)
            except Exception as exc:  # only a foreign or corrupt message can get here: never stall
                log.exception("unreadable re-keyed event %s[%d]@%d", message.topic, message.partition, message.offset)
                self.send_dead_letter(Invalid("UNDECODABLE", f"re-keyed event unreadable: {exc!r}"), message)

    def fold(self, key: bytes, record: str, value: dict, produced: float) -> None:
        if record != "ConsentGrant":  # consent lives in ClickHouse (the sink), not in the ledger
            self.state.fold(key, record, value, produced)
            self.folded += 1
        metrics.EVENTS_AGGREGATED.inc()

    def ledger_is_here(self, topic: str, partition: int, key: bytes) -> bool:
        """The event arrived on the partition number its ledger lives on (so: on this worker)."""
        return topic in self.copartitioned and self.partition_of(key) == partition

    def partition_of(self, key: bytes) -> int:
        partition = self.partition_cache.get(key)
        if partition is None:
            if len(self.partition_cache) > 1_000_000:
                self.partition_cache.clear()
            partition = self.partition_cache[key] = partition_for(key, self.settings.partitions)
        return partition

    def send_dead_letter(self, exc: Invalid, message) -> None:
        letter = dead_letter(
            exc.reason, exc.message,
            source_topic=message.topic, source_partition=message.partition, source_offset=message.offset,
            source_timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
            key_base64=_b64(message.key), value_base64=_b64(message.value),
        )
        position = f"{message.topic}:{message.partition}:{message.offset}".encode()
        self.output.send(DEAD_LETTER_TOPIC, position, json_bytes(letter))
        metrics.DEAD_LETTERS.labels(exc.reason).inc()

    # -- publishing and persisting -----------------------------------------------------------------
    async def flusher(self) -> None:
        """Publish changed aggregates every publish_seconds (see publish_due); persist every
        persist_seconds."""
        last_persist = last_round = time.monotonic()
        busy, folded_seen = 0.0, 0
        while True:
            await asyncio.sleep(self.settings.publish_seconds)
            self.output.poll()
            quiet, folded_seen = self.folded == folded_seen, self.folded
            if self.state.unpublished and (quiet or self.publish_due(time.monotonic() - last_round, busy)):
                started = time.perf_counter()
                await self.publish_changed()
                busy, last_round = time.perf_counter() - started, time.monotonic()
            if time.monotonic() - last_persist >= self.settings.persist_seconds:
                last_persist = time.monotonic()
                await self.persist()

    def publish_due(self, since_last_round: float, busy: float) -> bool:
        """Steady state: every publish_seconds, or PUBLISH_BACKOFF times the last round's cost when
        rounds get expensive (≤ 10 % of the worker). Catching up (the newest changed event was
        produced more than CATCH_UP_LAG ago): rows are stale anyway, so they wait for the next
        persist, and one row covers many more events. A stream gone quiet publishes at once."""
        if time.time() - max(self.state.unpublished.values()) > CATCH_UP_LAG:
            return False
        return since_last_round >= max(self.settings.publish_seconds, PUBLISH_BACKOFF * busy)

    async def publish_changed(self) -> None:
        started = time.perf_counter()
        changed = self.state.take_unpublished()
        for done, (key, produced) in enumerate(changed.items(), 1):
            self.publish(key, produced)
            if done % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the agents run between chunks
        if changed:
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def publish(self, key: bytes, produced: float) -> None:
        ledger = self.state.load(key)
        if not ledger.has_facts:
            return
        row = json_bytes(compute(key.decode(), ledger, self.as_of))
        if self.last_published.get(key) == hash(row):
            return
        self.last_published[key] = hash(row)
        # the message timestamp says when the row was computed (lenders' updated_at); the header
        # carries the produce time of the newest provider event in it, for the freshness metric
        headers = [("source-produced-ms", str(int(produced * 1000)).encode())] if produced else None
        self.output.send(AGGREGATES_TOPIC, key, row, headers=headers)
        metrics.AGGREGATES_PUBLISHED.inc()

    async def persist(self) -> None:
        """Write changed ledgers to the table, publish what is still unpublished, wait until every
        message is delivered, then acknowledge the events: only now may Faust commit them."""
        started = time.perf_counter()
        generation, events, self.pending = self.generation, self.pending, []
        for done, (key, ledger) in enumerate(self.state.take_unpersisted().items(), 1):
            self.write_ledger(key, ledger.to_bytes())  # one changelog record per enterprise per round
            if done % YIELD_EVERY == 0:
                await asyncio.sleep(0)
                if generation != self.generation:  # rebalanced meanwhile: the table is the truth
                    return
        self.state.persisted()
        await self.publish_changed()
        try:
            await self.output.flush()
        except Exception:
            # Acknowledging now would lose these events; exiting makes them be processed again.
            log.critical("output could not be delivered; exiting the worker", exc_info=True)
            logging.shutdown()
            os._exit(70)
        if generation == self.generation:
            for event in events:
                event.ack()
        metrics.PERSIST_SECONDS.observe(time.perf_counter() - started)

    def write_ledger(self, key: bytes, value: bytes) -> None:
        """A table write without Faust's producer: the local store, and the changelog record on the
        key's partition through librdkafka. With Faust's producer, 2,500 ledger writes filled its
        buffer and its conductor held up every agent until it drained (measured: a ~0.8 s persist
        round let 2-500 events through, against ~2,000 this way). Delivery is confirmed by
        persist's flush before any event is acknowledged. (No persisted changelog offsets are
        recorded, so a RocksDB store would recover by re-reading the changelog: slower, still exact.)"""
        self.ledgers.data[key] = value
        self.output.send(self.changelog, key, value, partition=self.partition_of(key))

    async def on_rebalance(self, *args, **kwargs) -> None:
        """Partitions may have moved: drop unpersisted changes (their events were not acknowledged
        and will be read again) and trust the table."""
        self.generation += 1
        self.pending = []
        self.state.forget()
        consumer = self.app.consumer
        self.copartitioned = {t for t in PROVIDER_TOPICS
                              if consumer.topic_partitions(t) in (None, self.settings.partitions)}

    async def month_rollover(self) -> None:
        as_of = self.current_as_of()
        if as_of == self.as_of:
            return
        log.info("as-of month moves %s → %s: republishing every enterprise", format_month(self.as_of), format_month(as_of))
        self.as_of = as_of
        metrics.AS_OF_MONTH.set(as_of)
        self.state.mark_all_unpublished()


def metrics_page(sink_service):
    async def page(view, request):
        body, content_type = metrics.exposition(service=sink_service is None)
        if sink_service is not None:  # the sink service's series, so one scrape covers the worker
            extra = await asyncio.get_running_loop().run_in_executor(None, sink_service.metrics_text)
            body += extra or b""
        return view.bytes(body, headers={"Content-Type": content_type})
    return page


def _b64(data: bytes | None) -> str | None:
    import base64

    return base64.b64encode(data).decode() if data is not None else None


def _async(check):
    async def run() -> None:
        check()
    return run


def run_worker(settings: Settings) -> int:
    """The worker process: Faust agents; it starts the sink service process (ClickHouse sink, plus
    the lender API with embedded ClickHouse) first and stops it on the way out."""
    # A worker holds many long-lived objects (ledgers, in-flight events): with the default young-
    # generation threshold (700) the collector rescans them constantly (~12 % of throughput measured).
    gc.set_threshold(100_000, 50, 100)
    sink_service = None
    if settings.sink_enabled:
        from sinks.service import SinkService

        sink_service = SinkService(settings).start()
    elif settings.api_enabled:
        from api.server import ApiThread

        ApiThread(settings).start_and_wait()
    try:
        stream = CreditStream(settings, sink_service=sink_service)
        worker = faust.Worker(stream.app, loglevel=settings.log_level)
        # The start-up spinner sets the root logger to DEBUG (slow) and mangles log files.
        worker.spinner = None
        worker.execute_from_commandline()
    finally:
        if sink_service is not None:
            sink_service.stop()
    return 0
