"""The one path every event takes, shared by the Faust agents and ``creditstream replay``:
decode (Avro bytes or a JSON line) → validate and normalise → fold into the enterprise's ledger."""
from __future__ import annotations

import datetime as dt

from creditstream.schemas.codec import Codec, DecodeError
from creditstream.schemas.personal import protect
from creditstream.schemas.records import parse_line
from creditstream.schemas.rules import DEFAULT_FUTURE_SKEW, UNDECODABLE, Invalid, check_not_future, validate
from creditstream.schemas.topics import CONSENT_RECORD, PROVIDER_TOPICS, PUBLIC_RECORDS, city_of, qualified_provider
from creditstream.streams.ledger import Ledger

__all__ = ["accept", "accept_from_city", "decode_avro", "fold_into", "normalized_avro", "parse_line"]


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
           skew: dt.timedelta = DEFAULT_FUTURE_SKEW, masked: bool = False) -> dict:
    """Validate and normalise (raises Invalid); with ``now`` (the time of processing), refuse a
    record stamped more than ``skew`` later. With a key, replace identity numbers by their masked
    form and keyed hash, so no clear number leaves the validator (replay prints rows only, which
    never carry them, and passes none). ``masked``: a record from another node, whose identity
    number must already be masked (the province reading a city's outbound topic)."""
    valid = validate(record, value, masked)
    if now is not None:
        check_not_future(record, valid, now, skew)
    if personal_data_key is not None and valid.get("legal_rep_id_no") is not None:
        return protect(valid, personal_data_key)
    return valid


def accept_from_city(codec: Codec, topic: str, data: bytes | None, now: dt.datetime,
                     skew: dt.timedelta = DEFAULT_FUTURE_SKEW) -> tuple[str, dict, bytes]:
    """The provincial node's path for one record of a city's replicated outbound topic
    (``heihe.credit.out.public.v1``): a public record, validated again (the province trusts no
    city's validator), its identity number already masked, its provider id qualified by the city
    ("heihe/market-regulation"), so two cities' ids never collide and the record names its source.
    Returns (record, value, the Avro bytes the province forwards); raises Invalid."""
    try:
        record, decoded = codec.decode(data)
    except DecodeError as exc:
        raise Invalid(UNDECODABLE, f"{topic}: {exc}") from None
    if record not in PUBLIC_RECORDS:
        raise Invalid(UNDECODABLE, f"{topic} carries public records only, got a {record}")
    value = accept(record, decoded, None, now, skew, masked=True)
    value = {**value, "provider_id": qualified_provider(city_of(topic), value["provider_id"])}
    return record, value, codec.encode(record, value)


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
