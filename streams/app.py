"""The Faust app: one agent over the provider topics validates each event and folds it straight
into the enterprise's ledger; one more agent folds the events that arrive on the "wrong" partition.

    provider topics ──validate──▶ ledger (memory, write-behind) ──▶ credit.aggregates.v1
         │      │  │         │                    └──────▶ ledger table (changelog-backed)
         │      │  │         └──▶ credit.normalized.v1 (every valid event, Avro; the sink's history)
         │      │  └──(identity numbers, masked)──▶ credit.masked.v1 ──fold──▶ ledger
         │      └──▶ credit.deadletter.v1
         └─(partition ≠ murmur2(USCC))──▶ credit.ledger-repartition.v1 ──fold──▶ ledger

The provider topics that carry clear identity numbers keep them only the dead-letter window; their
records are folded from the masked copy (kept forever), so a rebuild reads that copy.

Each event crosses Faust once. The parts, each testable on its own: routing (``Router``: is the
ledger here?), write-behind state (``LedgerState``), publishing (``Publisher``: rows and when)
and the checkpoint (``Checkpoint``: persist, then acknowledge). docs/stream-design.md explains
the design. Validation and aggregation are the plain functions the replay calls too.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Callable, NoReturn, Optional

import faust
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from faust.types import TP, Message

from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.models import ConsentState, DeadLetter
from creditstream.schemas.months import format_month, last_day, live_as_of_month, parse_month, today_in_shanghai
from creditstream.schemas.rules import INTERNAL, UNDECODABLE, Invalid
from creditstream.schemas.topics import (
    CONSENT_RECORD,
    CONSENT_STATE_TOPIC,
    DEAD_LETTER_TOPIC,
    FINANCE_ACCEPTED_TOPIC,
    FINANCE_TOPICS,
    MASKED_TOPIC,
    NORMALIZED_TOPIC,
    OUTBOUND_PUBLIC_TOPIC,
    PERSONAL_TOPICS,
    PROVIDER_TOPICS,
    PUBLIC_RECORDS,
    REPARTITION_TOPIC,
    city_of,
    replicated_topic,
    source_of,
)
from creditstream.streams.checkpoint import Checkpoint
from creditstream.streams.config import MIB, StreamConfig
from creditstream.streams.continuity import Continuity, gap, partition_heads, read_back
from creditstream.streams.disk_store import DiskStore, discard_if_beyond
from creditstream.streams.finance import fold_change
from creditstream.streams.output import Output
from creditstream.streams.pipeline import accept, accept_from_city, decode_avro, normalized_avro
from creditstream.streams.publishing import Publisher
from creditstream.streams.routing import Router
from creditstream.streams.state import LedgerState

log = logging.getLogger("creditstream.worker")


def raw() -> dict:
    """Bytes in, bytes out: decoding is ours, so no message can crash the agent in Faust's decoder.
    A fresh Schema each time: Faust mutates the one a Table is given."""
    return {"schema": faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")}


class RebalanceSensor(faust.Sensor):
    """The worker's one Faust sensor: how long each consumer group rebalance took it, from its
    start to the end of its tables' recovery (``creditstream_worker_rebalance_seconds``). Faust's
    app also needs some sensor to return a state at each rebalance, or it warns "Missing sensor
    state" at every one. Its per-message hooks are Faust's no-ops (~0.2 µs an event, measured)."""

    def on_rebalance_start(self, app) -> dict:
        return {"started": time.monotonic()}

    def on_rebalance_end(self, app, state: dict) -> None:
        metrics.REBALANCE_SECONDS.observe(time.monotonic() - state["started"])


class App(faust.App):
    """faust.App with RebalanceSensor in place of Faust's built-in Monitor sensor. The Monitor
    keeps per-message statistics for Faust's own web pages (~5 % of the worker's time, measured);
    nothing here reads them, and the Prometheus metrics in monitoring/ cover the same ground. (What
    Faust's consumer thread reads from it, the agent supplies: CreditStream.taken.)"""

    def on_init_dependencies(self):
        services = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        self.sensors.add(RebalanceSensor())
        return services


def _credentials(kafka) -> Optional[faust.SASLCredentials]:
    """The worker's SASL/SCRAM principal for Faust's aiokafka clients (None: plaintext)."""
    auth = kafka.aiokafka_auth()
    return faust.SASLCredentials(**auth) if auth else None


def _refuse(reason: str) -> NoReturn:
    raise RuntimeError(reason)


class CreditStream:
    """The Faust app built from a StreamConfig, wired to its parts. ``on_fatal`` is called when
    the worker must stop without acknowledging (the runtime exits the process); ``extra_metrics``
    returns more exposition text for the worker's /metrics (its sink service's series); ``output``
    replaces the librdkafka producer (tests hand in a recorder)."""

    def __init__(self, config: StreamConfig, clock=None, on_fatal: Callable[[str], NoReturn] = _refuse,
                 extra_metrics: Optional[Callable[[], Optional[bytes]]] = None, output=None):
        if not config.personal_data_key:
            raise ValueError("no personal-data key: identity numbers could not be protected (set "
                             "CREDITSTREAM_PERSONAL_DATA_KEY)")
        self.config = config
        self.personal_data_key = config.personal_data_key
        self.future_skew = dt.timedelta(seconds=config.future_skew_seconds)
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.codec = default_codec()
        self.app = App(
            config.app_id,
            broker=config.kafka.faust_broker(),
            broker_credentials=_credentials(config.kafka),
            store=config.store,
            topic_partitions=config.partitions,
            topic_replication_factor=config.replication_factor,
            producer_linger=config.producer_linger_ms / 1000,
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,  # unacknowledged events are re-read after a rebalance, by design
            broker_commit_interval=min(2.8, config.persist_seconds),
            web_host=config.web_host,
            web_port=config.web_port,
            web_bind=config.web_host,
            datadir=config.data_dir,
            table_standby_replicas=0,
            broker_session_timeout=config.session_timeout_seconds,
            broker_heartbeat_interval=min(3.0, config.session_timeout_seconds / 3),
            consumer_group_instance_id=config.group_instance_id,
        )
        # key: USCC bytes; value: Ledger.to_bytes(). Faust creates the changelog topic and rebuilds
        # the local store from it on start; write_ledger writes both itself.
        self.ledgers = self.app.Table(
            "ledger", default=None, partitions=config.partitions,
            key_type=bytes, value_type=bytes,  # bytes types make Faust use the raw codec
        )
        self.changelog = self.ledgers.changelog_topic.get_topic_name()
        self.output = output or Output(config.kafka, config.producer_linger_ms, config.producer_queue_mib)
        self.router = Router(config.partitions)
        self.state = LedgerState(self.ledgers, config.ledger_cache_mib * MIB, read=self.read_ledger)
        self.changelog_delivered: dict[int, int] = {}  # partition -> newest ledger record delivered
        metrics.LEDGERS_HELD.set_function(lambda: len(self.ledgers))
        metrics.LEDGER_MEMORY.labels("cached").set_function(lambda: self.state.cached_bytes)
        metrics.LEDGER_MEMORY.labels("pinned").set_function(lambda: self.state.pinned_bytes)
        self.as_of, self.reference = self.current_as_of(), self.current_reference()
        metrics.AS_OF_MONTH.set(self.as_of)
        self.publisher = Publisher(self.state, self.output, lambda: (self.as_of, self.reference), config.publish_seconds,
                                   whitelist=not config.province_cities, relieve=self.relieve_memory)
        self.checkpoint = Checkpoint(self.state, self.write_ledger, self.output, self.publisher.publish_changed,
                                     on_fatal, self.acknowledge, self.record_changelog_offsets)
        self.folded = 0  # events folded into ledgers so far (the flusher notices a quiet stream)
        # backpressure: folding waits while this much of changed ledgers is pinned in memory. A
        # checkpoint is brought forward at unpersisted_ledgers_mib, but the agents go on folding
        # while it writes; when each event changes another enterprise (a month's bills for 1M
        # firms) they outran the writes, and one worker measured 4.6 GiB before this bound
        self.unpersisted_limit = config.unpersisted_ledgers_mib * MIB  # bytes: a checkpoint comes here
        self.pinned_limit = 2 * self.unpersisted_limit
        # a city reads its providers' topics; the provincial node each city's replicated outbound topic
        self.inbound = tuple(replicated_topic(c) for c in config.province_cities) or tuple(PROVIDER_TOPICS)
        # every offset of the checkpointed agents' partitions reaches them (streams.continuity)
        self.continuity = Continuity()
        self.checked_topics = {*self.inbound, REPARTITION_TOPIC, MASKED_TOPIC, *FINANCE_TOPICS}
        self.on_fatal = on_fatal
        self.consumed = {t: metrics.EVENTS_CONSUMED.labels(t) for t in self.inbound}
        self.forwarded = {t: metrics.EVENTS_FORWARDED.labels(t) for t in self.inbound}
        self.repartitioned = {t: metrics.EVENTS_REPARTITIONED.labels(t) for t in self.inbound}
        self.tally = metrics.Tally()  # the per-event counters, added to Prometheus each tick and scrape
        if config.province_cities:
            self.app.agent(self.app.topic(*self.inbound, **raw()), name="gather")(
                self.acknowledged_by_checkpoint(self.handle_from_city))
            self.app.agent(self.app.topic(REPARTITION_TOPIC, **raw()), name="repartition")(
                self.acknowledged_by_checkpoint(self.handle_rekeyed))
        else:
            self.city_agents()
        self.app.task(self.flusher)
        self.app.timer(config.month_check_seconds)(self.calendar_check)
        self.app.page("/metrics")(metrics_page(extra_metrics, self.tally.flush))
        self.app.on_partitions_revoked.connect(self.on_revoked)
        self.app.on_partitions_assigned.connect(self.on_assigned)

    def city_agents(self) -> None:
        """A city's agents: its providers' events, the re-keyed and masked ones, the loan loop."""
        # one agent over every provider topic: one stream and one task to wake per fetched batch
        self.app.agent(self.app.topic(*PROVIDER_TOPICS, **raw()), name="validate")(
            self.acknowledged_by_checkpoint(self.handle))
        # validated events folded where their ledger lives: re-keyed ones, and every masked one
        self.app.agent(self.app.topic(REPARTITION_TOPIC, MASKED_TOPIC, **raw()), name="repartition")(
            self.acknowledged_by_checkpoint(self.handle_rekeyed))
        # the loan loop: each key's book (schemas.finance.Book as JSON) on a table of its own;
        # accepted changes and dead letters go out through Faust's producer, attached to the
        # change's offset, so neither is lost nor committed past (streams.finance)
        self.books = self.app.Table("finance", default=None, partitions=self.config.partitions, key_type=bytes,
                                    value_type=bytes)
        self.finance_accepted = self.app.topic(FINANCE_ACCEPTED_TOPIC, **raw())
        self.finance_dead = self.app.topic(DEAD_LETTER_TOPIC, **raw())
        self.app.agent(self.app.topic(*FINANCE_TOPICS, **raw()), name="finance")(self.finance_agent)

    def current_as_of(self) -> int:
        return parse_month(self.config.as_of) if self.config.as_of else live_as_of_month(self.clock())

    def current_reference(self) -> dt.date:
        """R: pinned, or the last day of a pinned month (as replay), or today in Asia/Shanghai."""
        if self.config.as_of_date:
            return dt.date.fromisoformat(self.config.as_of_date)
        if self.config.as_of:
            return last_day(parse_month(self.config.as_of))
        return today_in_shanghai(self.clock())

    # -- validation and folding --------------------------------------------------------------------
    def acknowledged_by_checkpoint(self, handler: Callable) -> Callable:
        """An agent that hands every message to ``handler`` and leaves its acknowledgement to the
        checkpoint (after the ledgers it changed are persisted). It takes the stream in batches
        (Faust's ``noack_take``): the same per-event work done for a few hundred events at a time,
        between Faust's own per-message steps rather than interleaved with them, ran a bare agent
        1.4× faster (246,090 events: 25.2 s against 36.4 s, docs/benchmarks.md)."""
        async def agent(stream) -> None:
            async for batch in stream.noack_take(self.config.agent_batch_events, self.config.agent_batch_seconds):
                self.taken(batch)
                for event in batch:
                    await self.checkpointed(event, handler)
        return agent

    def taken(self, batch) -> None:
        """Tell Faust's consumer thread that the stream of each partition in ``batch`` (events of
        any agent) is taking events. The thread learns that from its Monitor sensor's
        ``stream_inbound_time``, which App drops: without this, a worker behind by more than
        ``stream_processing_timeout`` (5 min) logged "Stream has not started processing" at ERROR
        for every partition every few seconds while it was processing them (seen catching up 1M
        events)."""
        inbound, now = self.app.monitor.stream_inbound_time, time.monotonic()
        for event in batch:
            inbound[event.message.tp] = now

    async def checkpointed(self, event, handler: Callable) -> None:
        """One event of a batch: the offsets Faust's fetcher passed over before it first (read
        back), then the event itself; then wait while too many changed ledgers are pinned."""
        message = event.message
        if message.generation_id != self.app.consumer_generation_id:
            return  # fetched before a rebalance: passed over, as Faust's stream does; it is read again
        skipped = self.continuity.missing(message.tp, message.offset)
        if skipped is not None:
            missed = await self.read_back(message.tp, skipped)
            if missed is None:
                return  # a rebalance meanwhile: this event is read again after it
            for read in missed:
                self.checkpoint.handled(read.tp, read.offset)
                handler(read)
        self.checkpoint.handled(message.tp, message.offset)
        handler(message)
        while self.state.pinned_bytes >= self.pinned_limit:
            await self.checkpoint.released()

    def acknowledge(self, tp: TP, offset: int) -> None:
        """The checkpoint's step 5: the event at ``offset`` may be committed. The checkpoint keeps
        positions, not Faust's messages (streams.checkpoint.Handled), so Faust's consumer is handed
        one standing for it: the consumer's acknowledgement reads its partition and offset alone.
        (A read-back message was never Faust's own either.)"""
        self.app.consumer.ack(Message(tp.topic, tp.partition, offset, 0.0, 0, None, None, None, None, tp=tp))

    async def read_back(self, tp: TP, offsets: range) -> Optional[list]:
        """The messages Faust's fetcher passed over (streams.continuity), read from the broker, for
        the agent to handle before the one after them; None if a rebalance happened meanwhile (they
        are then read again where they belong). A broker that does not answer stops the worker:
        going on would let Faust commit past the hole."""
        generation = self.checkpoint.generation
        try:
            messages = await asyncio.to_thread(read_back, self.config.kafka, f"{self.config.app_id}-read-back", tp,
                                               offsets)
        except Exception as exc:
            self.on_fatal(f"{gap(tp, offsets)} never reached the worker and could not be read back ({exc}); "
                          "exiting without acknowledging")
            return None
        if generation != self.checkpoint.generation:
            return None
        log.warning("%s never reached the worker from Faust's fetcher; %d read back from the broker",
                    gap(tp, offsets), len(messages))
        metrics.EVENTS_READ_BACK.labels(tp.topic).inc(len(messages))
        return messages

    def validated(self, message, check: Callable, now: dt.datetime) -> Optional[tuple]:
        """``check(message, now)`` → (record, value, bytes to forward); None once a rejected message
        has gone to the dead-letter topic. A platform bug must not stop the worker, nor pass as the
        sender's fault: it is dead-lettered as INTERNAL."""
        try:
            return check(message, now)
        except Invalid as exc:
            self.send_dead_letter(exc, message)
        except Exception as exc:
            log.exception("internal error validating %s[%d]@%d", message.topic, message.partition, message.offset)
            self.send_dead_letter(Invalid(INTERNAL, f"internal error while validating: {exc!r}"), message)
        return None

    def check_provider_event(self, message, now: dt.datetime) -> tuple[str, dict, bytes]:
        record, decoded = decode_avro(self.codec, message.topic, message.value)
        value = accept(record, decoded, self.personal_data_key, now, self.future_skew)
        return record, value, normalized_avro(self.codec, record, message.value, decoded, value)

    def check_city_record(self, message, now: dt.datetime) -> tuple[str, dict, bytes]:
        return accept_from_city(self.codec, message.topic, message.value, now, self.future_skew)

    def handle(self, message) -> None:
        """One provider message: validated and normalised, then folded here or re-keyed to its
        ledger's partition; or a dead letter. Never raises: nothing may stop the agent."""
        topic, now = message.topic, dt.datetime.now(dt.timezone.utc)  # one clock read per event
        self.tally.add(self.consumed[topic])
        checked = self.validated(message, self.check_provider_event, now)
        if checked is None:
            return
        record, value, data = checked
        metrics.EVENT_TIME_LAG.observe(max(0.0, (now - value["occurred_at"]).total_seconds()))
        key = value["uscc"].encode()
        produced = message.timestamp or 0.0
        # keep the provider's produce time, so freshness is measured from the provider on
        produced_ms = int(produced * 1000)
        self.output.send(NORMALIZED_TOPIC, key, data, produced_ms)
        self.tally.add(self.forwarded[topic])
        if record in PUBLIC_RECORDS:  # leaves the city for the provincial node (masked above)
            self.output.send(OUTBOUND_PUBLIC_TOPIC, key, data, produced_ms)
        if record == CONSENT_RECORD:  # in force for the API and the sink: the last accepted, in topic order
            state = ConsentState.of_grant(value)
            self.output.send(CONSENT_STATE_TOPIC, state.key, state.to_bytes(), produced_ms)
        if topic in PERSONAL_TOPICS:  # folded from the masked copy, the one that outlives this topic's retention
            self.output.send(MASKED_TOPIC, key, data, produced_ms)
        elif record == CONSENT_RECORD or self.router.ledger_is_here(topic, message.partition, key):
            self.fold(key, record, value, produced)
        else:  # the ledger lives on another partition, maybe another worker: re-key it there
            self.output.send(REPARTITION_TOPIC, key, data, produced_ms)
            self.tally.add(self.repartitioned[topic])

    def handle_from_city(self, message) -> None:
        """One record of a city's outbound topic at the provincial node: validated again, folded
        with its city as a source (or re-keyed to its ledger's partition), or a dead letter."""
        topic = message.topic
        self.tally.add(self.consumed[topic])
        checked = self.validated(message, self.check_city_record, dt.datetime.now(dt.timezone.utc))
        if checked is None:
            return
        record, value, data = checked
        key, produced = value["uscc"].encode(), message.timestamp or 0.0
        self.output.send(NORMALIZED_TOPIC, key, data, int(produced * 1000))
        self.tally.add(self.forwarded[topic])
        if self.router.ledger_is_here(topic, message.partition, key):
            self.fold(key, record, value, produced, city_of(topic))
        else:
            self.output.send(REPARTITION_TOPIC, key, data, int(produced * 1000))
            self.tally.add(self.repartitioned[topic])

    def handle_rekeyed(self, message) -> None:
        """A validated event re-keyed to its ledger's partition (or a masked copy): folded here."""
        try:
            record, value = self.codec.decode(message.value)  # validated and normalised upstream
            # at the provincial node every provider id names its city ("heihe/…")
            source = source_of(value["provider_id"]) if self.config.province_cities else None
            self.fold(message.key, record, value, message.timestamp or 0.0, source)
        except Exception as exc:  # only a foreign or corrupt message can get here: never stall
            log.exception("unreadable re-keyed event %s[%d]@%d", message.topic, message.partition, message.offset)
            self.send_dead_letter(Invalid(UNDECODABLE, f"re-keyed event unreadable: {exc!r}"), message)

    async def finance_agent(self, stream) -> None:
        async for event in stream.events():  # acknowledged by Faust once the body is done
            self.taken((event,))
            message = event.message
            skipped = self.continuity.missing(message.tp, message.offset)
            if skipped is not None:
                for read in await self.read_back(message.tp, skipped) or ():
                    await self.fold_finance(read)
                    self.app.consumer.ack(read)
            await self.fold_finance(message)

    async def fold_finance(self, message) -> None:
        try:
            folded = fold_change(self.codec, self.books.get(message.key), message.topic, message.key, message.value)
        except Exception as exc:  # refused, unreadable or a platform bug: never stops the worker, never lost
            if not isinstance(exc, Invalid):
                log.exception("internal error folding %s[%d]@%d", message.topic, message.partition, message.offset)
                exc = Invalid(INTERNAL, f"internal error while folding: {exc!r}")
            letter = self.dead_letter(exc, message)
            await self.finance_dead.send(key=letter.position, value=letter.to_bytes())
            return
        self.books[message.key] = folded.book
        await self.finance_accepted.send(key=message.key, value=folded.accepted)
        metrics.FINANCE_CHANGES.labels(message.topic).inc()

    def fold(self, key: bytes, record: str, value: dict, produced: float, source: str | None = None) -> None:
        if record != CONSENT_RECORD:  # consent lives in ClickHouse (the sink), not in the ledger
            self.state.fold(key, record, value, produced, source)
            self.folded += 1
        self.tally.add(metrics.EVENTS_AGGREGATED)

    @staticmethod
    def dead_letter(exc: Invalid, message) -> DeadLetter:
        metrics.DEAD_LETTERS.labels(exc.reason).inc()
        return DeadLetter.of_message(exc.reason, exc.message, message.topic, message.partition, message.offset,
                                     int(message.timestamp * 1000) if message.timestamp else None, message.key,
                                     message.value)

    def send_dead_letter(self, exc: Invalid, message) -> None:
        letter = self.dead_letter(exc, message)
        self.output.send(DEAD_LETTER_TOPIC, letter.position, letter.to_bytes())

    # -- publishing and persisting -----------------------------------------------------------------
    async def flusher(self) -> None:
        """Publish changed aggregates every publish_seconds (see Publisher.due); a checkpoint every
        persist_seconds, or sooner once unpersisted_ledgers_mib changed: changed ledgers stay in
        memory until written, so their size, not the interval, bounds the worker's memory when
        many enterprises change at once (a month's statements for 1M firms)."""
        last_persist = last_round = time.monotonic()
        busy, folded_seen = 0.0, 0
        while True:
            await asyncio.sleep(self.config.publish_seconds)
            self.output.poll()
            self.tally.flush()
            quiet, folded_seen = self.folded == folded_seen, self.folded
            if self.state.unpublished and (quiet or self.publisher.due(time.monotonic() - last_round, busy)):
                started = time.perf_counter()
                await self.publisher.publish_changed()
                busy, last_round = time.perf_counter() - started, time.monotonic()
            due = self.checkpoint_due(time.monotonic() - last_persist, quiet)
            if due == "full":
                last_persist = time.monotonic()
                await self.checkpoint.persist()
            elif due == "free memory":  # the interval's round still comes on time: last_persist stays
                await self.checkpoint.free_memory()

    async def relieve_memory(self) -> None:
        """Between chunks of a publishing pass: write out what it pinned once past the bound (the
        agents wait for the round at twice it, but the pass itself would not)."""
        if self.state.unpersisted_bytes >= self.unpersisted_limit:
            await self.checkpoint.free_memory()

    def checkpoint_due(self, since_last: float, quiet: bool = False) -> Optional[str]:
        """"full" once the interval has passed, or unpersisted_ledgers_mib changed since the last
        checkpoint; while a backlog is read, the latter only frees memory ("free memory": ledgers
        written, rows and acknowledgements left to the interval's round, see Checkpoint)."""
        if since_last >= self.persist_interval():
            return "full"
        if self.state.unpersisted_bytes < self.unpersisted_limit:
            return None
        return "free memory" if not quiet and self.publisher.catching_up() else "full"

    def persist_interval(self) -> float:
        """persist_seconds; while a backlog is read, catch_up_persist_seconds: every round writes
        each changed ledger and publishes its row, and while catching up the next round would write
        and publish them again (at 2,500 × 12 a round cost ~1 s of the worker; four rounds a run
        became two). Events wait longer for their acknowledgement, and a crash re-reads more; both
        are safe (folding is idempotent)."""
        if self.publisher.catching_up():
            return max(self.config.persist_seconds, self.config.catch_up_persist_seconds)
        return self.config.persist_seconds

    def read_ledger(self, key: bytes) -> Optional[bytes]:
        """One stored ledger, asked of the table's store itself: the table's own ``get`` asks it
        twice (``key in`` and then ``[key]``; at scale nearly every event reads its ledger from
        disk, so that was two RocksDB reads each), and a disk store is asked for the key's own
        partition instead of every open one."""
        store = self.ledgers.data
        if isinstance(store, DiskStore):
            return store.get_at(self.router.partition_of(key), key)
        return store.get(key)

    def write_ledger(self, key: bytes, value: bytes) -> None:
        """A table write without Faust's producer: the local store, and the changelog record on the
        key's partition through librdkafka. With Faust's producer, 2,500 ledger writes filled its
        buffer and its conductor held up every agent until it drained (measured: a ~0.8 s persist
        round let 2-500 events through, against ~2,000 this way). Delivery is confirmed by the
        checkpoint's flush before any event is acknowledged; a store on disk then records the
        delivered offsets (``record_changelog_offsets``)."""
        partition = self.router.partition_of(key)
        store = self.ledgers.data
        if isinstance(store, DiskStore):
            store.put(partition, key, value)
        else:
            store[key] = value
        self.output.send(self.changelog, key, value, partition=partition, delivered=self.changelog_record_delivered)

    def changelog_record_delivered(self, partition: int, offset: int) -> None:
        # called from the thread flushing the producer; the checkpoint reads it once the flush is over
        if offset > self.changelog_delivered.get(partition, -1):
            self.changelog_delivered[partition] = offset

    def record_changelog_offsets(self) -> None:
        """After the checkpoint's flush: every ledger record up to these offsets is in the local
        store, so a restart's recovery starts after them (memory:// records nothing)."""
        delivered, self.changelog_delivered = self.changelog_delivered, {}
        for partition, offset in delivered.items():
            self.ledgers.data.set_persisted_offset(TP(self.changelog, partition), offset)

    def discard_stale_state(self) -> None:
        """Before Faust starts: a local partition database that holds more of its changelog than
        the changelog has (topic deleted, another cluster) is removed and recovered afresh."""
        stores = [table.data for table in self.app.tables.values() if isinstance(table.data, DiskStore)]
        if not stores:
            return
        consumer = Consumer(self.config.kafka.consumer(f"{self.config.app_id}-state-check"))
        try:
            for store in stores:
                topic = store.table.changelog_topic.get_topic_name()
                for partition in range(self.config.partitions):
                    path = store.path_of(partition)
                    if path.exists():  # asks the broker only about partitions held here
                        discard_if_beyond(path, changelog_end(consumer, topic, partition))
        finally:
            consumer.close()

    async def on_rebalance(self, *args, **kwargs) -> None:
        """Partitions may have moved: drop unpersisted changes (their events were not acknowledged
        and will be read again) and trust the table."""
        self.checkpoint.rebalanced()
        self.continuity.reset()
        consumer = self.app.consumer
        self.router.assigned({t: consumer.topic_partitions(t) for t in self.inbound})

    async def on_revoked(self, *args, **kwargs) -> None:
        metrics.INPUT_PARTITIONS.set(0)
        await self.on_rebalance()

    async def on_assigned(self, *args, **kwargs) -> None:
        """As ``on_rebalance``; then where each input partition will be read from, so that a first
        message past its head is noticed too (streams.continuity)."""
        await self.on_rebalance()
        metrics.INPUT_PARTITIONS.set(len(self.app.consumer.assignment()))
        generation = self.checkpoint.generation
        tps = [tp for tp in self.app.consumer.assignment() if tp.topic in self.checked_topics]
        try:
            heads = await asyncio.to_thread(partition_heads, self.config.kafka, self.config.app_id, tps)
        except Exception as exc:  # the check between messages still holds; only the heads go unchecked
            log.warning("could not ask where %d input partitions start (%s); checking from their first message",
                        len(tps), exc)
            return
        if generation == self.checkpoint.generation:
            self.continuity.start(heads)

    async def calendar_check(self) -> None:
        """A new month re-reads every enterprise (every v1 window moves); a new day (Asia/Shanghai)
        re-reads the registers of those that have any, and republishes only the rows that changed
        (a penalty leaving publicity, a licence expiring)."""
        as_of, reference = self.current_as_of(), self.current_reference()
        if as_of != self.as_of:
            log.info("as-of month moves %s → %s: republishing every enterprise", format_month(self.as_of),
                     format_month(as_of))
            self.as_of, self.reference = as_of, reference
            metrics.AS_OF_MONTH.set(as_of)
            sent, recomputed = await self.publisher.republish(self.state.iter_keys(), lambda ledger: True)
            log.info("as-of month is now %s: %d of %d rows sent", format_month(as_of), sent, recomputed)
        elif reference != self.reference:
            self.reference = reference
            sent, recomputed = await self.publisher.republish(self.state.iter_keys(), lambda ledger: ledger.registers)
            metrics.ROWS_REEVALUATED.inc(sent)
            log.info("reference date is now %s: %d of %d enterprises with registers changed", reference, sent, recomputed)


def changelog_end(consumer: Consumer, topic: str, partition: int) -> int:
    """The offset after the changelog partition's last record; 0 for a topic that does not exist."""
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    except KafkaException as exc:
        if exc.args[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION):
            return 0
        raise


def metrics_page(extra_metrics: Optional[Callable[[], Optional[bytes]]], before: Callable[[], None] = lambda: None):
    async def page(view, request):
        before()  # counts the worker has tallied but not yet added
        body, content_type = metrics.exposition(service=extra_metrics is None)
        if extra_metrics is not None:  # e.g. the sink service's series, so one scrape covers the worker
            body += await asyncio.get_running_loop().run_in_executor(None, extra_metrics) or b""
        return view.bytes(body, headers={"Content-Type": content_type})
    return page
