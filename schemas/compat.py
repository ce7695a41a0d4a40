"""Backward-compatibility check: the current schema of each record must read data written with
every earlier version kept in the tree. Run by the test suite, so a careless edit fails CI."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterator

from creditstream.schemas.codec import Codec, DecodeError


def samples(schema: Any, named: dict | None = None) -> Iterator[Any]:
    """A few values of ``schema``: each nullable field both null and set, each enum symbol."""
    named = {} if named is None else named
    if isinstance(schema, list):
        for branch in schema:
            yield from samples(branch, named)
        return
    if isinstance(schema, str):
        if schema in named:
            yield from samples(named[schema], named)
            return
        schema = {"type": schema}
    kind, logical = schema["type"], schema.get("logicalType")
    if isinstance(kind, (dict, list)):
        yield from samples(kind, named)
    elif logical == "decimal":
        yield Decimal(12345).scaleb(-schema["scale"])
    elif logical == "date":
        yield dt.date(2024, 2, 29)
    elif logical == "timestamp-millis":
        yield dt.datetime(2024, 12, 31, 16, 0, 0, 123000, tzinfo=dt.timezone.utc)
    elif kind == "null":
        yield None
    elif kind == "string":
        yield "黑河-1"
    elif kind in ("int", "long"):
        yield 7
    elif kind == "boolean":
        yield True
    elif kind == "enum":
        named[schema["name"]] = schema
        yield from schema["symbols"]
    elif kind == "array":
        yield [next(samples(schema["items"], named))]
    elif kind == "record":
        named[schema["name"]] = schema
        yield from _record_samples(schema, named)
    else:
        raise ValueError(f"no sample for schema type {kind!r}")


def _record_samples(schema: dict, named: dict) -> Iterator[dict]:
    per_field = {f["name"]: list(samples(f["type"], named)) for f in schema["fields"]}
    for i in range(max(len(v) for v in per_field.values())):
        yield {name: values[i % len(values)] for name, values in per_field.items()}


def incompatibilities(codec: Codec) -> list[str]:
    """Every (record, old version) whose data the current schema cannot read."""
    problems = []
    for record, versions in codec.versions.items():
        for version in versions:
            for value in samples(version.raw):
                try:
                    codec.decode(codec.encode(record, value, version))
                except DecodeError as exc:
                    problems.append(f"{record} v{version.version} → v{versions[-1].version}: {exc}")
                    break
    return problems
