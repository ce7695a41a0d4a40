"""Conversion between a record's JSON form (replay lines, CSV cells, normalised topic) and typed values.

The JSON form is the contract's replay format: money and usage as decimal strings, dates
``YYYY-MM-DD``, instants ISO-8601. Typed values are what fastavro reads and writes: Decimal,
date, timezone-aware datetime. Conversion walks the record's Avro schema, so the ``.avsc`` files
are the single source of field types.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from creditstream.schemas.rules import UNDECODABLE, Invalid
from creditstream.schemas.topics import PROVIDER_TOPICS

if TYPE_CHECKING:
    from creditstream.schemas.codec import Codec

UTC = dt.timezone.utc


class RecordError(ValueError):
    """A value does not fit the record's schema; the message names the field."""


def _is_null(t: Any) -> bool:
    return t == "null"


def _decimal(value: Any, schema: dict, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise RecordError(f"{where}: expected a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise RecordError(f"{where}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise RecordError(f"{where}: {value!r} is not a finite number")
    scale, precision = schema["scale"], schema["precision"]
    if number.as_tuple().exponent < -scale and number != number.quantize(Decimal(1).scaleb(-scale)):
        raise RecordError(f"{where}: {value!r} has more than {scale} decimal places")
    number = number.quantize(Decimal(1).scaleb(-scale))
    if len(number.as_tuple().digits) > precision:
        raise RecordError(f"{where}: {value!r} exceeds {precision} digits")
    return number


def parse_instant(value: Any, where: str) -> dt.datetime:
    """ISO-8601 (naive means UTC) or epoch milliseconds → aware UTC datetime."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, UTC)
    elif isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"{where}: {value!r} is not an ISO-8601 instant") from None
    else:
        raise RecordError(f"{where}: expected an ISO-8601 instant, got {type(value).__name__}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise RecordError(f"{where}: expected a date YYYY-MM-DD, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(f"{where}: {value!r} is not a date YYYY-MM-DD") from None


def from_json(schema: Any, value: Any, where: str) -> Any:
    """Convert a JSON value to the typed value of ``schema`` (an .avsc fragment)."""
    if isinstance(schema, list):  # union: only ["null", T] is used by the contract
        if value is None and any(_is_null(t) for t in schema):
            return None
        branches = [t for t in schema if not _is_null(t)]
        return from_json(branches[0], value, where)
    if isinstance(schema, str):
        schema = {"type": schema}
    kind, logical = schema["type"], schema.get("logicalType")
    if isinstance(kind, (dict, list)):
        return from_json(kind, value, where)
    if value is None:
        raise RecordError(f"{where}: must not be null")
    if logical == "decimal":
        return _decimal(value, schema, where)
    if logical == "date":
        return _date(value, where)
    if logical == "timestamp-millis":
        return parse_instant(value, where)
    if kind == "string":
        if not isinstance(value, str):
            raise RecordError(f"{where}: expected a string, got {type(value).__name__}")
        return value
    if kind in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(f"{where}: expected an integer, got {value!r}")
        if kind == "int" and not -(2**31) <= value < 2**31:
            raise RecordError(f"{where}: {value} does not fit a 32-bit int")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise RecordError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind == "enum":
        if value not in schema["symbols"]:
            raise RecordError(f"{where}: {value!r} is not one of {', '.join(schema['symbols'])}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return [from_json(schema["items"], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "record":
        return record_from_json(schema, value, where)
    raise RecordError(f"{where}: unsupported schema type {kind!r}")


def record_from_json(schema: dict, value: Any, where: str = "") -> dict:
    if not isinstance(value, dict):
        raise RecordError(f"{where or schema['name']}: expected an object, got {type(value).__name__}")
    names = {f["name"] for f in schema["fields"]}
    unknown = sorted(set(value) - names)
    if unknown:
        raise RecordError(f"{schema['name']} has no field {', '.join(unknown)}")
    typed = {}
    for field in schema["fields"]:
        name = field["name"]
        path = f"{where}.{name}" if where else name
        if name in value:
            typed[name] = from_json(field["type"], value[name], path)
        elif "default" in field:
            typed[name] = field["default"]
        else:
            raise RecordError(f"{path}: missing")
    return typed


def to_json(value: Any) -> Any:
    """Typed value → JSON form (inverse of from_json for the contract's types)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        stamp = value.astimezone(UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def csv_cells_to_json(schema: dict, row: dict[str, str]) -> dict:
    """A CSV row (all strings) → JSON form. Empty cell = null; arrays are ``|``-separated."""
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        name = field["name"]
        if name not in row:
            continue
        cell = (row[name] or "").strip()
        t = field["type"]
        nullable = isinstance(t, list) and "null" in t
        base = [x for x in t if x != "null"][0] if isinstance(t, list) else t
        base_type = base["type"] if isinstance(base, dict) else base
        if cell == "" and nullable:
            out[name] = None
        elif base_type in ("int", "long") and not (isinstance(base, dict) and base.get("logicalType")):
            out[name] = int(cell) if cell.lstrip("-").isdigit() else cell
        elif base_type == "boolean":
            out[name] = {"true": True, "false": False}.get(cell.lower(), cell)
        elif base_type == "array":
            out[name] = [part.strip() for part in cell.split("|") if part.strip()]
        else:
            out[name] = cell
    extra = set(row) - {f["name"] for f in schema["fields"]} - {None}
    for name in extra:
        out[name] = row[name]
    return out


def parse_line(codec: "Codec", line: str | bytes) -> tuple[str, str, dict]:
    """A replay line ``{"topic": ..., "value": {...}}`` → (topic, record, typed value);
    Invalid(UNDECODABLE) when the line is not one."""
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
        value = record_from_json(codec.current(record).raw, doc["value"])
    except RecordError as exc:
        raise Invalid(UNDECODABLE, f"does not fit {record}: {exc}") from None
    return topic, record, value


def replay_line(topic: str, value: dict) -> str:
    """The replay line of a typed record (inverse of parse_line)."""
    return json.dumps({"topic": topic, "value": to_json(value)}, ensure_ascii=False)
