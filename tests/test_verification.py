"""Verification without disclosure, as plain rules: each claim type gives MATCH, NO_MATCH and
NO_DATA in a hand-built case; bad claims name the claim and the field."""
import datetime as dt

import pytest

from creditstream.schemas.personal import id_hmac
from creditstream.schemas.services import RightsError
from creditstream.schemas.verification import (
    IDENTITY_CLAIMS_PER_DAY,
    MATCH,
    NO_DATA,
    NO_MATCH,
    Facts,
    IdentityClaimBudget,
    judge,
    parse_claims,
)

KEY = b"test-key"
ROW = {"vat_paid_12m": "1200.00", "tax_rating_grade": "B"}
RIGHT = {"certificate_no": "C1", "unit_no": "U1", "status": "ACTIVE", "occurred_at": "2025-01-01T00:00:00.000Z",
         "event_id": "e1"}
HELD = Facts(ROW, {
    "RealEstateRight": [RIGHT, {**RIGHT, "certificate_no": "C2", "unit_no": "U2"}],
    "RealEstateMortgage": [{"registration_no": "M1", "unit_no": "U2", "status": "ACTIVE"}],
    "TaxArrears": [{"as_of": "2025-03-31", "in_arrears": True, "occurred_at": "2025-04-01T00:00:00.000Z"},
                   {"as_of": "2025-06-30", "in_arrears": False, "occurred_at": "2025-07-01T00:00:00.000Z"}],
    "AdminLicence": [{"legal_rep_id_hmac": id_hmac("11010519491231002X", KEY), "occurred_at": "2025-05-01T00:00:00.000Z",
                      "event_id": "l1"}],
}, True)
NOTHING = Facts(None, {}, False)


def outcome(claim: dict, facts: Facts) -> str:
    return judge(parse_claims({"claims": [claim]})[0], facts, KEY)


@pytest.mark.parametrize("claim, matching, not_matching", [
    ({"type": "real_estate_right"}, {"certificate_no": "C1"}, {"certificate_no": "C9"}),
    ({"type": "unit_unencumbered"}, {"unit_no": "U1"}, {"unit_no": "U2"}),  # U2 is mortgaged
    ({"type": "vat_paid_12m_at_least"}, {"amount": "1200.00"}, {"amount": "1200.01"}),
    ({"type": "tax_grade_in"}, {"grades": ["A", "B"]}, {"grades": ["A"]}),
    ({"type": "legal_representative_id"}, {"id_no": "11010519491231002x"}, {"id_no": "110105194912310029"}),
])
def test_each_claim_matches_does_not_match_or_finds_no_data(claim, matching, not_matching):
    assert outcome({**claim, **matching}, HELD) == MATCH
    assert outcome({**claim, **not_matching}, HELD) == NO_MATCH
    assert outcome({**claim, **matching}, NOTHING) == NO_DATA


def test_no_tax_arrears_reads_the_latest_position():
    assert outcome({"type": "no_tax_arrears"}, HELD) == MATCH
    behind = Facts(ROW, {"TaxArrears": [{**HELD.records["TaxArrears"][1], "in_arrears": True}]}, True)
    assert outcome({"type": "no_tax_arrears"}, behind) == NO_MATCH
    assert outcome({"type": "no_tax_arrears"}, NOTHING) == NO_DATA


@pytest.mark.parametrize("body, field", [
    ({}, "claims"), ({"claims": []}, "claims"), ({"claims": [{"type": "net_worth"}]}, "claims[0].type"),
    ({"claims": [{"type": {"nested": 1}}]}, "claims[0].type"),
    ({"claims": [{"type": "vat_paid_12m_at_least", "amount": "1.001"}]}, "claims[0].amount"),
    ({"claims": [{"type": "vat_paid_12m_at_least", "amount": "-1"}]}, "claims[0].amount"),
    ({"claims": [{"type": "tax_grade_in", "grades": ["Z"]}]}, "claims[0].grades"),
    ({"claims": [{"type": "no_tax_arrears", "extra": 1}]}, "claims[0]"),
])
def test_bad_claims_name_the_claim_and_the_field(body, field):
    with pytest.raises(RightsError) as refused:
        parse_claims(body)
    assert refused.value.field == field


def test_identity_claims_are_bounded_per_principal_and_enterprise_a_day():
    budget = IdentityClaimBudget(per_day=5)
    day, next_day = dt.date(2026, 12, 2), dt.date(2026, 12, 3)
    assert [budget.take("bank-a", "E1", day) for _ in range(7)] == [True] * 5 + [False] * 2
    assert budget.take("bank-b", "E1", day) and budget.take("bank-a", "E2", day)  # others have their own
    assert budget.take("bank-a", "E1", next_day)  # renewed the next day
    # the masked form leaves ~33,000 candidates: at the default budget a search takes years
    assert 33_000 / IDENTITY_CLAIMS_PER_DAY / 365 > 10


def test_v1_2_claims_read_the_row_and_need_a_statement_of_their_kind():
    row = {"social_in_arrears": False, "trade_value_12m": "5000.00"}
    held = Facts(row, {}, False, frozenset({"SocialInsuranceStatement", "CustomsTradeStatement"}))
    assert outcome({"type": "no_social_arrears"}, held) == MATCH
    assert outcome({"type": "no_social_arrears"}, Facts({**row, "social_in_arrears": True}, {}, False,
                                                         held.statements_held)) == NO_MATCH
    assert outcome({"type": "trade_value_12m_at_least", "amount": "5000.00"}, held) == MATCH
    assert outcome({"type": "trade_value_12m_at_least", "amount": "5000.01"}, held) == NO_MATCH
    # a row (from other data) but no statement of the kind: nothing to judge
    only_fund = Facts(row, {}, False, frozenset({"HousingFundStatement"}))
    assert outcome({"type": "no_social_arrears"}, only_fund) == NO_DATA
    assert outcome({"type": "trade_value_12m_at_least", "amount": "1"}, only_fund) == NO_DATA
    assert parse_claims({"claims": [{"type": "no_social_arrears"}]})[0].scope == "SOCIAL"
    assert parse_claims({"claims": [{"type": "trade_value_12m_at_least", "amount": "1"}]})[0].scope == "TRADE"
