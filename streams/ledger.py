"""The compact per-enterprise ledger: every winning fact the aggregates are computed from.

Plain data and pure functions, no I/O. ``apply`` implements the contract's state rules so that
the result does not depend on arrival order, except where the contract itself says "arriving
later" (an equal revision, or an exact tie, is ignored: the first one in log order wins).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from decimal import Decimal

from creditstream.schemas.amounts import MONEY_PLACES, USAGE_PLACES, units
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import (
    CONSENT_RECORD,
    RECORD,
    REGISTERS,
    REPAIR_RECORD,
    STATEMENT_SERIES,
    UTILITIES,
    UTILITY_KINDS,
    register_key,
)
from creditstream.streams.registers import EXTRACT, STATEMENT_EXTRACT, keep_winner

_REGISTERS = frozenset(REGISTERS)


# Statements (v1's and v1.2's) and tax payments are kept as integer columns, one array per account
# or tax type, rather than as objects holding Decimals: a decoded ledger of 24 months took ~180 KB
# of heap as objects (15× its bytes), now ~19 KB, and a worker pins every ledger changed since its
# last checkpoint. The integers are exact counts of the contract's smallest unit
# (creditstream.schemas.amounts), never floats; a record is found by binary search on its key.
# one statement: its month index, revision, usage (0.001), amount due and arrears (fen); sorted by month
STATEMENT_STRIDE = 5
MONTH, REVISION, USAGE, AMOUNT_DUE, ARREARS = range(STATEMENT_STRIDE)
# one tax payment: period start and end (date ordinals), revision, amounts payable and paid (fen),
# due date and paid date (ordinals; 0 = not paid); sorted by period
PAYMENT_STRIDE = 7
START, END, P_REVISION, PAYABLE, PAID, DUE, PAID_ON = range(PAYMENT_STRIDE)


def months_window(rows: array, stride: int, as_of: int, months: int) -> tuple[array, int, int]:
    """One account's statements (``stride`` columns each, the month index first, sorted by month)
    read as of month ``as_of``: (their month column, start, end), where records [start, end) fall
    in the ``months`` months ending with ``as_of`` and end - 1 is the latest at or before it (none
    when end is 0). Found by bisection, so months outside the window cost nothing."""
    billed = rows[0::stride]
    end = bisect_right(billed, as_of)
    return billed, bisect_left(billed, as_of - months + 1, 0, end), end


def payment_is_normal(row, at: int) -> bool:
    """The payment at record ``at`` was paid in full on or before its due date."""
    paid_on = row[at + PAID_ON]
    return paid_on != 0 and paid_on <= row[at + DUE] and row[at + PAID] >= row[at + PAYABLE]


def event_digest(provider_id: str, event_id: str) -> int:
    """64-bit digest of the idempotency key: event ids are unique per provider."""
    raw = hashlib.blake2b(f"{provider_id}\x00{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big")


def _millis(stamp: dt.datetime) -> int:
    return int(stamp.timestamp() * 1000)


@dataclass
class Ledger:
    # idempotency keys of every event folded in (event_digest), sorted: 8 bytes each
    seen: array = field(default_factory=lambda: array("Q"))
    # utility kind -> account_no -> the winning statement per month (STATEMENT_STRIDE columns)
    statements: dict[str, dict[str, array]] = field(default_factory=lambda: {k: {} for k in UTILITIES})
    # tax_type -> the winning payment per (period_start, period_end) (PAYMENT_STRIDE columns)
    payments: dict[str, array] = field(default_factory=dict)
    arrears: dict[dt.date, tuple[int, bool, Decimal]] = field(default_factory=dict)  # as_of -> (occurred ms, in, amount)
    status: dict[dt.date, tuple[int, bool]] = field(default_factory=dict)  # as_of -> (occurred ms, abnormal)
    ratings: dict[int, tuple[int, str]] = field(default_factory=dict)  # year -> (occurred ms, grade)
    # v1.1 registers: record -> natural key -> [occurred ms, event id, *fields] (streams/registers.py)
    registers: dict[str, dict[str, list]] = field(default_factory=dict)
    # v1.2 statements: series -> account (or customs code) -> the winning statement per month
    # (columns: month index, revision, then STATEMENT_EXTRACT's; sorted by month)
    series: dict[str, dict[str, array]] = field(default_factory=dict)
    name: tuple[int, str] = (0, "")  # (occurred ms, enterprise_name) of the latest event naming the firm
    # on the whitelist as last announced on credit.whitelist.v1, and how many changes were announced
    # (streams.publishing numbers the changes with it, so a change sent again keeps its id)
    whitelisted: bool = False
    whitelist_changes: int = 0
    # at the provincial node: the cities whose records this ledger holds (empty in a city)
    sources: set[str] = field(default_factory=set)
    # the size of its stored form when last read or written (0: never stored): what the worker's
    # memory bounds estimate its heap from (``heap_estimate``); not part of its content
    stored_bytes: int = field(default=0, compare=False, repr=False)

    @property
    def has_facts(self) -> bool:
        """An enterprise gets a row once it has a valid event on any topic but consent and repair."""
        return bool(
            any(self.statements.values()) or self.payments or self.arrears or self.status or self.ratings
            or any(entries for record, entries in self.registers.items() if record != REPAIR_RECORD)
            or any(self.series.values())
        )

    def register(self, record: str) -> dict[str, list]:
        """The winning entries of one register (empty when none)."""
        return self.registers.get(record, _EMPTY)

    def statements_of(self, series: str) -> dict[str, array]:
        """The winning v1.2 statements of one series, by account (empty when none): records of
        ``2 + len(fields)`` columns (month index, revision, STATEMENT_EXTRACT's fields)."""
        return self.series.get(series, _EMPTY)

    def apply(self, record: str, value: dict) -> bool:
        """Fold one valid, normalised event in (typed values: decoded Avro or a parsed replay line);
        True when the ledger changed."""
        if record == CONSENT_RECORD:
            return False
        digest = event_digest(value["provider_id"], value["event_id"])
        seen = self.seen
        at = bisect_left(seen, digest)
        if at < len(seen) and seen[at] == digest:
            return False
        seen.insert(at, digest)
        occurred = _millis(value["occurred_at"])
        if occurred >= self.name[0] and record != REPAIR_RECORD:  # the platform's repairs name no firm
            self.name = (occurred, value["enterprise_name"])
        if record in UTILITY_KINDS:
            return self._apply_statement(UTILITY_KINDS[record], value)
        if record == "TaxPayment":
            return self._apply_payment(value)
        if record == "TaxArrears":
            return _keep_latest(self.arrears, value["as_of"], (occurred, value["in_arrears"], value["amount"]))
        if record == "TaxpayerStatus":
            return _keep_latest(self.status, value["as_of"], (occurred, value["abnormal"]))
        if record == "TaxCreditRating":
            return _keep_latest(self.ratings, value["rating_year"], (occurred, value["grade"]))
        if record in _REGISTERS:
            entries = self.registers.setdefault(record, {})
            keep_winner(entries, register_key(record, value), [occurred, value["event_id"], *EXTRACT[record](value)])
            return True
        if record in STATEMENT_SERIES:
            return self._apply_series(STATEMENT_SERIES[record], record, value)
        raise ValueError(f"ledger does not know record {record}")

    def _apply_statement(self, kind: str, value: dict) -> bool:
        self._put_statement(kind, value["account_no"], parse_month(value["billing_month"]), value["revision"],
                            value["usage"], value["amount_due"], value["arrears_amount"])
        return True  # the event id is new even when the fact is not

    def _put_statement(self, kind: str, account: str, month: int, revision: int, usage: Decimal, due: Decimal,
                       arrears: Decimal) -> None:
        """The highest revision per (account, month); an equal or lower one arriving later is ignored."""
        _put_winner(_column(self.statements[kind], account), STATEMENT_STRIDE, (month,), revision, (
            units(usage, USAGE_PLACES), units(due, MONEY_PLACES), units(arrears, MONEY_PLACES)))

    def _apply_series(self, series: str, record: str, value: dict) -> bool:
        """v1.2 statements: the highest revision per natural key; an equal or lower one arriving
        later is ignored (v1's rule)."""
        account, month = (value[name] for name in RECORD[record].natural_key)
        fields = STATEMENT_EXTRACT[series](value)
        _put_winner(_column(self.series.setdefault(series, {}), account), 2 + len(fields), (parse_month(month),),
                    value["revision"], fields)
        return True

    def _apply_payment(self, value: dict) -> bool:
        self._put_payment(value["tax_type"], value["period_start"], value["period_end"], value["revision"],
                          value["amount_payable"], value["amount_paid"], value["due_date"], value["paid_date"])
        return True

    def _put_payment(self, tax_type: str, start: dt.date, end: dt.date, revision: int, payable: Decimal,
                     paid: Decimal, due: dt.date, paid_on: dt.date | None) -> None:
        """The highest revision per (tax_type, period); an equal or lower one arriving later is ignored."""
        _put_winner(_column(self.payments, tax_type), PAYMENT_STRIDE, (start.toordinal(), end.toordinal()), revision,
                    (units(payable, MONEY_PLACES), units(paid, MONEY_PLACES), due.toordinal(),
                     paid_on.toordinal() if paid_on is not None else 0))

    # -- serialisation for the changelog-backed table -------------------------------------------
    def to_bytes(self) -> bytes:
        """The stored form (see ``LEDGER_FORM``): a short JSON head, then the integer columns'
        little-endian bytes, so writing and reading them costs no per-fact formatting."""
        columns: list[array] = [self.seen]

        def lengths(named: dict[str, array]) -> dict[str, int]:
            columns.extend(named.values())
            return {name: len(rows) for name, rows in named.items()}

        head = {
            "seen": len(self.seen),
            "U": {kind: lengths(accounts) for kind, accounts in self.statements.items() if accounts},
            "T": lengths(self.payments),
            "P": {series: lengths(accounts) for series, accounts in self.series.items()},
            "a": [[d.toordinal(), occ, flag, str(amount)] for d, (occ, flag, amount) in self.arrears.items()],
            "s": [[d.toordinal(), occ, flag] for d, (occ, flag) in self.status.items()],
            "r": [[year, occ, grade] for year, (occ, grade) in self.ratings.items()],
            "g": self.registers,
            "n": self.name,
            "w": [self.whitelisted, self.whitelist_changes],
        }
        if self.sources:
            head["o"] = sorted(self.sources)
        text = _dumps(head).encode()
        data = b"".join((_HEAD.pack(LEDGER_FORM, len(text)), text, *map(little_endian_bytes, columns)))
        self.stored_bytes = len(data)
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> "Ledger":
        if data[:1] == b"{":  # written before 2026-12-05: one JSON document
            ledger = _from_json(cls, json.loads(data))
            ledger.stored_bytes = len(data)
            return ledger
        if len(data) < _HEAD.size:
            raise ValueError(f"stored ledger: {len(data)} bytes, shorter than its {_HEAD.size}-byte header")
        form, length = _HEAD.unpack_from(data)
        if form != LEDGER_FORM:
            raise ValueError(f"stored ledger: unknown form {form} (this worker reads {LEDGER_FORM})")
        head = json.loads(data[_HEAD.size:_HEAD.size + length])
        columns = _ColumnReader(data, _HEAD.size + length)
        ledger = cls(seen=columns.take("Q", head["seen"]))
        ledger.statements.update({kind: columns.named(lengths) for kind, lengths in head["U"].items()})
        ledger.payments = columns.named(head["T"])
        ledger.series = {series: columns.named(lengths) for series, lengths in head["P"].items()}
        columns.finish()
        day = dt.date.fromordinal
        ledger.arrears = {day(d): (occ, flag, Decimal(amount)) for d, occ, flag, amount in head["a"]}
        ledger.status = {day(d): (occ, flag) for d, occ, flag in head["s"]}
        ledger.ratings = {year: (occ, grade) for year, occ, grade in head["r"]}
        ledger.registers = head["g"]
        ledger.name = tuple(head["n"])
        ledger.whitelisted, ledger.whitelist_changes = head["w"]
        ledger.sources = set(head.get("o", ()))
        ledger.stored_bytes = len(data)
        return ledger


# The stored form, version 1 (2026-12-05): one byte 1, the head's length (4 bytes, little-endian),
# the head as compact JSON, then the integer columns back to back: ``seen``, every statement
# account (by kind, in the head's order), every tax type's payments, every v1.2 account (by
# series), each as little-endian 8-byte integers, their lengths (in integers) in the head. The
# JSON form written before began with "{", which no version byte does; both are read.
# It replaced the JSON form (columns in base64) because a worker whose enterprises outnumber its
# memory bound decodes and encodes a ledger per event: 61 + 72 µs per 24-month ledger as JSON,
# 27 + 34 as this form (docs/benchmarks.md, 2026-12-05 fourth sitting).
LEDGER_FORM = 1
_HEAD = struct.Struct("<BI")


def heap_estimate(ledger: Ledger) -> int:
    """Bytes a decoded ledger holds on the heap, estimated from its stored size: a line through
    ``ledger_footprint.py``'s figures (2026-12-05, 300 enterprises; stored → heap: 1,374 → 7,572 B
    at 1 month, 2,023 → 8,454 at 3, 3,130 → 10,085 at 6, 5,302 → 13,069 at 12, 9,686 → 19,421 at
    24), within 1 % of each. A ledger never written yet counts as a month's: it is changed until its
    first write, and a month's events for an enterprise arrive together. What the worker's memory
    bounds count, so that shorter ledgers fit more of them."""
    if not ledger.stored_bytes:
        return NEW_LEDGER_HEAP
    return 5_600 + ledger.stored_bytes * 143 // 100


NEW_LEDGER_HEAP = 7_600


class _ColumnReader:
    """Reads the stored form's integer columns in order, each of a length the head gives."""

    def __init__(self, data: bytes, start: int):
        self.view, self.at = memoryview(data), start

    def take(self, typecode: str, length: int) -> array:
        column = array(typecode)
        end = self.at + length * column.itemsize
        if end > len(self.view):
            raise ValueError(f"stored ledger: its columns end at byte {len(self.view)}, the head says {end}")
        column.frombytes(self.view[self.at:end])
        self.at = end
        return _native(column)

    def named(self, lengths: dict[str, int]) -> dict[str, array]:
        return {name: self.take("q", length) for name, length in lengths.items()}

    def finish(self) -> None:
        if self.at != len(self.view):
            raise ValueError(f"stored ledger: {len(self.view) - self.at} bytes after its last column")


def little_endian_bytes(column: array) -> bytes:
    """A column's bytes as stored: little-endian wherever it was written."""
    if sys.byteorder != "little":
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


def _native(column: array) -> array:
    """A column read from stored (little-endian) bytes, in this machine's order."""
    if sys.byteorder != "little":
        column.byteswap()
    return column


def _from_json(cls, doc: dict) -> Ledger:
    """A ledger in the JSON form written before 2026-12-05 (and its own older variants)."""
    day = dt.date.fromisoformat
    ledger = cls(seen=_unpacked("Q", doc["seen"]))
    if "U" in doc:
        ledger.statements.update({kind: _unpacked_columns(texts) for kind, texts in doc["U"].items()})
        ledger.payments = _unpacked_columns(doc["T"])
    else:  # written before the columns (2026-12): statements and payments as rows of strings
        ledger.seen = array("Q", sorted(ledger.seen))
        _read_legacy_rows(ledger, doc)
    ledger.arrears = {day(d): (occ, flag, Decimal(amount)) for d, occ, flag, amount in doc["a"]}
    ledger.status = {day(d): (occ, flag) for d, occ, flag in doc["s"]}
    ledger.ratings = {year: (occ, grade) for year, occ, grade in doc["r"]}
    ledger.registers = doc.get("g", {})  # ledgers written before v1.1 have none
    if "P" in doc:
        ledger.series = {series: _unpacked_columns(texts) for series, texts in doc["P"].items()}
    else:  # nor v1.2's statements before v1.2; before the columns, as strings by "YYYY-MM"
        _read_legacy_series(ledger, doc.get("p", {}))
    ledger.name = tuple(doc.get("n", (0, "")))  # nor before the whitelist feed: these two
    ledger.whitelisted, ledger.whitelist_changes = doc.get("w", (False, 0))
    ledger.sources = set(doc.get("o", ()))
    return ledger


def _put_winner(rows: array, stride: int, key: tuple, revision: int, fields: tuple) -> None:
    """Keep in ``rows`` (records of ``stride`` columns sorted by their leading ``key`` columns, then
    the revision) the record with the highest revision per key: insert a new key in order, replace
    a lower revision, ignore an equal or lower one."""
    width = len(key)
    low, high = 0, len(rows) // stride
    while low < high:  # the first record whose key is not below ``key``
        middle = (low + high) // 2
        start = middle * stride
        if tuple(rows[start:start + width]) < key:
            low = middle + 1
        else:
            high = middle
    start = low * stride
    record = array("q", (*key, revision, *fields))
    if start < len(rows) and tuple(rows[start:start + width]) == key:
        if rows[start + width] < revision:
            rows[start:start + stride] = record
    else:
        rows[start:start] = record


def _column(columns: dict[str, array], name: str) -> array:
    """The column array of one account (or tax type), created empty the first time."""
    rows = columns.get(name)
    if rows is None:
        rows = columns[name] = array("q")
    return rows


def _read_legacy_rows(ledger: Ledger, doc: dict) -> None:
    day = dt.date.fromisoformat
    for kind, rows in doc["u"].items():
        for account, month, revision, usage, due, arrears in rows:
            ledger._put_statement(kind, account, parse_month(month), revision, Decimal(usage), Decimal(due),
                                  Decimal(arrears))
    for tax_type, start, end, revision, payable, paid, due, paid_on in doc["t"]:
        ledger._put_payment(tax_type, day(start), day(end), revision, Decimal(payable), Decimal(paid), day(due),
                            day(paid_on) if paid_on else None)


def _read_legacy_series(ledger: Ledger, series: dict) -> None:
    for name, accounts in series.items():
        for account, months in accounts.items():
            rows = _column(ledger.series.setdefault(name, {}), account)
            for month, (revision, *fields) in months.items():  # counts as ints, money as strings
                columns = tuple(units(Decimal(f), MONEY_PLACES) if isinstance(f, str) else f for f in fields)
                _put_winner(rows, 2 + len(columns), (parse_month(month),), revision, columns)


def _unpacked_columns(texts: dict[str, str]) -> dict[str, array]:
    return {name: _unpacked("q", text) for name, text in texts.items()}


def _unpacked(typecode: str, text: str) -> array:
    return _native(array(typecode, base64.b64decode(text)))


_EMPTY: dict = {}


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _keep_latest(facts: dict, key, candidate: tuple) -> bool:
    """Per key keep the fact with the latest occurred_at (candidate[0]); a tie keeps the first."""
    current = facts.get(key)
    if current is None or candidate[0] > current[0]:
        facts[key] = candidate
    return True
