"""Contract validation rules and their reason codes."""
import datetime as dt
from decimal import Decimal

import pytest

from creditstream.schemas.rules import Invalid, validate
from creditstream.schemas.uscc import normalise_uscc, uscc_check_char, uscc_problem

VALID = "91350100M000100Y43"


def test_uscc_check_character_by_hand():
    # values 9 1 3 5 0 1 0 0 21(M) 0 0 0 1 0 0 30(Y) 4 · weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    # Σ = 9+3+27+135+26+420+8+900+112 = 1640; 1640 mod 31 = 28; (31-28) mod 31 = 3 → '3'
    assert uscc_check_char(VALID[:17]) == "3"
    assert uscc_problem(VALID) is None


@pytest.mark.parametrize("bad, why", [
    ("91350100M000100Y4", "17 characters"),
    ("91350100M000100Y44", "check character 4, expected 3"),
    ("91350100M0001I0Y43", "outside 0-9A-HJ-NPQRTUWXY: I"),
    ("91350100M0001S0Y43", "outside 0-9A-HJ-NPQRTUWXY: S"),
])
def test_invalid_uscc(bad, why):
    assert why in uscc_problem(bad)


def statement(**changes):
    value = {"event_id": "e1", "provider_id": "p", "uscc": VALID, "enterprise_name": "甲",
             "occurred_at": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), "account_no": "A",
             "account_name": "甲", "billing_month": "2024-12", "usage": Decimal("1.000"),
             "amount_due": Decimal("1.00"), "amount_paid": Decimal("0.00"), "due_date": dt.date(2025, 1, 20),
             "paid_date": None, "arrears_amount": Decimal("1.00"), "revision": 0}
    value.update(changes)
    return value


def test_normalises_uscc_case_and_white_space():
    assert normalise_uscc(" 91350100m000100y43\t") == VALID
    assert validate("WaterStatement", statement(uscc=" 91350100m000100y43 "))["uscc"] == VALID


@pytest.mark.parametrize("record, changes, reason, text", [
    ("WaterStatement", {"uscc": "91350100M000100Y44"}, "INVALID_USCC", "check character"),
    ("WaterStatement", {"arrears_amount": Decimal("-0.01")}, "NEGATIVE_AMOUNT", "WaterStatement.arrears_amount is -0.01"),
    ("GasStatement", {"usage": Decimal("-1.000")}, "NEGATIVE_USAGE", "GasStatement.usage is -1.000"),
    ("WaterStatement", {"billing_month": "2024-13"}, "BAD_PERIOD", "'2024-13' is not a real month"),
    ("WaterStatement", {"billing_month": "2024-1"}, "BAD_PERIOD", "not a real month"),
    ("WaterStatement", {"billing_month": "0000-01"}, "BAD_PERIOD", "not a real month"),
    # precedence: the first applicable code in the contract's table order wins
    ("WaterStatement", {"uscc": "X", "usage": Decimal("-1")}, "INVALID_USCC", "1 characters"),
    ("WaterStatement", {"amount_due": Decimal("-1"), "usage": Decimal("-1")}, "NEGATIVE_AMOUNT", "amount_due"),
])
def test_statement_rejections(record, changes, reason, text):
    with pytest.raises(Invalid) as caught:
        validate(record, statement(**changes))
    assert caught.value.reason == reason and text in caught.value.message


def test_period_rules_for_tax_and_consent():
    day = dt.date(2024, 3, 31)
    payment = {"uscc": VALID, "period_start": day, "period_end": day - dt.timedelta(days=1),
               "amount_payable": Decimal(0), "amount_paid": Decimal(0)}
    with pytest.raises(Invalid, match="BAD_PERIOD: TaxPayment.period_end 2024-03-30 is before period_start"):
        validate("TaxPayment", payment)
    assert validate("TaxPayment", {**payment, "period_end": day})["period_end"] == day
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    consent = {"uscc": VALID, "granted_at": now, "expires_at": now - dt.timedelta(milliseconds=1)}
    with pytest.raises(Invalid, match="BAD_PERIOD: ConsentGrant.expires_at"):
        validate("ConsentGrant", consent)
