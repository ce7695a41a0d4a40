"""Provider exports: JSON Lines (the replay line format) or CSV with a header row, read record by
record with each record's line number. The same reader serves ``creditstream publish FILE`` and
the gateway's ``POST /v1/providers/files``, so a file is judged the same whichever way it comes."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Optional

from creditstream.schemas.codec import Codec
from creditstream.schemas.records import RecordError, csv_cells_to_json, parse_line, record_from_json
from creditstream.schemas.rules import Invalid
from creditstream.schemas.topics import PROVIDER_TOPICS


@dataclass
class FileRecord:
    line: int  # 1-based line in the file where the record starts
    topic: Optional[str] = None
    record: Optional[str] = None
    value: Optional[dict] = None  # typed, schema-checked
    error: Optional[str] = None  # why the line was rejected


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def read_file(path: Path, codec: Codec, topic: Optional[str]) -> Iterator[FileRecord]:
    """The records of an export file (CSV by its suffix, else JSON Lines)."""
    check_topic(topic, is_csv(path))
    with path.open("rb") as fh:
        yield from read_export(fh, codec, topic, is_csv(path), str(path))


def check_topic(topic: Optional[str], csv_format: bool) -> None:
    """ValueError when the topic given for an export cannot be right."""
    if topic is not None and topic not in PROVIDER_TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(PROVIDER_TOPICS)}")
    if csv_format and topic is None:
        raise ValueError("a CSV file needs its topic (--topic, or ?topic= for the gateway)")


def read_export(stream: IO[bytes], codec: Codec, topic: Optional[str], csv_format: bool,
                source: str = "the file") -> Iterator[FileRecord]:
    """The records of an export read from a binary stream; ``topic``: every record's (required
    for CSV; for JSON Lines each line names its own, checked against it when given)."""
    check_topic(topic, csv_format)
    if csv_format:
        yield from _read_csv(stream, codec, topic, source)
    else:
        yield from _read_jsonl(stream, codec, topic)


def _typed(codec: Codec, topic: str, line: int, value) -> FileRecord:
    record = PROVIDER_TOPICS[topic]
    try:
        typed = record_from_json(codec.current(record).raw, value)
    except RecordError as exc:
        return FileRecord(line, topic, record, error=f"does not fit {record}: {exc}")
    return FileRecord(line, topic, record, typed)


def _read_jsonl(stream: IO[bytes], codec: Codec, topic: Optional[str]) -> Iterator[FileRecord]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:  # the same line parser as `creditstream replay`
            line_topic, record, value = parse_line(codec, raw)
        except Invalid as exc:
            yield FileRecord(number, error=exc.message)
            continue
        if topic is not None and line_topic != topic:
            yield FileRecord(number, error=f"line is for {line_topic}, publishing to {topic}")
        else:
            yield FileRecord(number, line_topic, record, value)


def _read_csv(stream: IO[bytes], codec: Codec, topic: str, source: str) -> Iterator[FileRecord]:
    schema = codec.current(PROVIDER_TOPICS[topic]).raw
    # surrogateescape: a byte that is not UTF-8 becomes a marker in its cell, so that line is
    # rejected with its number and every other line still goes through
    with io.TextIOWrapper(stream, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames  # reads the header row, so the first record is counted from line 2
        start = reader.line_num + 1
        if header and any(_not_utf8(name) for name in header):
            raise ValueError(f"{source}:1: the header row is not UTF-8 text")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over the csv module's limit: that record only
                yield FileRecord(start, topic, error=f"not CSV: {exc}")
                start = max(reader.line_num, start) + 1  # the reader does not count the line it failed on
                continue
            bad = next((name for name, cell in row.items() if name is not None and _not_utf8(cell)), None)
            if bad is not None:
                yield FileRecord(start, topic, error=f"column {bad}: byte 0x{_not_utf8(row[bad]):02X} is not UTF-8")
            elif None in row:
                yield FileRecord(start, topic, error=f"{len(row[None])} more cells than the header has columns")
            else:
                yield _typed(codec, topic, start, csv_cells_to_json(schema, row))
            start = reader.line_num + 1


def _not_utf8(cell) -> int:
    """The first byte that was not UTF-8 in a cell read with surrogateescape, else 0."""
    if isinstance(cell, str):
        for ch in cell:
            if "\udc80" <= ch <= "\udcff":
                return ord(ch) - 0xDC00
    return 0
