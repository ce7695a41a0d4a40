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
from array import array
from bisect import insort
from dataclasses import dataclass, field
from decimal import Decimal

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


@dataclass
class Statement:
    revision: int
    usage: Decimal
    amount_due: Decimal
    arrears_amount: Decimal


@dataclass
class Payment:
    revision: int
    amount_payable: Decimal
    amount_paid: Decimal
    due_date: dt.date
    paid_date: dt.date | None

    @property
    def normal(self) -> bool:
        return (
            self.paid_date is not None
            and self.paid_date <= self.due_date
            and self.amount_paid >= self.amount_payable
        )


def event_digest(provider_id: str, event_id: str) -> int:
    """64-bit digest of the idempotency key: event ids are unique per provider."""
    raw = hashlib.blake2b(f"{provider_id}\x00{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big")


def _millis(stamp: dt.datetime) -> int:
    return int(stamp.timestamp() * 1000)


@dataclass
class Ledger:
    seen: set[int] = field(default_factory=set)
    # utility kind -> (account_no, month index) -> winning statement
    statements: dict[str, dict[tuple[str, int], Statement]] = field(
        default_factory=lambda: {k: {} for k in UTILITIES}
    )
    # (tax_type, period_start, period_end) -> winning payment
    payments: dict[tuple[str, dt.date, dt.date], Payment] = field(default_factory=dict)
    arrears: dict[dt.date, tuple[int, bool, Decimal]] = field(default_factory=dict)  # as_of -> (occurred ms, in, amount)
    status: dict[dt.date, tuple[int, bool]] = field(default_factory=dict)  # as_of -> (occurred ms, abnormal)
    ratings: dict[int, tuple[int, str]] = field(default_factory=dict)  # year -> (occurred ms, grade)
    # v1.1 registers: record -> natural key -> [occurred ms, event id, *fields] (streams/registers.py)
    registers: dict[str, dict[str, list]] = field(default_factory=dict)
    # v1.2 statements: series -> account (or customs code) -> "YYYY-MM" -> [revision, *fields];
    # nested, so an account's number is stored once, not once per month
    series: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    name: tuple[int, str] = (0, "")  # (occurred ms, enterprise_name) of the latest event naming the firm
    # on the whitelist as last announced on credit.whitelist.v1, and how many changes were announced
    # (streams.publishing numbers the changes with it, so a change sent again keeps its id)
    whitelisted: bool = False
    whitelist_changes: int = 0
    # at the provincial node: the cities whose records this ledger holds (empty in a city)
    sources: set[str] = field(default_factory=set)
    # serialised form of each statement / payment (a list, or its JSON text once to_bytes() has
    # needed it), kept beside it so a changelog write does not re-format thousands of decimals
    _wire_statements: dict = field(default_factory=lambda: {k: {} for k in UTILITIES}, repr=False, compare=False)
    _wire_payments: dict = field(default_factory=dict, repr=False, compare=False)
    # derived from the statements, kept up to date by _put_statement so aggregates need not rescan
    # them: kind -> month -> [usage sum, amount_due sum]; kind -> account -> sorted months
    month_totals: dict = field(default_factory=lambda: {k: {} for k in UTILITIES}, repr=False, compare=False)
    account_months: dict = field(default_factory=lambda: {k: {} for k in UTILITIES}, repr=False, compare=False)

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

    def statements_of(self, series: str) -> dict[str, dict[str, list]]:
        """The winning v1.2 statements of one series, by account and month (empty when none)."""
        return self.series.get(series, _EMPTY)

    def apply(self, record: str, value: dict) -> bool:
        """Fold one valid, normalised event in (typed values: decoded Avro or a parsed replay line);
        True when the ledger changed."""
        if record == CONSENT_RECORD:
            return False
        digest = event_digest(value["provider_id"], value["event_id"])
        if digest in self.seen:
            return False
        self.seen.add(digest)
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
        key = (value["account_no"], parse_month(value["billing_month"]))
        current = self.statements[kind].get(key)
        if current is not None and current.revision >= value["revision"]:
            return True  # the event id is new even though the fact is not
        statement = Statement(value["revision"], value["usage"], value["amount_due"], value["arrears_amount"])
        self._put_statement(kind, key, statement, [
            key[0], value["billing_month"], statement.revision, str(statement.usage), str(statement.amount_due),
            str(statement.arrears_amount)])
        return True

    def _apply_series(self, series: str, record: str, value: dict) -> bool:
        """v1.2 statements: the highest revision per natural key; an equal or lower one arriving
        later is ignored (v1's rule)."""
        account, month = (value[name] for name in RECORD[record].natural_key)
        months = self.series.setdefault(series, {}).setdefault(account, {})
        current = months.get(month)
        if current is None or value["revision"] > current[0]:
            months[month] = [value["revision"], *STATEMENT_EXTRACT[series](value)]
        return True

    def _put_statement(self, kind: str, key: tuple[str, int], statement: Statement, wire: list) -> None:
        account, month = key
        replaced = self.statements[kind].get(key)
        totals = self.month_totals[kind].get(month)
        if totals is None:
            totals = self.month_totals[kind][month] = [Decimal(0), Decimal(0)]
        if replaced is None:  # a new (account, month): its month is not in the account's list yet
            insort(self.account_months[kind].setdefault(account, []), month)
        else:  # Decimal sums are exact: taking the old statement out leaves exactly the other ones
            totals[0] -= replaced.usage
            totals[1] -= replaced.amount_due
        totals[0] += statement.usage
        totals[1] += statement.amount_due
        self.statements[kind][key] = statement
        self._wire_statements[kind][key] = wire

    def _apply_payment(self, value: dict) -> bool:
        key = (value["tax_type"], value["period_start"], value["period_end"])
        current = self.payments.get(key)
        if current is not None and current.revision >= value["revision"]:
            return True
        payment = Payment(value["revision"], value["amount_payable"], value["amount_paid"], value["due_date"],
                          value["paid_date"])
        self.payments[key] = payment
        self._wire_payments[key] = [
            key[0], key[1].isoformat(), key[2].isoformat(), payment.revision, str(payment.amount_payable),
            str(payment.amount_paid), payment.due_date.isoformat(),
            payment.paid_date.isoformat() if payment.paid_date else None]
        return True

    # -- serialisation for the changelog-backed table -------------------------------------------
    def to_bytes(self) -> bytes:
        """Compact JSON. Statements and payments are serialised once each (see _wire_texts) and
        joined, so a changelog write costs little more than the facts changed since the last one."""
        statements = ",".join(
            f'"{kind}":[{",".join(_wire_texts(rows))}]' for kind, rows in self._wire_statements.items() if rows
        )
        return "".join((
            '{"seen":"', base64.b64encode(array("Q", self.seen).tobytes()).decode(),  # 8 bytes per idempotency key
            '","u":{', statements,
            '},"t":[', ",".join(_wire_texts(self._wire_payments)),
            '],"a":', _dumps([[d.isoformat(), occ, flag, str(amount)] for d, (occ, flag, amount) in self.arrears.items()]),
            ',"s":', _dumps([[d.isoformat(), occ, flag] for d, (occ, flag) in self.status.items()]),
            ',"r":', _dumps([[year, occ, grade] for year, (occ, grade) in self.ratings.items()]),
            ',"g":', _dumps(self.registers),
            ',"p":', _dumps(self.series),
            ',"n":', _dumps(list(self.name)),
            ',"w":', _dumps([self.whitelisted, self.whitelist_changes]),
            f',"o":{_dumps(sorted(self.sources))}' if self.sources else "",
            "}",
        )).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Ledger":
        doc = json.loads(data)
        day = dt.date.fromisoformat
        ledger = cls(seen=set(array("Q", base64.b64decode(doc["seen"]))))
        for kind, rows in doc["u"].items():
            for row in rows:
                acc, m, rev, u, a, arr = row
                ledger._put_statement(kind, (acc, parse_month(m)), Statement(rev, Decimal(u), Decimal(a), Decimal(arr)),
                                      row)
        for row in doc["t"]:
            t, a, b, rev, pay, paid, due, pd = row
            key = (t, day(a), day(b))
            ledger.payments[key] = Payment(rev, Decimal(pay), Decimal(paid), day(due), day(pd) if pd else None)
            ledger._wire_payments[key] = row
        ledger.arrears = {day(d): (occ, flag, Decimal(amount)) for d, occ, flag, amount in doc["a"]}
        ledger.status = {day(d): (occ, flag) for d, occ, flag in doc["s"]}
        ledger.ratings = {year: (occ, grade) for year, occ, grade in doc["r"]}
        ledger.registers = doc.get("g", {})  # ledgers written before v1.1 have none
        ledger.series = doc.get("p", {})  # nor v1.2's statements before v1.2
        ledger.name = tuple(doc.get("n", (0, "")))  # nor before the whitelist feed: these two
        ledger.whitelisted, ledger.whitelist_changes = doc.get("w", (False, 0))
        ledger.sources = set(doc.get("o", ()))
        return ledger


_EMPTY: dict = {}


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _wire_texts(rows: dict):
    """The JSON text of each wire row. A row is kept as a list until first serialised, then as its
    text (replacing an existing key's value while iterating is safe: the dict does not resize)."""
    for key, wire in rows.items():
        if wire.__class__ is list:
            wire = rows[key] = _dumps(wire)
        yield wire


def _keep_latest(facts: dict, key, candidate: tuple) -> bool:
    """Per key keep the fact with the latest occurred_at (candidate[0]); a tie keeps the first."""
    current = facts.get(key)
    if current is None or candidate[0] > current[0]:
        facts[key] = candidate
    return True
