"""The enterprise's rights as plain rules: which record a dispute names, due dates in working days,
when a penalty may be repaired."""
import datetime as dt

import pytest

from creditstream.schemas.services import (
    RightsError,
    add_working_days,
    check_text,
    dispute_target,
    penalty_in_publicity,
    repair_eligible_from,
    repair_refusal,
)


def test_a_dispute_names_a_record_by_its_natural_key_and_wrong_keys_say_what_is_missing():
    assert dispute_target("credit.utility.water.v1", {"account_no": "W1", "billing_month": "2025-06"}) == (
        "WaterStatement", {"account_no": "W1", "billing_month": "2025-06"})
    assert dispute_target("credit.tax.rating.v1", {"rating_year": 2024}) == ("TaxCreditRating", {"rating_year": "2024"})
    assert dispute_target("credit.admin.penalty.v1", {"decision_no": "P1"})[0] == "AdminPenalty"
    with pytest.raises(RightsError) as missing:
        dispute_target("credit.utility.water.v1", {"account_no": "W1", "month": "x"})
    assert missing.value.field == "key" and "missing billing_month" in missing.value.message
    assert "unknown month" in missing.value.message
    with pytest.raises(RightsError) as topic:
        dispute_target("credit.consent.v1", {})
    assert topic.value.field == "topic"


def test_statements_are_required_and_bounded():
    assert check_text("statement", "  不实  ") == "不实"
    for bad in ("", "   ", None, 5, "x" * 2001):
        with pytest.raises(RightsError):
            check_text("statement", bad)


def test_working_days_skip_weekends_and_the_configured_holidays():
    friday = dt.date(2026, 9, 25)
    assert add_working_days(friday, 1) == dt.date(2026, 9, 28)  # Monday
    assert add_working_days(friday, 10) == dt.date(2026, 10, 9)
    golden_week = [dt.date(2026, 10, d) for d in range(1, 8)]
    assert add_working_days(friday, 10, golden_week) == dt.date(2026, 10, 16)


def test_a_penalty_may_be_repaired_3_months_after_a_general_and_a_year_after_a_serious_decision():
    assert repair_eligible_from(dt.date(2025, 11, 30), "GENERAL") == dt.date(2026, 2, 28)
    assert repair_eligible_from(dt.date(2024, 2, 29), "SERIOUS") == dt.date(2025, 2, 28)
    penalty = {"decided_on": "2025-05-01", "severity": "GENERAL", "publicity_until": None, "revoked": False,
               "penalty_types": ["FINE"]}
    assert repair_refusal(penalty, True, dt.date(2025, 7, 31)).endswith("from 2025-08-01 (earliest eligible date)")
    assert repair_refusal(penalty, True, dt.date(2025, 8, 1)) is None
    assert "not in publicity" in repair_refusal(penalty, False, dt.date(2025, 8, 1))
    assert "no penalty" in repair_refusal(None, False, dt.date(2025, 8, 1))


def test_an_approved_repair_ends_publicity_on_its_day_in_shanghai():
    penalty = {"decided_on": "2025-03-01", "severity": "GENERAL", "publicity_until": None, "revoked": False,
               "penalty_types": ["FINE"]}
    assert penalty_in_publicity(penalty, None, dt.date(2025, 6, 30))
    approved = {"outcome": "APPROVED", "decided_at": "2025-06-29T17:00:00.000Z"}  # 30 June 01:00 in Shanghai
    assert penalty_in_publicity(penalty, approved, dt.date(2025, 6, 29))
    assert not penalty_in_publicity(penalty, approved, dt.date(2025, 6, 30))
    assert penalty_in_publicity(penalty, {**approved, "outcome": "REJECTED"}, dt.date(2025, 6, 30))
    assert not penalty_in_publicity({**penalty, "penalty_types": ["WARNING"]}, None, dt.date(2025, 6, 30))
