"""Reading provider export files: JSON Lines (the replay line format) or CSV with a header row."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from creditstream.contract import PROVIDER_TOPICS
from creditstream.records import RecordError, csv_cells_to_json, record_from_json
from schemas.registry import SchemaRegistry
from streams.pipeline import parse_line
from streams.validation import Invalid


@dataclass
class FileRecord:
    line: int  # 1-based line in the file where the record starts
    topic: Optional[str] = None
    record: Optional[str] = None
    value: Optional[dict] = None  # typed, schema-checked
    error: Optional[str] = None  # why the line was rejected


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def read_file(path: Path, registry: SchemaRegistry, topic: Optional[str]) -> Iterator[FileRecord]:
    if topic is not None and topic not in PROVIDER_TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(PROVIDER_TOPICS)}")
    if is_csv(path):
        if topic is None:
            raise ValueError("a CSV file needs --topic")
        yield from _read_csv(path, registry, topic)
    else:
        yield from _read_jsonl(path, registry, topic)


def _typed(registry: SchemaRegistry, topic: str, line: int, value) -> FileRecord:
    record = PROVIDER_TOPICS[topic]
    try:
        typed = record_from_json(registry.current(record).raw, value)
    except RecordError as exc:
        return FileRecord(line, topic, record, error=f"does not fit {record}: {exc}")
    return FileRecord(line, topic, record, typed)


def _read_jsonl(path: Path, registry: SchemaRegistry, topic: Optional[str]) -> Iterator[FileRecord]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:  # the same line parser as `creditstream replay`
                line_topic, record, value = parse_line(registry, raw)
            except Invalid as exc:
                yield FileRecord(number, error=exc.message)
                continue
            if topic is not None and line_topic != topic:
                yield FileRecord(number, error=f"line is for {line_topic}, publishing to {topic}")
            else:
                yield FileRecord(number, line_topic, record, value)


def _read_csv(path: Path, registry: SchemaRegistry, topic: str) -> Iterator[FileRecord]:
    schema = registry.current(PROVIDER_TOPICS[topic]).raw
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                yield FileRecord(start, topic, error=f"{len(row[None])} more cells than the header has columns")
            else:
                yield _typed(registry, topic, start, csv_cells_to_json(schema, row))
            start = reader.line_num + 1
