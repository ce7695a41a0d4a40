"""What the API answers look-ups from: every API key, the consent in force per (enterprise,
lender) and the latest aggregate row per enterprise, held in memory and kept current from their
Kafka topics. A look-up then costs no ClickHouse round trip (a chdb point query takes ~3-6 ms and
serialises at ~300/s on this machine, docs/benchmarks.md), and a key, a revocation or a consent
takes effect as soon as its message is read (~0.1 s), not after the sink's next batch.

``ServingView`` is the state and its rules, without I/O; ``ViewFeed`` is the thread that reads
the topics into it. The view is ready once every partition has been read to the end once.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import threading
import time
import uuid
from typing import NamedTuple, Optional

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

from creditstream.api.row_store import DiskRows, MemoryRows
from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.cs_eval_2 import visible_red_lines
from creditstream.schemas.finance import Books
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import (
    PUBLIC,
    RED_LINES,
    SCOPES,
    UTILITY_AND_TAX,
    AggregateRow,
    ConsentState,
    DisputeState,
    IssuedReport,
    KeyEvent,
    RepairState,
    WebhookState,
    WhitelistChange,
    field_scope,
)
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    API_KEYS_TOPIC,
    CONSENT_STATE_TOPIC,
    DISPUTE_TOPIC,
    FINANCE_ACCEPTED_TOPIC,
    REPAIR_TOPIC,
    REPORT_TOPIC,
    WEBHOOK_TOPIC,
    WHITELIST_TOPIC,
)

log = logging.getLogger("creditstream.api.view")
UTC = dt.timezone.utc
VIEW_TOPICS = (API_KEYS_TOPIC, CONSENT_STATE_TOPIC, DISPUTE_TOPIC, REPAIR_TOPIC, WEBHOOK_TOPIC, WHITELIST_TOPIC,
               REPORT_TOPIC, FINANCE_ACCEPTED_TOPIC, AGGREGATES_TOPIC)
# the view's consumers read from assigned partitions and never commit; their group ids only name them
VIEW_GROUP_PREFIX = "creditstream-api-view-"
GROUPS = (PUBLIC, *SCOPES, UTILITY_AND_TAX)  # who may see a field of a row


class RowView(NamedTuple):
    """A row split by who may see it, so an answer is joined from ready JSON fragments (no decode,
    filter and re-encode of ~100 fields per look-up)."""
    head: dict  # uscc, as_of_month, as_of_date (and at the provincial node the sources: city aliases)
    fragments: dict[str, bytes]  # group → '"field":value,…' (no braces), for each group in GROUPS
    updated_at: dt.datetime  # when the worker computed the row
    updated_at_text: str  # the same, as answered (ISO 8601 UTC with Z)
    # eval_red_lines, kept apart: a lender sees it less the red lines resting on consent data it
    # lacks (cs_eval_2.visible_red_lines), so it is no group's fragment
    red_lines: tuple[str, ...] = ()

    def values(self) -> dict:
        """Every field (for tests and tools; look-ups use the fragments)."""
        out = dict(self.head)
        for fragment in self.fragments.values():
            if fragment:
                out.update(json.loads(b"{" + fragment + b"}"))
        out[RED_LINES] = list(self.red_lines)
        return out

    def red_lines_fragment(self, scopes) -> bytes:
        """'"eval_red_lines":[…]' as a viewer with consent ``scopes`` may see it."""
        shown = visible_red_lines(list(self.red_lines), scopes)
        return f'"{RED_LINES}":{json.dumps(shown)}'.encode()


def split_row(value: bytes, timestamp_ms: int) -> RowView:
    row = AggregateRow.decode(value)
    sources = row.values.pop("sources", None)  # the provincial node's rows name the cities gathered
    groups: dict[str, dict] = {group: {} for group in GROUPS}
    for name, field_value in row.values.items():
        if name != RED_LINES:
            groups[field_scope(name)][name] = field_value
    fragments = {group: json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()
                 for group, fields in groups.items()}
    head = {"uscc": row.uscc, "as_of_month": row.as_of_month, "as_of_date": row.as_of_date}
    if sources:
        head["sources"] = sources
    updated_at = dt.datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return RowView(head, fragments, updated_at, updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                   tuple(row.values[RED_LINES]))


class ServingView:
    """The latest message per key of each view topic, in topic order (one partition per key)."""

    def __init__(self, rows: MemoryRows | DiskRows | None = None) -> None:
        self.keys: dict[str, KeyEvent] = {}
        self.consents: dict[str, dict[str, ConsentState]] = {}  # uscc → lender id → the consent in force
        self.disputes: dict[str, DisputeState] = {}  # dispute id → its latest state
        self.disputes_of: dict[str, dict[str, DisputeState]] = {}  # uscc → dispute id → state
        self.repairs: dict[str, RepairState] = {}  # application id → its latest state
        self.repairs_of: dict[str, dict[str, RepairState]] = {}  # uscc → application id → state
        # uscc → (the row as the topic carries it, when the worker computed it in epoch ms), in
        # memory or on local disk (api.row_store); a row is split for look-ups once, when first
        # looked up, not for every row at start
        self.rows = rows if rows is not None else MemoryRows()
        self._pending_rows: list[tuple[str, Optional[bytes], int]] = []  # read, not yet written (disk)
        self._pending_offsets: dict[tuple[str, int], int] = {}
        # the whitelist: every change once, in topic order (offset, change), and who is on it now
        self.whitelist_changes: list[tuple[int, WhitelistChange]] = []
        self.whitelist_ids: set[str] = set()  # change ids seen: a change sent again is dropped
        self.whitelist: dict[str, WhitelistChange] = {}  # uscc → the change that put it on the list
        self.webhooks: dict[str, WebhookState] = {}  # webhook id → its latest state
        self.reports: dict[str, IssuedReport] = {}  # report number → the report as issued
        self.reports_of: dict[str, list[str]] = {}  # uscc → its report numbers, in issue order
        self.finance = Books()  # the loan loop as the worker accepted it (and the API's own changes at once)
        self.skipped = 0  # messages that did not fit their model (the sink dead-letters them)

    def apply(self, topic: str, key: Optional[bytes], value: Optional[bytes], timestamp_ms: int,
              offset: int = -1, partition: int = -1) -> None:
        try:
            if topic == AGGREGATES_TOPIC:
                self._apply_row(key, value, timestamp_ms)
                if self.rows.persistent:  # where to resume: written with the rows (flush_rows)
                    self._pending_offsets[(topic, partition)] = offset + 1
            elif topic == CONSENT_STATE_TOPIC:
                self._apply_consent(key, value)
            elif topic == API_KEYS_TOPIC:
                self._apply_key(key, value)
            elif topic == DISPUTE_TOPIC and value is not None:
                self.apply_dispute(DisputeState.from_bytes(value))
            elif topic == REPAIR_TOPIC and value is not None:
                self.apply_repair(RepairState.from_bytes(value))
            elif topic == WHITELIST_TOPIC and value is not None:
                self.apply_whitelist_change(offset, WhitelistChange.from_bytes(value))
            elif topic == REPORT_TOPIC and value is not None:
                self.apply_report(IssuedReport.from_bytes(value))
            elif topic == WEBHOOK_TOPIC and value is not None:
                self.apply_webhook(WebhookState.from_bytes(value))
            elif topic == FINANCE_ACCEPTED_TOPIC and value is not None:
                self.finance.apply(*default_codec().decode(value))
        except Exception as exc:  # a foreign or corrupt message must not stop the feed
            self.skipped += 1
            metrics.API_VIEW_SKIPPED.labels(topic).inc()
            log.warning("view: skipped a message of %s that does not fit its model: %s", topic, exc)

    def _apply_row(self, key: Optional[bytes], value: Optional[bytes], timestamp_ms: int) -> None:
        if value is None and not key:
            return
        change = (key.decode() if value is None else _row_uscc(value), value, timestamp_ms)  # None: a tombstone
        if self.rows.persistent:  # a transaction per batch the feed read, not per row
            self._pending_rows.append(change)
        else:
            self.rows.write((change,), {})

    def flush_rows(self) -> None:
        """Write the rows read since the last call, with the offsets to resume from (disk)."""
        if self._pending_rows or self._pending_offsets:
            self.rows.write(self._pending_rows, self._pending_offsets)
            self._pending_rows, self._pending_offsets = [], {}

    def _apply_consent(self, key: Optional[bytes], value: Optional[bytes]) -> None:
        if value is None:
            if key:
                uscc, _, lender = key.decode().partition("/")
                self.consents.get(uscc, {}).pop(lender, None)
            return
        consent = ConsentState.from_bytes(value)
        self.consents.setdefault(consent.uscc, {})[consent.lender_id] = consent

    def apply_dispute(self, dispute: DisputeState) -> None:
        """Also called by the API right after it published a change, so its own next read sees it."""
        known = self.disputes.get(dispute.dispute_id)
        if known is not None and known.updated_at > dispute.updated_at:
            return  # the topic delivering a change the API applied already, after a newer one
        self.disputes[dispute.dispute_id] = dispute
        self.disputes_of.setdefault(dispute.uscc, {})[dispute.dispute_id] = dispute

    def apply_repair(self, repair: RepairState) -> None:
        known = self.repairs.get(repair.application_id)
        if known is not None and known.updated_at > repair.updated_at:
            return
        self.repairs[repair.application_id] = repair
        self.repairs_of.setdefault(repair.uscc, {})[repair.application_id] = repair

    def apply_whitelist_change(self, offset: int, change: WhitelistChange) -> None:
        if change.change_id in self.whitelist_ids:
            return  # the worker sent it again after a crash: the first one counts
        self.whitelist_ids.add(change.change_id)
        self.whitelist_changes.append((offset, change))
        if change.whitelisted:
            self.whitelist[change.uscc] = change
        else:
            self.whitelist.pop(change.uscc, None)

    def apply_report(self, report: IssuedReport) -> None:
        """Also called by the API right after it published the report."""
        if report.number not in self.reports:
            self.reports_of.setdefault(report.uscc, []).append(report.number)
        self.reports[report.number] = report

    def apply_webhook(self, webhook: WebhookState) -> None:
        """Also called by the API for its own writes (as apply_dispute)."""
        if webhook.supersedes(self.webhooks.get(webhook.webhook_id)):
            self.webhooks[webhook.webhook_id] = webhook

    def _apply_key(self, key: Optional[bytes], value: Optional[bytes]) -> None:
        if value is None:
            if key:
                self.keys.pop(key.decode(), None)
            return
        event = KeyEvent.from_bytes(value)
        known = self.keys.get(event.key_id)
        if event.revoked and known is not None:  # a revocation carries no hash: keep who it was
            event = KeyEvent(known.key_id, known.key_hash, known.principal_kind, known.principal_id, event.created_at,
                             True, known.name)
        self.keys[event.key_id] = event

    # -- reading ---------------------------------------------------------------------------------
    def key(self, key_id: str) -> Optional[KeyEvent]:
        return self.keys.get(key_id)

    def consent(self, uscc: str, lender_id: str) -> Optional[ConsentState]:
        return self.consents.get(uscc, {}).get(lender_id)

    def open_disputes(self, uscc: str) -> list[DisputeState]:
        return sorted((d for d in self.disputes_of.get(uscc, {}).values() if d.state == "OPEN"),
                      key=lambda d: d.filed_at)

    def eval_grade(self, uscc: str) -> Optional[str]:
        """The enterprise's current evaluation grade, read off its row without splitting it."""
        found = self.rows.get(uscc)
        if found is None:
            return None
        payload = found[0]
        text = payload.fragments[PUBLIC] if isinstance(payload, RowView) else payload
        start = text.find(b'"eval_grade":"')
        if start < 0:
            return None
        start += 14
        return text[start:text.find(b'"', start)].decode()

    def known(self, uscc: str) -> bool:
        return uscc in self.rows

    def row(self, uscc: str) -> Optional[RowView]:
        return self.rows.view_of(uscc, split_row)


def _row_uscc(value: bytes) -> str:
    """The row's USCC without decoding the whole row: encoded rows start with {"uscc":"…"."""
    head = value[:40]
    if head.startswith(b'{"uscc":"') and head[27:28] == b'"':
        return head[9:27].decode()
    return AggregateRow.decode(value).uscc


class ViewFeed(threading.Thread):
    """Reads the view topics from the beginning into a ServingView, then follows them. No consumer
    group: every API process holds the whole view, and nothing is committed."""

    def __init__(self, kafka: KafkaConnection, view: ServingView, topics=VIEW_TOPICS):
        super().__init__(name="api-view-feed", daemon=True)
        self.kafka, self.view, self.topics = kafka, view, topics
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.loaded_in: Optional[float] = None

    def run(self) -> None:
        started = time.monotonic()
        consumer = Consumer(self.kafka.consumer(
            f"{VIEW_GROUP_PREFIX}{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True, "fetch.wait.max.ms": 50,
                                                                 "log_level": 3}))
        try:
            pending = self._assign(consumer)
            while not self.stopping.is_set():
                for message in consumer.consume(1000, 0.1):
                    error = message.error()
                    if error is None:
                        timestamp = message.timestamp()[1]
                        self.view.apply(message.topic(), message.key(), message.value(), timestamp, message.offset(),
                                        message.partition())
                    elif error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                    else:
                        log.warning("view feed: %s", error.str())
                self.view.flush_rows()
                if not pending and not self.ready.is_set():
                    # a million loaded rows would make every full collection of the cyclic GC walk
                    # them (pauses of 100s of ms in the look-ups' tail); they never form cycles
                    gc.collect()
                    gc.freeze()
                    self.loaded_in = time.monotonic() - started
                    log.info("view loaded in %.1f s: %d keys, %d consents, %d rows", self.loaded_in,
                             len(self.view.keys), sum(map(len, self.view.consents.values())), len(self.view.rows))
                    self.ready.set()
                metrics.API_VIEW_ROWS.set(len(self.view.rows))
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> set[tuple[str, int]]:
        """Every partition of the view topics, from the beginning (waiting for the topics to exist)."""
        while not self.stopping.is_set():
            metadata = consumer.list_topics(timeout=10)
            missing = [t for t in self.topics if t not in metadata.topics or metadata.topics[t].error]
            if not missing:
                resume = self._resume_offsets(consumer, metadata)
                partitions = [TopicPartition(t, p, resume.get((t, p), OFFSET_BEGINNING)) for t in self.topics
                              for p in metadata.topics[t].partitions]
                consumer.assign(partitions)
                return {(tp.topic, tp.partition) for tp in partitions}
            log.info("view feed: waiting for topics %s", ", ".join(missing))
            self.stopping.wait(1.0)
        return set()

    def _resume_offsets(self, consumer: Consumer, metadata) -> dict[tuple[str, int], int]:
        """Where rows kept on disk were read to, if the topic still holds what follows; otherwise
        (a recreated topic: another topic id, or offsets behind its start or past its end) the rows
        are forgotten and read again from the beginning."""
        if AGGREGATES_TOPIC not in self.topics or not self.view.rows.persistent:
            return {}
        current = topic_ids(self.kafka, [AGGREGATES_TOPIC])
        stored, remembered = self.view.rows.offsets(), self.view.rows.topic_ids()
        if stored and current and remembered.get(AGGREGATES_TOPIC) != current.get(AGGREGATES_TOPIC):
            log.warning("view: the rows on disk were read from another %s (topic id %s, now %s): reading every "
                        "row again", AGGREGATES_TOPIC, remembered.get(AGGREGATES_TOPIC), current.get(AGGREGATES_TOPIC))
            self.view.rows.reset()
            stored = {}
        for (topic, partition), next_offset in stored.items():
            known = topic in metadata.topics and partition in metadata.topics[topic].partitions
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10) if known else (0, -1)
            if not low <= next_offset <= high:
                log.warning("view: the rows on disk were read to %s[%d]@%d, which the topic does not hold "
                            "(%d..%d): reading every row again", topic, partition, next_offset, low, high)
                self.view.rows.reset()
                stored = {}
                break
        self.view.rows.remember_topic_ids(current)  # what the rows written from now on are read from
        if not stored:
            return {}
        log.info("view: %d rows on disk; reading %s from where they end", len(self.view.rows), AGGREGATES_TOPIC)
        return stored

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def topic_ids(kafka: KafkaConnection, topics: list[str]) -> dict[str, str]:
    """topic → its Kafka topic id (a topic created again under the same name has a new one); {}
    when the broker will not say (then only the offsets' range is checked)."""
    try:
        admin = AdminClient(kafka.client())  # kept until the answers are in: its handle serves them
        described = admin.describe_topics(TopicCollection(topics), request_timeout=10)
        return {topic: str(future.result(timeout=15).topic_id) for topic, future in described.items()}
    except Exception as exc:  # an old broker, a missing DESCRIBE right: not fatal
        log.warning("view: the topic ids of %s are unknown (%s)", ", ".join(topics), exc)
        return {}


def load_once(kafka: KafkaConnection, view: ServingView, topics=VIEW_TOPICS, timeout: float = 30.0) -> ServingView:
    """Read ``topics`` to their end into ``view`` and stop (for command-line tools)."""
    feed = ViewFeed(kafka, view, topics)
    feed.start()
    try:
        if not feed.ready.wait(timeout):
            raise TimeoutError(f"could not read {', '.join(topics)} within {timeout:.0f} s: is Kafka at "
                               f"{kafka.bootstrap_servers} up and are the topics created?")
    finally:
        feed.stop()
    return view
