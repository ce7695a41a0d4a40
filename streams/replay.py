"""``creditstream replay --as-of YYYY-MM [--as-of-date YYYY-MM-DD] FILE``: rows from a JSON Lines
file, through the same decode/validate/ledger/aggregate functions as the stream. The registers are
read at the last day of the as-of month unless a reference date is given."""
from __future__ import annotations

import datetime as dt
import json
import sys
from typing import IO, Iterable, Iterator

from creditstream.schemas.codec import Codec, default_codec
from creditstream.schemas.rules import DEFAULT_FUTURE_SKEW, Invalid
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept, fold_into, parse_line


def fold_lines(lines: Iterable[bytes | str], codec: Codec, dead_letters: IO[str], now: dt.datetime | None = None,
               skew: dt.timedelta = DEFAULT_FUTURE_SKEW) -> dict[str, Ledger]:
    """Fold every valid line; ``now`` is the time of processing for FUTURE_TIMESTAMP (None: the
    time each line is read)."""
    ledgers: dict[str, Ledger] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            topic, record, value = parse_line(codec, line)
            value = accept(record, value, now=now or dt.datetime.now(dt.timezone.utc), skew=skew)
        except Invalid as exc:
            letter = {"reason": exc.reason, "message": exc.message, "line": number}
            dead_letters.write(json.dumps(letter, ensure_ascii=False) + "\n")
            continue
        fold_into(ledgers, record, value)
    return ledgers


def aggregate_rows(ledgers: dict[str, Ledger], as_of: int, reference: dt.date | None = None) -> Iterator[dict]:
    for uscc in sorted(ledgers):
        if ledgers[uscc].has_facts:
            yield compute(uscc, ledgers[uscc], as_of, reference)


def replay(path: str, as_of: int, reference: dt.date | None = None, out: IO[str] = sys.stdout,
           err: IO[str] = sys.stderr, now: dt.datetime | None = None,
           skew: dt.timedelta = DEFAULT_FUTURE_SKEW) -> int:
    with open(path, "rb") as fh:  # bytes: a line that is not UTF-8 is a dead letter, not a crash
        ledgers = fold_lines(fh, default_codec(), err, now, skew)
    for row in aggregate_rows(ledgers, as_of, reference):
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0
