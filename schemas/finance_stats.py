"""The city's statistics of the loan loop (financing-services.md, Statistics), per month and per
lender, as one plain function over the facts ClickHouse holds (applications as they stand, the
monthly report in force per loan and month, claims as they stand). Exact: counts are integers,
money and rates Decimal, the median a true median. Public figures replace every figure computed
from fewer than 3 enterprises by "<3" (docs/financing.md says which enterprises each counts).

Months are calendar months in Asia/Shanghai. Each figure belongs to the month of its own event:
applications to the month submitted, accepted to the month accepted, approved and rejected to the
month decided, disbursements (and first loans, renewals, rates, borrowers) to the disbursement
date's month, non-performing balance and subsidies to the month reported, compensation to the
month the operator approved it.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from typing import Iterable, Optional

from creditstream.schemas.finance import (
    NON_PERFORMING,
    REJECT_REASONS,
    cents,
    money,
    shanghai_date,
    subsidy_amount,
    subsidy_eligible,
    working_days_between,
)

SUPPRESSED = "<3"
MIN_ENTERPRISES = 3
ALL_LENDERS = None  # the lender_id of a month's figures over every lender


class Cell:
    """One figure and the enterprises it was computed from."""

    def __init__(self):
        self.count = 0
        self.total: Decimal = Decimal(0)
        self.firms: set[str] = set()
        self.values: list[tuple[Decimal, Decimal]] = []  # (value, amount): medians, amount-weighted means

    def add(self, uscc: str, amount: Decimal = Decimal(0), value: Optional[Decimal] = None) -> None:
        self.count += 1
        self.total += amount
        self.firms.add(uscc)
        if value is not None:
            self.values.append((value, amount))


def month_of(day: dt.date | str) -> str:
    return (day.isoformat() if isinstance(day, dt.date) else day)[:7]


def collect(applications: Iterable[dict], reports: Iterable[dict], claims: Iterable[dict], holidays=(),
            rate_cap: Decimal = Decimal("4.50"), subsidy_points: Decimal = Decimal("1.00")) -> dict:
    """(month, lender_id) -> figure -> Cell, for each lender and for ALL_LENDERS."""
    cells: dict = defaultdict(lambda: defaultdict(Cell))

    def add(month: str, lender: str, figure: str, uscc: str, amount=Decimal(0), value=None) -> None:
        for who in (lender, ALL_LENDERS):
            cells[(month, who)][figure].add(uscc, amount, value)

    loans = {}
    for a in applications:
        uscc, lender = a["uscc"], a["lender_id"]
        add(month_of(shanghai_date(a["submitted_at"])), lender, "applications", uscc)
        if a.get("accepted_at"):
            add(month_of(shanghai_date(a["accepted_at"])), lender, "accepted", uscc)
        if a.get("decided_at"):
            decided = shanghai_date(a["decided_at"])
            month = month_of(decided)
            days = working_days_between(shanghai_date(a["submitted_at"]), decided, holidays)
            add(month, lender, "decisions", uscc, value=Decimal(days))
            if a["state"] == "REJECTED":
                add(month, lender, "rejected", uscc)
                add(month, lender, f"rejected_{a['reject_reason'].lower()}", uscc)
            else:  # APPROVED, or DISBURSED after it
                add(month, lender, "approved", uscc, money(a["approved_amount"]))
        if a["state"] == "DISBURSED":
            loans[a["loan_no"], uscc] = a
            month, amount = month_of(a["disbursed_on"]), money(a["disbursed_amount"])
            add(month, lender, "disbursed", uscc, amount, money(a["disbursed_rate"]))
            add(month, lender, "borrowers", uscc)
            if a.get("whitelisted_at_disbursement"):
                add(month, lender, "whitelisted_borrowers", uscc)
            if a.get("first_loan"):
                add(month, lender, "first_loans", uscc, amount)
            if a.get("renews_loan_no"):
                add(month, lender, "renewals", uscc, amount)
    for r in reports:
        loan = loans.get((r["loan_no"], r["uscc"]))
        if loan is None:
            continue
        outstanding = money(r["outstanding_principal"])
        if r["status"] in NON_PERFORMING:
            add(r["month"], loan["lender_id"], "non_performing", r["uscc"], outstanding)
        if subsidy_eligible(loan, r["status"], rate_cap):
            add(r["month"], loan["lender_id"], "subsidies", r["uscc"], subsidy_amount(outstanding, subsidy_points))
    for c in claims:
        if c["state"] == "APPROVED":
            add(month_of(shanghai_date(c["decided_at"])), c["lender_id"], "compensations", c["uscc"],
                money(c["compensation_amount"]))
    return cells


def median(values: list[Decimal]) -> Optional[Decimal]:
    """The true median (the mean of the middle two for an even count)."""
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    found = ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return found.quantize(Decimal("0.1")) if found != found.to_integral() else found.quantize(Decimal(1))


def weighted_rate(cell: Cell) -> Optional[Decimal]:
    """Amount-weighted average of the rates, 2 places (half up)."""
    if not cell.total:
        return None
    return cents(sum((rate * amount for rate, amount in cell.values), Decimal(0)) / cell.total)


def figures(cells: dict) -> dict[str, tuple]:
    """The figures of one (month, lender) from its cells: name -> (value, the enterprises it was
    computed from)."""
    def c(name: str) -> Cell:
        return cells.get(name) or Cell()

    def count(name: str) -> tuple:
        return c(name).count, c(name).firms

    def amount(name: str) -> tuple:
        return cents(c(name).total), c(name).firms

    borrowers, white = c("borrowers").firms, c("whitelisted_borrowers").firms
    return {
        "applications": count("applications"), "accepted": count("accepted"), "approved": count("approved"),
        "rejected": count("rejected"),
        **{f"rejected_{r.lower()}": count(f"rejected_{r.lower()}") for r in REJECT_REASONS},
        "disbursed_count": count("disbursed"), "disbursed_amount": amount("disbursed"),
        "first_loans_count": count("first_loans"), "first_loans_amount": amount("first_loans"),
        "first_loans_firms": (len(c("first_loans").firms), c("first_loans").firms),
        "renewals_count": count("renewals"), "renewals_amount": amount("renewals"),
        "median_working_days_to_decision": (median([v for v, _ in c("decisions").values]), c("decisions").firms),
        "average_rate_percent": (weighted_rate(c("disbursed")), c("disbursed").firms),
        "whitelisted_borrower_share_percent": (cents(Decimal(100) * len(white) / len(borrowers)) if borrowers
                                               else None, borrowers),
        "non_performing_balance": amount("non_performing"),
        "subsidy_total": amount("subsidies"),
        "compensation_total": amount("compensations"),
    }


FIGURE_NAMES = tuple(figures({}))


def statistics_messages(rows: Iterable[dict], published: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """The public rows that say something new since ``published`` (key → value, updated), as
    (key, value) messages for the outbound statistics topic: keyed "month/lender" ("month/*" for
    every lender), the row as compact JSON."""
    changed = []
    for row in rows:
        key = f"{row['month']}/{row['lender_id'] or '*'}".encode()
        value = json.dumps(row, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        if published.get(key) != value:
            published[key] = value
            changed.append((key, value))
    return changed


def statistics(cells: dict, public: bool) -> list[dict]:
    """Rows {month, lender_id (None: every lender), figure: value}, by month then lender. Money
    and rates as decimal strings; public rows show "<3" for a figure from fewer than 3
    enterprises (also from none)."""
    rows = []
    for (month, lender), of in sorted(cells.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        row: dict = {"month": month, "lender_id": lender}
        for name, (value, firms) in figures(of).items():
            if public and len(firms) < MIN_ENTERPRISES:
                row[name] = SUPPRESSED
            else:
                row[name] = str(value) if isinstance(value, Decimal) else value
        rows.append(row)
    return rows
