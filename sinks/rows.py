"""Kafka messages → ClickHouse rows (schemas.tables). Pure functions: no I/O.

Versions make ReplacingMergeTree keep exactly the row the contract says wins, whatever order or
how often a batch is inserted: statements and payments by (revision, earliest offset), consent
by latest offset in the accepted-consent topic (topic order), aggregates by latest offset (one
partition per USCC). Audit records are deduplicated by their request id.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from typing import NamedTuple, Optional

from creditstream.schemas.codec import Codec, default_codec
from creditstream.schemas.models import AggregateRow, ConsentState, DeadLetter, KeyEvent
from creditstream.schemas.records import to_json
from creditstream.schemas.tables import (
    ApiKeysRow,
    ConsentGrantsRow,
    DeadLettersRow,
    EnterpriseAggregatesRow,
    LookupAuditRow,
    RegisterRecordsRow,
    TaxPaymentsRow,
    UtilityStatementsRow,
)
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    API_KEYS_TOPIC,
    AUDIT_TOPIC,
    COMMON_FIELDS,
    CONSENT_STATE_TOPIC,
    DEAD_LETTER_TOPIC,
    NORMALIZED_TOPIC,
    REGISTERS,
    UTILITY_KINDS,
    register_key,
)

UTC = dt.timezone.utc
OFFSET_BITS = 40
SINK_TOPICS = (AGGREGATES_TOPIC, NORMALIZED_TOPIC, DEAD_LETTER_TOPIC, API_KEYS_TOPIC, CONSENT_STATE_TOPIC, AUDIT_TOPIC)
_REGISTERS = frozenset(REGISTERS)


def revision_version(revision: int, offset: int) -> int:
    """Higher revision wins; among equal revisions the earlier offset wins (contract: later ignored)."""
    return ((revision + 2**23) << OFFSET_BITS) | ((1 << OFFSET_BITS) - 1 - offset)


def message_time(timestamp_ms: Optional[int]) -> dt.datetime:
    if timestamp_ms is None or timestamp_ms <= 0:
        return dt.datetime.now(UTC)
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, UTC)


@functools.lru_cache(maxsize=1)
def _codec() -> Codec:
    return default_codec()


def to_rows(topic: str, offset: int, timestamp_ms: Optional[int], value: bytes) -> list[NamedTuple]:
    """The rows a message becomes: one; several for a group of audit records; none for records
    kept only in the aggregates. Raises (DecodeError, ModelError, …) when the message does not fit
    its topic's model."""
    if topic == AUDIT_TOPIC:  # one message per group commit of the API (api.audit), a record per line
        return [LookupAuditRow.from_bytes(line) for line in value.split(b"\n")]
    row = to_row(topic, offset, timestamp_ms, value)
    return [] if row is None else [row]


def to_row(topic: str, offset: int, timestamp_ms: Optional[int], value: bytes) -> Optional[NamedTuple]:
    """The row a message of a single-row topic becomes, or None (see to_rows)."""
    if topic == NORMALIZED_TOPIC:  # single-object Avro, validated and normalised by the worker
        record, typed = _codec().decode(value)
        return normalized_row(record, typed, offset, timestamp_ms)
    if topic == AGGREGATES_TOPIC:
        row = AggregateRow.decode(value)
        # updated_at: when the worker computed the row (the message timestamp), so a re-delivered
        # message yields the identical row
        return EnterpriseAggregatesRow(row.uscc, row.as_of_month, value.decode(), message_time(timestamp_ms), offset)
    if topic == DEAD_LETTER_TOPIC:
        letter = DeadLetter.from_bytes(value)
        return DeadLettersRow(letter.source_topic, letter.source_partition, letter.source_offset, letter.reason,
                              letter.message, letter.value_base64, message_time(timestamp_ms))
    if topic == API_KEYS_TOPIC:
        event = KeyEvent.from_bytes(value)
        return ApiKeysRow(event.key_id, event.key_hash, event.principal_kind, event.principal_id, event.created_at,
                          event.revoked, offset)
    if topic == CONSENT_STATE_TOPIC:
        c = ConsentState.from_bytes(value)
        return ConsentGrantsRow(c.uscc, c.lender_id, c.event_id, list(c.scopes), c.granted_at, c.expires_at, c.revoked,
                                c.occurred_at, offset)
    raise ValueError(f"the sink does not read {topic}")


def normalized_row(record: str, v: dict, offset: int, timestamp_ms: Optional[int] = None) -> Optional[NamedTuple]:
    """The history row of one valid event (typed values, as decoded from Avro)."""
    if record in _REGISTERS:
        own = {name: value for name, value in v.items() if name not in COMMON_FIELDS}
        return RegisterRecordsRow(v["uscc"], record, register_key(record, v), v["occurred_at"], v["event_id"],
                                  v["provider_id"], v["enterprise_name"],
                                  json.dumps(to_json(own), ensure_ascii=False, separators=(",", ":")),
                                  message_time(timestamp_ms))
    if record in UTILITY_KINDS:
        return UtilityStatementsRow(
            v["uscc"], UTILITY_KINDS[record], v["account_no"], v["billing_month"], v["revision"], v["account_name"],
            v["usage"], v["amount_due"], v["amount_paid"], v["due_date"], v["paid_date"], v["arrears_amount"],
            v["event_id"], v["provider_id"], v["occurred_at"], revision_version(v["revision"], offset))
    if record == "TaxPayment":
        return TaxPaymentsRow(
            v["uscc"], v["tax_type"], v["period_start"], v["period_end"], v["revision"], v["amount_payable"],
            v["amount_paid"], v["due_date"], v["paid_date"], v["event_id"], v["provider_id"], v["occurred_at"],
            revision_version(v["revision"], offset))
    return None  # ratings, arrears, status: in the aggregates only; consent: from the accepted-consent topic
