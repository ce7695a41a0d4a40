"""Rolling 3/6/12-month aggregates "as of" a month, computed from a Ledger. Pure, no I/O.

Output is the contract's output form: money and usage as decimal strings, averages rounded
half-up (2 places money, 3 places usage), dates YYYY-MM-DD.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from streams.ledger import UTILITIES, Ledger
from streams.months import format_month, last_day, month_of

WINDOWS = (3, 6, 12)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
ZERO = Decimal(0)


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def usage(value: Decimal) -> str:
    return str(value.quantize(MILLI, rounding=ROUND_HALF_UP))


def aggregate_fields() -> list[str]:
    """Every aggregate name, in the contract's order."""
    names = []
    for kind in UTILITIES:
        for w in WINDOWS:
            names += [f"{kind}_months_{w}m", f"{kind}_avg_usage_{w}m", f"{kind}_avg_amount_{w}m"]
        names += [f"{kind}_in_arrears", f"{kind}_arrears_amount"]
    for w in WINDOWS:
        names += [f"vat_payable_{w}m", f"vat_paid_{w}m", f"cit_paid_{w}m"]
    return names + [
        "tax_normal_streak_months", "tax_last_normal_payment_date", "tax_rating_grade", "tax_rating_year",
        "tax_in_arrears", "tax_arrears_amount", "taxpayer_abnormal",
    ]


def compute(uscc: str, ledger: Ledger, as_of: int) -> dict:
    """The aggregate row of one enterprise as of month index ``as_of``."""
    row: dict = {"uscc": uscc, "as_of_month": format_month(as_of)}
    for kind in UTILITIES:
        row.update(_utility(kind, ledger, as_of))
    row.update(_tax_sums(ledger, as_of))
    row.update(_tax_status(ledger, as_of))
    return row


def _utility(kind: str, ledger: Ledger, as_of: int) -> dict:
    usage_by_month: dict[int, Decimal] = defaultdict(Decimal)
    amount_by_month: dict[int, Decimal] = defaultdict(Decimal)
    latest_by_account: dict[str, int] = {}
    statements = ledger.statements[kind]
    for (account, month), statement in statements.items():
        if month > as_of:
            continue
        usage_by_month[month] += statement.usage
        amount_by_month[month] += statement.amount_due
        if month > latest_by_account.get(account, -1):
            latest_by_account[account] = month
    out: dict = {}
    for w in WINDOWS:
        months = [m for m in usage_by_month if as_of - w < m <= as_of]
        n = len(months)
        out[f"{kind}_months_{w}m"] = n
        out[f"{kind}_avg_usage_{w}m"] = usage(sum((usage_by_month[m] for m in months), ZERO) / n) if n else None
        out[f"{kind}_avg_amount_{w}m"] = money(sum((amount_by_month[m] for m in months), ZERO) / n) if n else None
    arrears = [statements[(account, month)].arrears_amount for account, month in latest_by_account.items()]
    out[f"{kind}_in_arrears"] = any(a > 0 for a in arrears)
    out[f"{kind}_arrears_amount"] = money(sum(arrears, ZERO))
    return out


def _tax_sums(ledger: Ledger, as_of: int) -> dict:
    out: dict = {}
    for w in WINDOWS:
        vat_payable = vat_paid = cit_paid = ZERO
        for (tax_type, _start, end), payment in ledger.payments.items():
            if not as_of - w < month_of(end) <= as_of:
                continue
            if tax_type == "VAT":
                vat_payable += payment.amount_payable
                vat_paid += payment.amount_paid
            elif tax_type == "CIT":
                cit_paid += payment.amount_paid
        out[f"vat_payable_{w}m"] = money(vat_payable)
        out[f"vat_paid_{w}m"] = money(vat_paid)
        out[f"cit_paid_{w}m"] = money(cit_paid)
    return out


def normal_streak(ledger: Ledger, as_of: int) -> int:
    """Months from M backwards up to (not including) the latest abnormal month, not past the
    month of the earliest period_start seen; 0 with no TaxPayment."""
    if not ledger.payments:
        return 0
    end_of_m = last_day(as_of)
    first_month = min(month_of(start) for (_t, start, _e) in ledger.payments)
    abnormal = [
        month_of(p.due_date) for p in ledger.payments.values() if p.due_date <= end_of_m and not p.normal
    ]
    stop = max(abnormal, default=first_month - 1)
    stop = max(stop, first_month - 1)
    return max(0, as_of - stop)


def _tax_status(ledger: Ledger, as_of: int) -> dict:
    end_of_m = last_day(as_of)
    normal_dates = [
        p.paid_date for p in ledger.payments.values() if p.normal and p.paid_date <= end_of_m
    ]
    rating_years = [year for year in ledger.ratings if year <= end_of_m.year]
    arrears_dates = [d for d in ledger.arrears if d <= end_of_m]
    status_dates = [d for d in ledger.status if d <= end_of_m]
    rating = ledger.ratings[max(rating_years)] if rating_years else None
    arrears = ledger.arrears[max(arrears_dates)] if arrears_dates else None
    status = ledger.status[max(status_dates)] if status_dates else None
    return {
        "tax_normal_streak_months": normal_streak(ledger, as_of),
        "tax_last_normal_payment_date": max(normal_dates).isoformat() if normal_dates else None,
        "tax_rating_grade": rating[1] if rating else None,
        "tax_rating_year": max(rating_years) if rating_years else None,
        "tax_in_arrears": arrears[1] if arrears else False,
        "tax_arrears_amount": money(arrears[2]) if arrears else "0.00",
        "taxpayer_abnormal": status[1] if status else False,
    }
