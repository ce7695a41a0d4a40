"""Rolling 3/6/12-month aggregates "as of" a month, computed from a Ledger. Pure, no I/O.

Output is the contract's output form: money and usage as decimal strings, averages rounded
half-up (2 places money, 3 places usage), dates YYYY-MM-DD.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from creditstream.schemas.amounts import MONEY_PLACES, USAGE_PLACES, decimal_of
from creditstream.schemas.cs_eval_2 import evaluate, whitelist_failures
from creditstream.schemas.models import WINDOWS
from creditstream.schemas.months import format_month, last_day, month_of_ordinal
from creditstream.schemas.topics import UTILITIES
from creditstream.streams.collection import compute_collection
from creditstream.streams.ledger import (
    AMOUNT_DUE,
    ARREARS,
    DUE,
    END,
    PAID,
    PAID_ON,
    PAYABLE,
    PAYMENT_STRIDE,
    START,
    STATEMENT_STRIDE,
    USAGE,
    Ledger,
    months_window,
    payment_is_normal,
)
from creditstream.streams.profile import compute_profile

CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def usage(value: Decimal) -> str:
    return str(value.quantize(MILLI, rounding=ROUND_HALF_UP))


# field names per (kind, window), built once: compute() runs for every changed enterprise
UTILITY_KEYS = {kind: {w: (f"{kind}_months_{w}m", f"{kind}_avg_usage_{w}m", f"{kind}_avg_amount_{w}m")
                       for w in WINDOWS} for kind in UTILITIES}
ARREARS_KEYS = {kind: (f"{kind}_in_arrears", f"{kind}_arrears_amount") for kind in UTILITIES}
TAX_KEYS = {w: (f"vat_payable_{w}m", f"vat_paid_{w}m", f"cit_paid_{w}m") for w in WINDOWS}


def compute(uscc: str, ledger: Ledger, as_of: int, reference: dt.date | None = None) -> dict:
    """The row of one enterprise: v1 aggregates as of month index ``as_of``, the registers read at
    ``reference`` (R; default the last day of that month), v1.2's statements as of that month and
its registers at R, the evaluation and the whitelist flag."""
    reference = reference or last_day(as_of)
    row: dict = {"uscc": uscc, "as_of_month": format_month(as_of), "as_of_date": reference.isoformat()}
    for kind in UTILITIES:
        row.update(_utility(kind, ledger, as_of))
    row.update(_tax_sums(ledger, as_of))
    row.update(_tax_status(ledger, as_of))
    row.update(compute_profile(ledger, as_of, reference))
    row.update(compute_collection(ledger, as_of, reference))
    row.update(evaluate(row))
    row["whitelisted"] = not whitelist_failures(row)
    if ledger.sources:  # the provincial node: the cities the row is gathered from
        row["sources"] = sorted(ledger.sources)
    return row


def _utility(kind: str, ledger: Ledger, as_of: int) -> dict:
    # months before M (0..11) -> [usage sum (0.001), amount due sum (fen)] over the accounts billed then
    by_age: dict[int, list[int]] = {}
    arrears = []  # each account's arrears in its latest month ≤ M (fen)
    for rows in ledger.statements[kind].values():
        billed, start, end = months_window(rows, STATEMENT_STRIDE, as_of, WINDOWS[-1])
        if end == 0:
            continue  # billed only after M
        arrears.append(rows[(end - 1) * STATEMENT_STRIDE + ARREARS])
        first, last = start * STATEMENT_STRIDE, end * STATEMENT_STRIDE
        for month, used, due in zip(billed[start:end], rows[first + USAGE:last:STATEMENT_STRIDE],
                                    rows[first + AMOUNT_DUE:last:STATEMENT_STRIDE]):
            sums = by_age.setdefault(as_of - month, [0, 0])
            sums[0] += used
            sums[1] += due
    keys = UTILITY_KEYS[kind]
    out: dict = {}
    n, usage_sum, amount_sum = 0, 0, 0
    for age in range(WINDOWS[-1]):  # M, M-1, …: the 3-month window is the start of the 6- and 12-month ones
        month = by_age.get(age)
        if month is not None:
            n, usage_sum, amount_sum = n + 1, usage_sum + month[0], amount_sum + month[1]
        if age + 1 in keys:
            months_key, usage_key, amount_key = keys[age + 1]
            out[months_key] = n
            out[usage_key] = usage(decimal_of(usage_sum, USAGE_PLACES) / n) if n else None
            out[amount_key] = money(decimal_of(amount_sum, MONEY_PLACES) / n) if n else None
    in_arrears_key, arrears_key = ARREARS_KEYS[kind]
    out[in_arrears_key] = any(a > 0 for a in arrears)
    out[arrears_key] = money(decimal_of(sum(arrears), MONEY_PLACES))
    return out


def _payments(ledger: Ledger):
    """(tax type, the type's columns, offset of one payment) for every winning payment."""
    for tax_type, rows in ledger.payments.items():
        for at in range(0, len(rows), PAYMENT_STRIDE):
            yield tax_type, rows, at


def _tax_sums(ledger: Ledger, as_of: int) -> dict:
    by_age = defaultdict(lambda: [0, 0, 0])  # months before M the period ends -> VAT payable, VAT paid, CIT paid (fen)
    for tax_type, rows, at in _payments(ledger):
        if tax_type not in ("VAT", "CIT"):
            continue
        age = as_of - month_of_ordinal(rows[at + END])
        if 0 <= age < WINDOWS[-1]:
            if tax_type == "VAT":
                sums = by_age[age]
                sums[0] += rows[at + PAYABLE]
                sums[1] += rows[at + PAID]
            else:
                by_age[age][2] += rows[at + PAID]
    out: dict = {}
    vat_payable = vat_paid = cit_paid = 0
    for age in range(WINDOWS[-1]):
        if age in by_age:
            sums = by_age[age]
            vat_payable, vat_paid, cit_paid = vat_payable + sums[0], vat_paid + sums[1], cit_paid + sums[2]
        if age + 1 in TAX_KEYS:
            payable_key, paid_key, cit_key = TAX_KEYS[age + 1]
            out[payable_key] = money(decimal_of(vat_payable, MONEY_PLACES))
            out[paid_key] = money(decimal_of(vat_paid, MONEY_PLACES))
            out[cit_key] = money(decimal_of(cit_paid, MONEY_PLACES))
    return out


def _payment_history(ledger: Ledger, as_of: int) -> tuple[int, int | None]:
    """One pass over the payments: the normal streak as of M (months from M backwards up to, not
    including, the latest abnormal month due by the end of M, not past the month of the earliest
    period_start seen; 0 with no TaxPayment) and the ordinal of the last normal payment made by the
    end of M (None without one)."""
    if not ledger.payments:
        return 0, None
    end_of_m = last_day(as_of).toordinal()
    first_start = latest_abnormal_due = last_normal = None
    for _tax_type, rows, at in _payments(ledger):
        start = rows[at + START]
        if first_start is None or start < first_start:
            first_start = start
        if payment_is_normal(rows, at):
            paid_on = rows[at + PAID_ON]
            if paid_on <= end_of_m and (last_normal is None or paid_on > last_normal):
                last_normal = paid_on
        elif rows[at + DUE] <= end_of_m and (latest_abnormal_due is None or rows[at + DUE] > latest_abnormal_due):
            latest_abnormal_due = rows[at + DUE]
    stop = month_of_ordinal(first_start) - 1
    if latest_abnormal_due is not None:
        stop = max(stop, month_of_ordinal(latest_abnormal_due))
    return max(0, as_of - stop), last_normal


def _tax_status(ledger: Ledger, as_of: int) -> dict:
    end_of_m = last_day(as_of)
    streak, last_normal = _payment_history(ledger, as_of)
    rating_years = [year for year in ledger.ratings if year <= end_of_m.year]
    arrears_dates = [d for d in ledger.arrears if d <= end_of_m]
    status_dates = [d for d in ledger.status if d <= end_of_m]
    rating = ledger.ratings[max(rating_years)] if rating_years else None
    arrears = ledger.arrears[max(arrears_dates)] if arrears_dates else None
    status = ledger.status[max(status_dates)] if status_dates else None
    return {
        "tax_normal_streak_months": streak,
        "tax_last_normal_payment_date": dt.date.fromordinal(last_normal).isoformat() if last_normal else None,
        "tax_rating_grade": rating[1] if rating else None,
        "tax_rating_year": max(rating_years) if rating_years else None,
        "tax_in_arrears": arrears[1] if arrears else False,
        "tax_arrears_amount": money(arrears[2]) if arrears else "0.00",
        "taxpayer_abnormal": status[1] if status else False,
    }
