"""The one path every event takes, shared by the Faust agents and ``creditstream replay``:
decode (Avro bytes or a JSON line) → validate and normalise → fold into the enterprise's ledger."""
from __future__ import annotations

import datetime as dt

from creditstream.schemas.codec import Codec, DecodeError
from creditstream.schemas.personal import protect
from creditstream.schemas.records import parse_line
from creditstream.schemas.rules import DEFAULT_FUTURE_SKEW, UNDECODABLE, Invalid, check_not_future, validate
from creditstream.schemas.topics import CONSENT_RECORD, PROVIDER_TOPICS
from creditstream.streams.ledger import Ledger

__all__ = ["accept", "decode_avro", "fold_into", "normalized_avro", "parse_line"]


def decode_avro(codec: Codec, topic: str, data: bytes | None, topics: dict = PROVIDER_TOPICS) -> tuple[str, dict]:
    """Provider bytes → (record, value); Invalid(UNDECODABLE) for anything unreadable. ``topics``:
    topic → the record it carries (the provider topics), or the records (the finance topics)."""
    try:
        record, value = codec.decode(data)
    except DecodeError as exc:
        raise Invalid(UNDECODABLE, f"{topic}: {exc}") from None
    expected = topics.get(topic)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if record not in allowed:
        raise Invalid(UNDECODABLE, f"{topic} carries {' or '.join(map(str, allowed))} records, got a {record}")
    return record, value


def accept(record: str, value: dict, personal_data_key: bytes | None = None, now: dt.datetime | None = None,
           skew: dt.timedelta = DEFAULT_FUTURE_SKEW) -> dict:
    """Validate and normalise (raises Invalid); with ``now`` (the time of processing), refuse a
    record stamped more than ``skew`` later. With a key, replace identity numbers by their masked
    form and keyed hash, so no clear number leaves the validator (replay prints rows only, which
    never carry them, and passes none)."""
    valid = validate(record, value)
    if now is not None:
        check_not_future(record, valid, now, skew)
    if personal_data_key is not None and valid.get("legal_rep_id_no") is not None:
        return protect(valid, personal_data_key)
    return valid


def fold_into(ledgers: dict[str, Ledger], record: str, value: dict) -> None:
    """Fold a valid, normalised event into its enterprise's ledger in ``ledgers`` (replay and the
    benchmark references; the worker keeps its ledgers in streams.state). Consent grants are not
    ledger facts, so they create no ledger."""
    if record == CONSENT_RECORD:
        return
    ledger = ledgers.get(value["uscc"])
    if ledger is None:
        ledger = ledgers[value["uscc"]] = Ledger()
    ledger.apply(record, value)


def normalized_avro(codec: Codec, record: str, original: bytes, decoded: dict, normalised: dict) -> bytes:
    """A valid event as the normalised topic carries it: single-object Avro. Validation only ever
    rewrites the USCC, so an event that needed no normalising is forwarded as the provider's own
    bytes (no re-encoding on the hot path)."""
    return original if normalised is decoded else codec.encode(record, normalised)
