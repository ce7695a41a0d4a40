"""Small builders for typed contract records (what the validators hand to the ledger)."""
import datetime as dt
import itertools
from decimal import Decimal

from creditstream.schemas.topics import UTILITY_KINDS

USCC = "91350100M000100Y43"
UTC = dt.timezone.utc
_ids = itertools.count(1)
KIND_RECORD = {kind: record for record, kind in UTILITY_KINDS.items()}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def common(provider="p", event_id=None, occurred="2024-01-01T00:00:00"):
    return {"event_id": event_id or f"e{next(_ids)}", "provider_id": provider, "uscc": USCC,
            "enterprise_name": "黑河市测试有限公司", "occurred_at": instant(occurred)}


def statement(kind, account, month, usage, amount, arrears="0.00", revision=0, **kw):
    return KIND_RECORD[kind], {
        **common(**kw), "account_no": account, "account_name": "甲", "billing_month": month,
        "usage": Decimal(usage), "amount_due": Decimal(amount), "amount_paid": Decimal(amount),
        "due_date": day(month + "-20"), "paid_date": None, "arrears_amount": Decimal(arrears), "revision": revision,
    }


def payment(tax_type, start, end, payable, paid, due, paid_date, revision=0, **kw):
    return "TaxPayment", {
        **common(**kw), "tax_type": tax_type, "period_start": day(start), "period_end": day(end),
        "amount_payable": Decimal(payable), "amount_paid": Decimal(paid), "due_date": day(due),
        "paid_date": day(paid_date) if paid_date else None, "revision": revision,
    }


def rating(year, grade, occurred, **kw):
    return "TaxCreditRating", {**common(occurred=occurred, **kw), "rating_year": year, "grade": grade}


def arrears(as_of, in_arrears, amount, occurred, **kw):
    return "TaxArrears", {**common(occurred=occurred, **kw), "as_of": day(as_of), "in_arrears": in_arrears,
                          "amount": Decimal(amount), "tax_types": ["VAT"] if in_arrears else []}


def status(as_of, abnormal, occurred, **kw):
    return "TaxpayerStatus", {**common(occurred=occurred, **kw), "as_of": day(as_of), "abnormal": abnormal}
