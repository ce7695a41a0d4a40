"""Monthly series the portal draws, from the API's answers: a utility's last 24 months (the bill
and how it was paid), tax paid per quarter, the social-insurance head count. Pure functions; the
pages draw them with charts.bar_chart, which states every value in the chart's description.

How a month was paid, read from its statements (all of the enterprise's accounts with that
provider): in arrears when any statement has arrears or is unpaid after its due date, late when
any was paid after its due date, otherwise on time; a month without a statement has no bar."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple, Optional

from creditstream.schemas.cs_eval_1 import GRADES
from creditstream.schemas.months import months_back

ON_TIME, LATE, ARREARS = "on_time", "late", "arrears"
PAYMENT_STATES = (ON_TIME, LATE, ARREARS)


class Series(NamedTuple):
    labels: list[str]  # months "2026-01" or quarters "2026Q1"
    values: dict[str, list]  # series name -> one value per label (None: nothing that period)


def _money(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def payment_state(item: dict, today: dt.date) -> str:
    due, paid = item.get("due_date"), item.get("paid_date")
    short = _money(item.get("amount_paid")) < _money(item.get("amount_due"))
    if _money(item.get("arrears_amount")) > 0 or (short and due and str(due) < today.isoformat()):
        return ARREARS
    return LATE if paid and due and str(paid) > str(due) else ON_TIME


def utility_months(items: list[dict], last_month: str, today: dt.date, count: int = 24) -> Series:
    """Each month's amount due, under the state it was paid in (the other two states None)."""
    months = months_back(last_month, count)
    amount: dict[str, Decimal] = {}
    worst: dict[str, int] = {}
    for item in items:
        month = str(item.get("billing_month", ""))
        if month in months:
            amount[month] = amount.get(month, Decimal(0)) + _money(item.get("amount_due"))
            worst[month] = max(worst.get(month, 0), PAYMENT_STATES.index(payment_state(item, today)))
    values = {state: [amount[m] if m in amount and PAYMENT_STATES[worst[m]] == state else None for m in months]
              for state in PAYMENT_STATES}
    return Series(months, values)


def quarter_of(day: str) -> str:
    year, month = int(day[:4]), int(day[5:7])
    return f"{year}Q{(month - 1) // 3 + 1}"


def tax_quarters(payments: dict[str, list[dict]], last_day: dt.date, count: int = 8) -> Series:
    """Tax paid per quarter of the period's end, per tax type (``payments``: kind → items), the
    last ``count`` quarters up to ``last_day``'s."""
    quarters, year, quarter = [], last_day.year, (last_day.month - 1) // 3 + 1
    for _ in range(count):
        quarters.append(f"{year}Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    quarters.reverse()
    values: dict[str, list] = {}
    for kind, items in payments.items():
        paid: dict[str, Decimal] = {}
        for item in items:
            q = quarter_of(str(item.get("period_end", "")))
            if q in quarters:
                paid[q] = paid.get(q, Decimal(0)) + _money(item.get("amount_paid"))
        if paid:
            values[kind] = [paid.get(q) for q in quarters]
    return Series(quarters, values)


def head_count(items: list[dict], last_month: str, count: int = 24) -> Series:
    """Insured employees per month (SocialInsuranceStatement), summed over the enterprise's accounts."""
    months = months_back(last_month, count)
    people: dict[str, int] = {}
    for item in items:
        month = str(item.get("contribution_month", ""))
        if item.get("record", "SocialInsuranceStatement") == "SocialInsuranceStatement" and month in months:
            people[month] = people.get(month, 0) + int(item.get("employee_count") or 0)
    return Series(months, {"employees": [people.get(m) for m in months]})


def has_data(series: Optional[Series]) -> bool:
    return series is not None and any(v is not None for values in series.values.values() for v in values)


def evaluation_months(items: list[dict], last_month: str, count: int = 12) -> Series:
    """The credit score at each month's end (the last evaluation recorded in the month), under the
    grade it carried then (one series per grade, the others None); months without a record and
    items without a score (withheld from the viewer) have no bar."""
    months = months_back(last_month, count)
    latest: dict[str, dict] = {}
    for item in sorted(items, key=lambda item: str(item.get("day", ""))):
        month = str(item.get("day", ""))[:7]
        if month in months and item.get("eval_score") is not None:
            latest[month] = item
    best_first = [name for _floor, name in GRADES]
    grades = sorted({str(item.get("eval_grade")) for item in latest.values()},
                    key=lambda g: best_first.index(g) if g in best_first else len(best_first))
    values = {grade: [latest[m]["eval_score"] if m in latest and latest[m].get("eval_grade") == grade else None
                      for m in months] for grade in grades}
    return Series(months, values)
