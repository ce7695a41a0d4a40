"""Kafka messages → ClickHouse rows. Pure functions: no I/O.

Versions make ReplacingMergeTree keep exactly the row the contract says wins, whatever order or
how often a batch is inserted: statements and payments by (revision, earliest offset), consent
by latest occurred_at, aggregates by latest offset (one partition per USCC).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from typing import NamedTuple, Optional

from creditstream.contract import (
    AGGREGATES_TOPIC, API_KEYS_TOPIC, DEAD_LETTER_TOPIC, NORMALIZED_TOPIC, UTILITY_KINDS,
)
from creditstream.records import parse_instant
from schemas.registry import SchemaRegistry, default_registry

UTC = dt.timezone.utc
OFFSET_BITS = 40

AGGREGATE_COLUMNS = ["uscc", "as_of_month", "row_json", "updated_at", "version"]
STATEMENT_COLUMNS = ["uscc", "utility", "account_no", "billing_month", "revision", "account_name", "usage",
                     "amount_due", "amount_paid", "due_date", "paid_date", "arrears_amount", "event_id",
                     "provider_id", "occurred_at", "version"]
PAYMENT_COLUMNS = ["uscc", "tax_type", "period_start", "period_end", "revision", "amount_payable", "amount_paid",
                   "due_date", "paid_date", "event_id", "provider_id", "occurred_at", "version"]
CONSENT_COLUMNS = ["uscc", "lender_id", "event_id", "scopes", "granted_at", "expires_at", "revoked", "occurred_at",
                   "version"]
DEAD_LETTER_COLUMNS = ["source_topic", "source_partition", "source_offset", "reason", "message", "value_base64",
                       "received_at"]
API_KEY_COLUMNS = ["key_id", "key_hash", "principal_kind", "principal_id", "created_at", "revoked", "version"]
COLUMNS = {"api_keys": API_KEY_COLUMNS, "enterprise_aggregates": AGGREGATE_COLUMNS, "utility_statements": STATEMENT_COLUMNS,
           "tax_payments": PAYMENT_COLUMNS, "consent_grants": CONSENT_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS}
SINK_TOPICS = (AGGREGATES_TOPIC, NORMALIZED_TOPIC, DEAD_LETTER_TOPIC, API_KEYS_TOPIC)


class Row(NamedTuple):
    table: str
    values: list


def revision_version(revision: int, offset: int) -> int:
    """Higher revision wins; among equal revisions the earlier offset wins (contract: later ignored)."""
    return ((revision + 2**23) << OFFSET_BITS) | ((1 << OFFSET_BITS) - 1 - offset)


def _instant(text: str) -> dt.datetime:
    return parse_instant(text, "instant")


def _millis(stamp: dt.datetime) -> int:
    return int(stamp.timestamp() * 1000)


def message_time(timestamp_ms: Optional[int]) -> dt.datetime:
    if timestamp_ms is None or timestamp_ms <= 0:
        return dt.datetime.now(UTC)
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, UTC)


@functools.lru_cache(maxsize=1)
def _registry() -> SchemaRegistry:
    return default_registry()


def to_row(topic: str, offset: int, timestamp_ms: Optional[int], value: bytes) -> Optional[Row]:
    """The row a message becomes, or None for records kept only in the aggregates."""
    if topic == NORMALIZED_TOPIC:  # single-object Avro, validated and normalised by the worker
        record, typed = _registry().decode(value)
        return normalized_row(record, typed, offset)
    doc = json.loads(value)
    if topic == AGGREGATES_TOPIC:
        # updated_at: when the aggregator computed the row (the message timestamp), so a re-delivered
        # message yields the identical row
        return Row("enterprise_aggregates", [doc["uscc"], doc["as_of_month"], value.decode(),
                                             message_time(timestamp_ms), offset])
    if topic == DEAD_LETTER_TOPIC:
        return Row("dead_letters", [doc["source_topic"], doc["source_partition"], doc["source_offset"], doc["reason"],
                                    doc["message"], doc.get("value_base64"), message_time(timestamp_ms)])
    if topic == API_KEYS_TOPIC:
        return Row("api_keys", [doc["key_id"], doc["key_hash"], doc["principal_kind"], doc["principal_id"],
                                _instant(doc["created_at"]), doc["revoked"], offset])
    raise ValueError(f"the sink does not read {topic}")


def normalized_row(record: str, v: dict, offset: int) -> Optional[Row]:
    """The history row of one valid event (typed values, as decoded from Avro)."""
    if record in UTILITY_KINDS:
        return Row("utility_statements", [
            v["uscc"], UTILITY_KINDS[record], v["account_no"], v["billing_month"], v["revision"], v["account_name"],
            v["usage"], v["amount_due"], v["amount_paid"], v["due_date"], v["paid_date"], v["arrears_amount"],
            v["event_id"], v["provider_id"], v["occurred_at"], revision_version(v["revision"], offset)])
    if record == "TaxPayment":
        return Row("tax_payments", [
            v["uscc"], v["tax_type"], v["period_start"], v["period_end"], v["revision"], v["amount_payable"],
            v["amount_paid"], v["due_date"], v["paid_date"], v["event_id"], v["provider_id"], v["occurred_at"],
            revision_version(v["revision"], offset)])
    if record == "ConsentGrant":
        occurred = v["occurred_at"]
        return Row("consent_grants", [
            v["uscc"], v["lender_id"], v["event_id"], v["scopes"], v["granted_at"], v["expires_at"], v["revoked"],
            occurred, (_millis(occurred) << 20) | (offset & 0xFFFFF)])
    return None  # ratings, arrears, status: in the aggregates only
