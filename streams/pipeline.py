"""The one path every event takes, shared by the Faust agents and ``creditstream replay``:
decode (Avro bytes or a JSON line) → validate and normalise → fold into the enterprise's ledger."""
from __future__ import annotations

import json
from typing import Any

from creditstream.contract import PROVIDER_TOPICS
from creditstream.records import RecordError, record_from_json
from schemas.registry import DecodeError, SchemaRegistry
from streams.ledger import Ledger
from streams.validation import UNDECODABLE, Invalid, validate


def decode_avro(registry: SchemaRegistry, topic: str, data: bytes | None) -> tuple[str, dict]:
    """Provider bytes → (record, value); Invalid(UNDECODABLE) for anything unreadable."""
    try:
        record, value = registry.decode(data)
    except DecodeError as exc:
        raise Invalid(UNDECODABLE, f"{topic}: {exc}") from None
    expected = PROVIDER_TOPICS.get(topic)
    if record != expected:
        raise Invalid(UNDECODABLE, f"{topic} carries {expected} records, got a {record}")
    return record, value


def parse_line(registry: SchemaRegistry, line: str | bytes) -> tuple[str, str, dict]:
    """A replay line ``{"topic": ..., "value": {...}}`` → (topic, record, typed value)."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(UNDECODABLE, f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or "topic" not in doc or "value" not in doc:
        raise Invalid(UNDECODABLE, 'expected an object {"topic": ..., "value": {...}}')
    topic = doc["topic"]
    record = PROVIDER_TOPICS.get(topic) if isinstance(topic, str) else None
    if record is None:
        raise Invalid(UNDECODABLE, f"unknown topic {topic!r}")
    try:
        value = record_from_json(registry.current(record).raw, doc["value"])
    except RecordError as exc:
        raise Invalid(UNDECODABLE, f"does not fit {record}: {exc}") from None
    return topic, record, value


def accept(record: str, value: dict) -> dict:
    """Validate and normalise (raises Invalid)."""
    return validate(record, value)


def fold_into(ledgers: dict[str, Ledger], record: str, value: dict) -> None:
    """Fold a valid, normalised event into its enterprise's ledger in ``ledgers`` (replay and the
    benchmark references; the worker keeps its ledgers in streams.state). Consent grants are not
    ledger facts, so they create no ledger."""
    if record == "ConsentGrant":
        return
    ledger = ledgers.get(value["uscc"])
    if ledger is None:
        ledger = ledgers[value["uscc"]] = Ledger()
    ledger.apply(record, value)


def normalized_avro(registry: SchemaRegistry, record: str, original: bytes, decoded: dict, normalised: dict) -> bytes:
    """A valid event as the normalised topic carries it: single-object Avro. Validation only ever
    rewrites the USCC, so an event that needed no normalising is forwarded as the provider's own
    bytes (no re-encoding on the hot path)."""
    return original if normalised is decoded else registry.encode(record, normalised)


def dead_letter(reason: str, message: str, **where: Any) -> dict:
    return {"reason": reason, "message": message, **where}
