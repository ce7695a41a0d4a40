"""Contract validation rules and their reason codes."""
import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import pytest

from creditstream.schemas.personal import id_card_check_char, id_card_problem, mask_id, protect
from creditstream.schemas.rules import Invalid, validate
from creditstream.schemas.uscc import normalise_uscc, uscc_check_char, uscc_problem
from tests.support import builders as b

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


# -- v1.1 ---------------------------------------------------------------------------------------------
def test_resident_id_check_character_by_hand():
    # 2 3 1 1 0 0 1 9 8 0 0 1 0 1 1 2 3 · weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    # Σ = 14+27+10+5+0+0+2+9+48+0+0+9+0+5+8+8+6 = 151; 151 mod 11 = 8; "10X98765432"[8] = '4'
    assert id_card_check_char("23110019800101123") == "4"
    assert id_card_problem("231100198001011234") is None
    assert "wrong check character" in id_card_problem("231100198001011235")
    assert mask_id("231100198001011234") == "2311**********1234"


@pytest.mark.parametrize("build, reason, text", [
    (lambda: b.penalty("P1", "2024-05-01", fine="-1.00"), "NEGATIVE_AMOUNT", "AdminPenalty.fine_amount is -1.00"),
    (lambda: b.penalty("P1", "2024-05-01", confiscated="-0.01"), "NEGATIVE_AMOUNT", "confiscated_amount"),
    (lambda: b.env("2024-H3", "GREEN", "90.0", "2024-07-01"), "BAD_PERIOD", "'2024-H3' is not YYYY-H1 or YYYY-H2"),
    (lambda: b.env("2024H1", "GREEN", "90.0", "2024-07-01"), "BAD_PERIOD", "not YYYY-H1"),
    (lambda: with_(b.licence("L1", "VALID", "2024-01-01"), legal_rep_id_no="231100198001011235"), "INVALID_ID_NO",
     "legal_rep_id_no: resident ID 2311**********1235 has a wrong check character"),
    (lambda: with_(b.licence("L1", "VALID", "2024-01-01"), legal_rep_id_no=None), "INVALID_ID_NO",
     "set only in part (legal_rep_id_no missing)"),
    (lambda: with_(b.enforcement("E1", "2024-01-01"), legal_rep_id_type=None, legal_rep_id_no=None), "INVALID_ID_NO",
     "legal_rep_id_type, legal_rep_id_no missing"),
    (lambda: with_(b.penalty("P1", "2024-05-01"), authority_uscc="11231100MB00000001"), "INVALID_AUTHORITY",
     "AdminPenalty.authority_uscc: USCC '11231100MB00000001' has check character"),
    (lambda: b.env("2024-H1", "GREEN", "100.1", "2024-07-01"), "BAD_VALUE", "score is 100.1, must be between 0 and 100"),
    (lambda: b.real_estate("C1", "ACTIVE", "2024-01-01", "0.00"), "BAD_VALUE", "area_m2 is 0.00, must be greater than 0"),
    (lambda: b.land("L1", "ACTIVE", "2024-01-01", "2023-12-31", "10.00"), "BAD_VALUE",
     "term_end 2023-12-31 is before issued_on 2024-01-01"),
    (lambda: b.licence("L1", "VALID", "2024-01-02", "2024-01-01"), "BAD_VALUE", "valid_until 2024-01-01 is before"),
    (lambda: b.penalty("P1", "2024-05-01", publicity_until="2024-04-30"), "BAD_VALUE", "publicity_until 2024-04-30"),
    # precedence: v1's codes first, then INVALID_ID_NO, INVALID_AUTHORITY, BAD_VALUE
    (lambda: with_(b.penalty("P1", "2024-05-01", fine="-1", publicity_until="2024-04-30"), legal_rep_id_no=None),
     "NEGATIVE_AMOUNT", "fine_amount"),
    (lambda: with_(b.penalty("P1", "2024-05-01", publicity_until="2024-04-30"), authority_uscc="X"), "INVALID_AUTHORITY",
     "authority_uscc"),
    (lambda: with_(b.penalty("P1", "2024-05-01"), authority_uscc="X", legal_rep_name=None), "INVALID_ID_NO", "part"),
])
def test_v1_1_rejections(build, reason, text):
    record, value = build()
    with pytest.raises(Invalid) as caught:
        validate(record, value)
    assert caught.value.reason == reason and text in caught.value.message
    assert b.LEGAL_REP_ID not in caught.value.message


def with_(built, **changes):
    record, value = built
    return record, {**value, **changes}


def test_v1_1_normalises_a_lower_case_x_and_the_authority_code():
    number = "11010519491231002X"
    assert id_card_problem(number) is None
    record, value = with_(b.licence("L1", "VALID", "2024-01-01"), legal_rep_id_no=number.lower(),
                          authority_uscc=f" {b.AUTHORITY_USCC.lower()} ")
    valid = validate(record, value)
    assert (valid["legal_rep_id_no"], valid["authority_uscc"]) == (number, b.AUTHORITY_USCC)
    assert validate(*with_(b.licence("L2", "VALID", "2024-01-01"), legal_rep_id_type="PASSPORT", legal_rep_id_no="E1"))


def test_protect_masks_the_number_and_keys_its_hash():
    record, value = b.licence("L1", "VALID", "2024-01-01")
    protected = protect(value, b"secret")
    assert protected["legal_rep_id_no"] == mask_id(b.LEGAL_REP_ID) != b.LEGAL_REP_ID
    assert protected["legal_rep_id_hmac"] == hmac.new(b"secret", b.LEGAL_REP_ID.encode(), hashlib.sha256).hexdigest()
    assert protected["legal_rep_id_hmac"] == protect({**value, "legal_rep_id_no": b.LEGAL_REP_ID.lower()},
                                                     b"secret")["legal_rep_id_hmac"]
    assert protect(value, b"other")["legal_rep_id_hmac"] != protected["legal_rep_id_hmac"]


# -- the probe's findings: patterns anchored at the very end, timestamps from the future ---------
def test_a_month_with_a_trailing_newline_is_not_a_month():
    from creditstream.schemas.months import parse_month
    for text in ("2026-09\n", "2026-09\r\n", " 2026-09", "2026-9", "2026-09-", "0000-00", "2026-13", "2026-00"):
        with pytest.raises(ValueError):
            parse_month(text)
    assert parse_month("2026-09") == 2026 * 12 + 8


def test_a_billing_month_or_half_year_with_a_trailing_newline_is_bad_period():
    record, value = b.statement("water", "W1", "2025-06", "1.000", "4.10")
    record_env, value_env = b.env("2025-H1", "GREEN", "90.0", "2025-07-01")
    assert validate(record, value) and validate(record_env, value_env)
    for record, value in ((record, {**value, "billing_month": "2025-06\n"}),
                          (record_env, {**value_env, "period": "2025-H1\n"})):
        with pytest.raises(Invalid) as caught:
            validate(record, value)
        assert caught.value.reason == "BAD_PERIOD"


def test_an_event_stamped_beyond_the_clock_skew_is_future_timestamp_and_within_it_is_accepted():
    from creditstream.schemas.rules import FUTURE_TIMESTAMP
    from creditstream.streams.pipeline import accept
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
    record, value = b.penalty("P1", "2025-06-01")
    ahead = {**value, "occurred_at": now + dt.timedelta(minutes=6)}
    with pytest.raises(Invalid) as refused:
        accept(record, ahead, now=now)
    assert refused.value.reason == FUTURE_TIMESTAMP and "occurred_at" in refused.value.message
    assert accept(record, {**value, "occurred_at": now + dt.timedelta(minutes=4)}, now=now)
    assert accept(record, ahead, now=now, skew=dt.timedelta(minutes=10))  # the skew is configurable


def test_replay_refuses_future_events_relative_to_now_or_the_given_time(tmp_path):
    import io
    import json

    from creditstream.schemas.records import replay_line
    from creditstream.streams.replay import replay
    record, value = b.penalty("P1", "2025-06-01")
    stamped = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    path = tmp_path / "events.jsonl"
    path.write_text(replay_line("credit.admin.penalty.v1", {**value, "occurred_at": stamped}) + "\n")
    for now, reasons in ((None, ["FUTURE_TIMESTAMP"]), (stamped, [])):
        err = io.StringIO()
        replay(str(path), 2025 * 12 + 5, now=now, out=io.StringIO(), err=err)
        assert [json.loads(line)["reason"] for line in err.getvalue().splitlines()] == reasons


def test_an_oversized_uscc_is_described_shortly_and_never_cached():
    from creditstream.schemas.uscc import _problem_of_18, uscc_problem
    before = _problem_of_18.cache_info().currsize
    problem = uscc_problem("9" * 8192)
    assert "8192 characters" in problem and len(problem) < 120
    assert _problem_of_18.cache_info().currsize == before
