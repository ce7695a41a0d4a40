"""The Faust app: one validating agent per provider topic, one aggregating agent per enterprise key.

    provider topics ──validate.<topic>──▶ credit.normalized.v1 ──aggregate──▶ credit.aggregates.v1
                         │                                         │
                         ▼                                         ▼
                 credit.deadletter.v1                  ledger table (changelog-backed)

Validation and aggregation are the plain functions in streams.pipeline / ledger / aggregates,
the same ones ``creditstream replay`` calls.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import OrderedDict

import faust

from creditstream.contract import AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, NORMALIZED_TOPIC, PROVIDER_TOPICS
from creditstream.settings import Settings
from monitoring import metrics
from schemas.registry import default_registry
from streams.aggregates import compute
from streams.ledger import Ledger
from streams.months import format_month, live_as_of_month, parse_month
from streams.pipeline import accept, dead_letter, decode_avro, normalized_line
from streams.validation import Invalid

log = logging.getLogger("creditstream.worker")


def raw() -> dict:
    """Bytes in, bytes out: decoding is ours, so no message can crash the agent in Faust's decoder.
    A fresh Schema each time: Faust mutates the one a Table is given."""
    return {"schema": faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")}


def json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class CreditStream:
    """Builds the Faust app from settings; keeps the live as-of month."""

    def __init__(self, settings: Settings, clock=None):
        self.settings = settings
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.registry = default_registry()
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.bootstrap_servers}",
            store=settings.store,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            producer_linger=settings.producer_linger_ms / 1000,
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            datadir=settings.data_dir,
            table_standby_replicas=0,
        )
        self.normalized = self.app.topic(NORMALIZED_TOPIC, **raw())
        self.aggregates = self.app.topic(AGGREGATES_TOPIC, **raw())
        self.dead_letters = self.app.topic(DEAD_LETTER_TOPIC, **raw())
        # key: USCC bytes; value: Ledger.to_bytes(). use_partitioner: written inside stream.take().
        self.ledgers = self.app.Table(
            "ledger", default=None, partitions=settings.partitions, use_partitioner=True,
            key_type=bytes, value_type=bytes,  # bytes types make Faust use the raw codec
        )
        self.last_published: dict[bytes, int] = {}  # key -> hash of the row last sent, to skip repeats
        # decoded ledgers of recently active enterprises (LRU); the table holds the durable bytes
        self.cache: OrderedDict[bytes, Ledger] = OrderedDict()
        self.as_of = self.current_as_of()
        metrics.AS_OF_MONTH.set(self.as_of)
        for topic in PROVIDER_TOPICS:
            self.app.agent(self.app.topic(topic, **raw()), name=f"validate.{topic}")(self.validate_agent)
        self.app.agent(self.normalized, name="aggregate")(self.aggregate_agent)
        self.app.timer(settings.month_check_seconds)(self.month_rollover)
        self.app.page("/metrics")(metrics_page)
        self.app.on_partitions_revoked.connect(self.forget_cached_ledgers)
        self.app.on_partitions_assigned.connect(self.forget_cached_ledgers)

    def current_as_of(self) -> int:
        return parse_month(self.settings.as_of) if self.settings.as_of else live_as_of_month(self.clock())

    # -- validation --------------------------------------------------------------------------------
    async def validate_agent(self, stream) -> None:
        async for event in stream.events():
            message = event.message
            metrics.EVENTS_CONSUMED.labels(message.topic).inc()
            try:
                record, value = decode_avro(self.registry, message.topic, message.value)
                value = accept(record, value)
            except Invalid as exc:
                await self.send_dead_letter(exc, message)
                continue
            except Exception as exc:  # a bug must not stop the worker: the record goes to dead letters
                log.exception("unexpected error validating %s[%d]@%d", message.topic, message.partition, message.offset)
                await self.send_dead_letter(Invalid("UNDECODABLE", f"internal error: {exc!r}"), message)
                continue
            metrics.EVENT_TIME_LAG.observe(
                max(0.0, (dt.datetime.now(dt.timezone.utc) - value["occurred_at"]).total_seconds())
            )
            # keep the provider's produce time, so freshness is measured from the provider to ClickHouse
            await self.normalized.send(key=value["uscc"].encode(), value=normalized_line(message.topic, value),
                                       timestamp=message.timestamp)
            metrics.EVENTS_FORWARDED.labels(message.topic).inc()

    async def send_dead_letter(self, exc: Invalid, message) -> None:
        letter = dead_letter(
            exc.reason, exc.message,
            source_topic=message.topic, source_partition=message.partition, source_offset=message.offset,
            source_timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
            key_base64=_b64(message.key), value_base64=_b64(message.value),
        )
        position = f"{message.topic}:{message.partition}:{message.offset}".encode()
        await self.dead_letters.send(key=position, value=json_bytes(letter))
        metrics.DEAD_LETTERS.labels(exc.reason).inc()

    # -- aggregation -------------------------------------------------------------------------------
    async def aggregate_agent(self, stream) -> None:
        settings = self.settings
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            started = time.perf_counter()
            changed: dict[bytes, Ledger] = {}
            produced: dict[bytes, float] = {}  # newest provider produce time folded in, per enterprise
            for event in batch:
                try:
                    # validated upstream: the ledger folds the JSON form directly (no schema walk)
                    doc = json.loads(event.value)
                    record, value = PROVIDER_TOPICS[doc["topic"]], doc["value"]
                    if record == "ConsentGrant":
                        continue
                    key = value["uscc"].encode()
                    ledger = changed.get(key) or self.load(key)
                    applied = ledger.apply(record, value)
                except Exception as exc:  # only a foreign or corrupt message can get here: never stall
                    log.exception("unreadable normalised event %s[%d]@%d", event.message.topic,
                                  event.message.partition, event.message.offset)
                    await self.send_dead_letter(Invalid("UNDECODABLE", f"normalised event unreadable: {exc!r}"),
                                                event.message)
                    continue
                if applied:
                    changed[key] = ledger
                    produced[key] = max(produced.get(key, 0.0), event.message.timestamp or 0.0)
            for key, ledger in changed.items():  # one changelog write per enterprise per batch
                self.ledgers[key] = ledger.to_bytes()
                await self.publish(key, ledger, produced[key] or None)
            metrics.EVENTS_AGGREGATED.inc(len(batch))
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def load(self, key: bytes) -> Ledger:
        """The enterprise's ledger: from the in-memory cache, else from the table."""
        ledger = self.cache.get(key)
        if ledger is not None:
            self.cache.move_to_end(key)
            return ledger
        stored = self.ledgers.get(key)
        ledger = Ledger.from_bytes(stored) if stored else Ledger()
        self.cache[key] = ledger
        if len(self.cache) > self.settings.ledger_cache_size:
            self.cache.popitem(last=False)
        return ledger

    async def forget_cached_ledgers(self, *args, **kwargs) -> None:
        """After a rebalance the table is the truth again: partitions may have moved."""
        self.cache.clear()

    async def publish(self, key: bytes, ledger: Ledger, timestamp: float | None = None) -> None:
        if ledger.has_facts:
            row = json_bytes(compute(key.decode(), ledger, self.as_of))
            if self.last_published.get(key) == hash(row):
                return
            self.last_published[key] = hash(row)
            # the message timestamp says when the row was computed (lenders' updated_at); the header
            # carries the produce time of the newest provider event in it, for the freshness metric
            headers = {"source-produced-ms": str(int(timestamp * 1000)).encode()} if timestamp else None
            await self.aggregates.send(key=key, value=row, headers=headers)
            metrics.AGGREGATES_PUBLISHED.inc()

    async def month_rollover(self) -> None:
        as_of = self.current_as_of()
        if as_of == self.as_of:
            return
        log.info("as-of month moves %s → %s: republishing every enterprise", format_month(self.as_of), format_month(as_of))
        self.as_of = as_of
        metrics.AS_OF_MONTH.set(as_of)
        for key, stored in list(self.ledgers.items()):
            await self.publish(key, Ledger.from_bytes(stored))



async def metrics_page(view, request):
    body, content_type = metrics.exposition()
    return view.bytes(body, headers={"Content-Type": content_type})


def _b64(data: bytes | None) -> str | None:
    import base64

    return base64.b64encode(data).decode() if data is not None else None


def run_worker(settings: Settings) -> int:
    """The worker process: Faust agents, plus the ClickHouse sink and the lender API on their own
    threads (embedded ClickHouse allows one process per data directory)."""
    if settings.sink_enabled:
        from sinks.sink import ClickHouseSink

        sink = ClickHouseSink(settings)
        sink.start()
        if not sink.ready.wait(120):
            raise SystemExit("the ClickHouse sink did not start within 120 s")
    if settings.api_enabled:
        from api.server import ApiThread

        ApiThread(settings).start_and_wait()
    stream = CreditStream(settings)
    worker = faust.Worker(stream.app, loglevel=settings.log_level)
    # The start-up spinner sets the root logger to DEBUG (slow) and mangles log files.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
