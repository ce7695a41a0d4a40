"""The v1.2 fields of an enterprise's row (contract "v1.2: the wider collection list"): social
insurance, housing fund and customs trade as of the month M over v1's calendar windows; customs
grade, intellectual property, public-resource awards and the courts' lists at the reference date
R. Pure, no I/O; reads what streams/registers.py keeps in the ledger.
"""
from __future__ import annotations

import datetime as dt
from array import array
from decimal import ROUND_HALF_UP, Decimal

from creditstream.schemas.amounts import MONEY_PLACES, decimal_of
from creditstream.schemas.models import CONTRIBUTION_SERIES, WINDOWS
from creditstream.streams.ledger import Ledger, months_window
from creditstream.streams.profile import money, month_of_day

TENTH, ZERO = Decimal("0.1"), Decimal(0)
YEAR = WINDOWS[-1]  # the 12-month window: M-11 .. M

# field names per (series, window), built once: the row is computed for every changed enterprise
CONTRIBUTION_KEYS = {k: {w: (f"{k}_months_{w}m", f"{k}_avg_employees_{w}m", f"{k}_paid_{w}m") for w in WINDOWS}
                     for k in CONTRIBUTION_SERIES}


def _statements(by_account: dict[str, array], fields: int):
    """(account or customs code, month index, the fields after the revision) of each winning
    statement: a series' records are columns (month index, revision, *fields) (streams.ledger)."""
    stride = 2 + fields
    for account, rows in by_account.items():
        for at in range(0, len(rows), stride):
            yield account, rows[at], rows[at + 2:at + stride]


def compute_collection(ledger: Ledger, as_of: int, reference: dt.date) -> dict:
    r = reference.isoformat()  # ISO dates compare as dates
    row: dict = {}
    for series in CONTRIBUTION_SERIES:
        row.update(_contributions(series, ledger.statements_of(series), as_of))
    row.update(_trade(ledger.statements_of("trade"), as_of))
    row.update(_customs_grade(ledger, r))
    row.update(_intellectual_property(ledger, r))
    row.update(_awards(ledger, as_of))
    row.update(_courts(ledger, r))
    return row


def _contributions(series: str, entries: dict[str, array], as_of: int) -> dict:
    """``{k}_months/avg_employees/paid_{w}m``, ``{k}_in_arrears``, ``{k}_arrears_amount`` (each
    account's latest statement ≤ M) and ``{k}_arrears_months_3m`` (months M-2 .. M with a
    statement in arrears). Money in fen until the output."""
    by_age: dict[int, list[int]] = {}  # months before M -> [employees, paid]
    owed_now: list[int] = []  # each account's arrears_amount in its latest statement ≤ M
    arrears_ages: set[int] = set()
    stride = 2 + 3  # month index, revision, employees, paid, owed (streams.ledger)
    for rows in entries.values():
        billed, start, end = months_window(rows, stride, as_of, YEAR)
        if end == 0:
            continue  # months after M are ignored
        owed_now.append(rows[end * stride - 1])
        first, last = start * stride, end * stride
        for month, employees, paid, owed in zip(billed[start:end], rows[first + 2:last:stride],
                                                rows[first + 3:last:stride], rows[first + 4:last:stride]):
            age = as_of - month
            sums = by_age.setdefault(age, [0, 0])
            sums[0] += employees
            sums[1] += paid
            if age < 3 and owed > 0:
                arrears_ages.add(age)
    out: dict = {}
    keys = CONTRIBUTION_KEYS[series]
    months, employees, paid = 0, 0, 0
    for age in range(YEAR):  # the 3-month window is the start of the 6- and 12-month ones
        sums = by_age.get(age)
        if sums is not None:
            months, employees, paid = months + 1, employees + sums[0], paid + sums[1]
        if age + 1 in keys:
            months_key, employees_key, paid_key = keys[age + 1]
            out[months_key] = months
            out[employees_key] = (str((Decimal(employees) / months).quantize(TENTH, rounding=ROUND_HALF_UP))
                                  if months else None)
            out[paid_key] = money(decimal_of(paid, MONEY_PLACES))
    out[f"{series}_in_arrears"] = any(owed > 0 for owed in owed_now)
    out[f"{series}_arrears_amount"] = money(decimal_of(sum(owed_now), MONEY_PLACES))
    out[f"{series}_arrears_months_3m"] = len(arrears_ages)
    return out


def _trade(entries: dict[str, array], as_of: int) -> dict:
    """Customs trade over the 12-month window by trade_month (all customs codes)."""
    by_month: dict[int, int] = {}  # fen
    exports = 0
    for _code, month, (imported, exported) in _statements(entries, 2):
        if 0 <= as_of - month < YEAR:
            by_month[month] = by_month.get(month, 0) + imported + exported
            exports += exported
    return {"trade_value_12m": money(decimal_of(sum(by_month.values()), MONEY_PLACES)),
            "export_value_12m": money(decimal_of(exports, MONEY_PLACES)),
            "trade_months_12m": sum(1 for total in by_month.values() if total > 0)}


def _customs_grade(ledger: Ledger, r: str) -> dict:
    """The decision in force: the latest decided_on ≤ R (ties: the greater decision_no); its grade
    while valid_until is null or ≥ R, GENERAL after (a registered enterprise again)."""
    decided = [(decided_on, decision_no, grade, until)
               for decision_no, (_o, _e, grade, decided_on, until) in ledger.register("CustomsCreditGrade").items()
               if decided_on <= r]
    if not decided:
        return {"customs_grade": None, "customs_grade_decided_on": None}
    decided_on, _decision_no, grade, until = max(decided)
    return {"customs_grade": grade if until is None or until >= r else "GENERAL", "customs_grade_decided_on": decided_on}


def _intellectual_property(ledger: Ledger, r: str) -> dict:
    patents = [invention for _o, _e, valid, invention, granted, until in ledger.register("Patent").values()
               if valid and granted <= r and until >= r]
    return {
        "patents_valid": len(patents),
        "invention_patents_valid": sum(patents),
        "trademarks_valid": sum(1 for _o, _e, valid, registered, until in ledger.register("Trademark").values()
                                if valid and registered <= r and until >= r),
        "ip_pledges_active": sum(1 for _o, _e, active, registered in ledger.register("IpPledge").values()
                                 if active and registered <= r),
    }


def _awards(ledger: Ledger, as_of: int) -> dict:
    amounts = [Decimal(amount) for _o, _e, valid, awarded, amount in ledger.register("PublicResourceAward").values()
               if valid and 0 <= as_of - month_of_day(awarded) < YEAR]
    return {"awards_12m": len(amounts), "award_amount_12m": money(sum(amounts, ZERO))}


def _courts(ledger: Ledger, r: str) -> dict:
    """Listed at R: listed_on ≤ R and not removed by R (only removed_on ends a listing). A case is
    active at R: filed_on ≤ R and not closed by R."""
    listed = sum(1 for _o, _e, listed_on, removed_on in ledger.register("DishonestDebtor").values()
                 if listed_on <= r and (removed_on is None or removed_on > r))
    cases = [Decimal(amount) for _o, _e, filed, closed, amount in ledger.register("EnforcementCase").values()
             if filed <= r and (closed is None or closed > r)]
    return {"court_dishonest": listed > 0, "court_dishonest_count": listed,
            "enforcement_cases_active": len(cases), "enforcement_amount_active": money(sum(cases, ZERO))}
