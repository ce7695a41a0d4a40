"""Avro single-object encoding with writer-schema lookup by CRC-64-AVRO fingerprint.

Layout: ``C3 01`` + 8-byte little-endian fingerprint of the writer schema's Parsing Canonical
Form + Avro binary body (Avro 1.8+ spec). Decoding resolves the writer schema from every version
kept under ``schemas/avro/`` and reads into the record's current (highest) version. (No schema
registry: the schemas travel with the code, identified by fingerprint.)
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from creditstream.schemas import AVRO_DIR

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8


class DecodeError(ValueError):
    """The bytes are not a single-object Avro record this platform knows."""


@dataclass(frozen=True)
class SchemaVersion:
    record: str  # short record name, e.g. "WaterStatement"
    version: int
    raw: dict  # the .avsc JSON as written
    parsed: Any  # fastavro parsed schema
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO


def load_version(path: Path) -> SchemaVersion:
    raw = json.loads(path.read_text(encoding="utf-8"))
    parsed = fastavro.parse_schema(raw, named_schemas={})
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    return SchemaVersion(raw["name"], int(path.stem.lstrip("v")), raw, parsed, fp)


class Codec:
    """All schema versions found in a directory of ``<Record>/v<N>.avsc`` files."""

    def __init__(self, avro_dir: Path = AVRO_DIR):
        self.versions: dict[str, list[SchemaVersion]] = {}
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        for path in sorted(avro_dir.glob("*/v*.avsc")):
            version = load_version(path)
            if version.record != path.parent.name:
                raise ValueError(f"{path}: record name {version.record!r} does not match its folder")
            self.versions.setdefault(version.record, []).append(version)
            self.by_fingerprint[version.fingerprint] = version
        for versions in self.versions.values():
            versions.sort(key=lambda v: v.version)

    def current(self, record: str) -> SchemaVersion:
        return self.versions[record][-1]

    def encode(self, record: str, value: dict, version: SchemaVersion | None = None) -> bytes:
        """Single-object encode ``value`` with the current (or the given) writer schema."""
        writer = version or self.current(record)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(writer.fingerprint)
        fastavro.schemaless_writer(buf, writer.parsed, value)
        return buf.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict]:
        """Return (record name, value read into the current schema); raise DecodeError."""
        if not isinstance(data, (bytes, bytearray)) or len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise DecodeError("not Avro single-object encoding (missing C3 01 marker)")
        writer = self.by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError(f"unknown writer schema fingerprint {bytes(data[2:HEADER_LEN]).hex()}")
        reader = self.current(writer.record)
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            value = fastavro.schemaless_reader(
                buf, writer.parsed, None if reader is writer else reader.parsed
            )
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise DecodeError(f"{writer.record} v{writer.version} body unreadable: {exc}") from exc
        if buf.tell() != len(data):
            raise DecodeError(f"{len(data) - buf.tell()} trailing bytes after the {writer.record} record")
        return writer.record, value


@lru_cache(maxsize=None)
def default_codec() -> Codec:
    return Codec()
