"""Contract v1.2 (the wider collection list): validation of the ten new records, the statement and
register rules, every new row field, model cs-eval-2's red lines and the whitelist, with
hand-computed expectations (credit-events.md "v1.2", platform-services.md "v1.2 addendum")."""
import datetime as dt
import itertools

import pytest

from creditstream.schemas import cs_eval_2
from creditstream.schemas.months import parse_month
from creditstream.schemas.rules import BAD_PERIOD, BAD_VALUE, NEGATIVE_AMOUNT, Invalid, validate
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support import builders as b
from tests.support.legacy_ledger import json_bytes, json_form


def row_of(events, as_of="2025-06", reference=None):
    ledger = Ledger()
    for record, value in events:
        ledger.apply(record, value)
    return compute(b.USCC, ledger, parse_month(as_of), dt.date.fromisoformat(reference) if reference else None)


def reason_of(event):
    record, value = event
    with pytest.raises(Invalid) as caught:
        validate(record, value)
    return caught.value.reason


# -- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("event, reason", [
    (b.social("S1", "2025-06", 10, "-1.00"), NEGATIVE_AMOUNT),
    (b.trade("C1", "2025-06", "-0.01", "0.00"), NEGATIVE_AMOUNT),
    (b.ip_pledge("R1", "ACTIVE", "2025-01-01", amount="-5.00"), NEGATIVE_AMOUNT),
    (b.award("N1", "2025-01-01", "-1.00"), NEGATIVE_AMOUNT),
    (b.court_case("K1", "2025-01-01", "-1.00"), NEGATIVE_AMOUNT),
    (b.housing_fund("H1", "2025-13", 3, "10.00"), BAD_PERIOD),
    (b.trade("C1", "2025-6", "1.00", "1.00"), BAD_PERIOD),
    (b.social("S1", "2025-06", -1, "10.00"), BAD_VALUE),
    (b.trade("C1", "2025-06", "1.00", "1.00", declarations=-1), BAD_VALUE),
    (b.trademark("T1", "2020-01-01", "2030-01-01", nice_class=0), BAD_VALUE),
    (b.trademark("T1", "2020-01-01", "2030-01-01", nice_class=46), BAD_VALUE),
    (b.trademark("T1", "2020-01-01", "2019-12-31"), BAD_VALUE),
    (b.customs_grade("D1", "ADVANCED_CERTIFIED", "2025-01-02", "2025-01-01"), BAD_VALUE),
    (b.patent("ZL1", "INVENTION", "2020-01-01", "2040-01-01", applied_on="2020-01-02"), BAD_VALUE),
    (b.patent("ZL1", "INVENTION", "2020-01-01", "2019-01-01"), BAD_VALUE),
    (b.ip_pledge("R1", "ACTIVE", "2025-01-02", term_end="2025-01-01"), BAD_VALUE),
    (b.dishonest("K1", "2025-01-02", removed_on="2025-01-01"), BAD_VALUE),
    (b.court_case("K1", "2025-01-02", "1.00", closed_on="2025-01-01"), BAD_VALUE),
    # precedence: a negative amount before a bad month before a bad value
    (b.social("S1", "2025-13", -1, "-1.00"), NEGATIVE_AMOUNT),
    (b.social("S1", "2025-13", -1, "1.00"), BAD_PERIOD),
])
def test_each_v1_2_code_and_its_precedence(event, reason):
    assert reason_of(event) == reason


@pytest.mark.parametrize("event", [
    b.trademark("T1", "2020-01-01", "2020-01-01", nice_class=1),  # a one-day right and the first class
    b.trademark("T1", "2020-01-01", "2030-01-01", nice_class=45),
    b.customs_grade("D1", "GENERAL", "2025-01-01", "2025-01-01"),
    b.dishonest("K1", "2025-01-01", removed_on="2025-01-01"),
    b.social("S1", "2025-06", 0, "0.00"),
])
def test_edges_are_valid(event):
    record, value = event
    assert validate(record, value) is value


# -- social insurance, housing fund, trade: statements as of M ---------------------------------------

def test_contribution_windows_averages_and_arrears():
    events = [
        b.social("S1", "2025-06", 10, "1000.00"),
        b.social("S2", "2025-06", 3, "300.00", arrears="50.00"),
        b.social("S1", "2025-05", 12, "1200.00", arrears="10.00"),
        b.social("S1", "2025-01", 7, "700.00"),
        b.social("S1", "2024-07", 5, "500.00"),
        b.social("S1", "2024-06", 99, "999.00"),  # outside the 12-month window
        b.social("S1", "2025-07", 99, "999.00", arrears="999.00"),  # after M: ignored
    ]
    row = row_of(events)
    assert (row["social_months_3m"], row["social_avg_employees_3m"], row["social_paid_3m"]) == (2, "12.5", "2500.00")
    assert (row["social_months_6m"], row["social_avg_employees_6m"], row["social_paid_6m"]) == (3, "10.7", "3200.00")
    assert (row["social_months_12m"], row["social_avg_employees_12m"], row["social_paid_12m"]) == (4, "9.3", "3700.00")
    # each account's latest statement ≤ M: S1 2025-06 (0.00), S2 2025-06 (50.00)
    assert (row["social_in_arrears"], row["social_arrears_amount"]) == (True, "50.00")
    assert row["social_arrears_months_3m"] == 2  # May (S1) and June (S2)
    assert row["housing_fund_months_12m"] == 0 and row["housing_fund_avg_employees_3m"] is None
    assert (row["housing_fund_paid_12m"], row["housing_fund_in_arrears"], row["housing_fund_arrears_amount"]) == \
        ("0.00", False, "0.00")


def test_average_head_count_rounds_half_up_to_one_place():
    row = row_of([b.housing_fund("H1", "2025-06", 1, "1.00"), b.housing_fund("H1", "2025-05", 2, "1.00"),
                  b.housing_fund("H1", "2025-04", 2, "1.00"), b.housing_fund("H2", "2025-04", 0, "1.00")])
    assert row["housing_fund_avg_employees_3m"] == "1.7"  # 5 / 3 = 1.666…
    row = row_of([b.housing_fund("H1", "2025-06", 1, "1.00"), b.housing_fund("H1", "2025-05", 0, "1.00"),
                  b.housing_fund("H1", "2025-04", 0, "1.00"), b.housing_fund("H1", "2025-03", 0, "1.00")], )
    assert row["housing_fund_avg_employees_6m"] == "0.3"  # 1 / 4 = 0.25 → 0.3 (half up)


def test_the_highest_revision_wins_in_any_order_and_an_equal_one_later_is_ignored():
    first = b.social("S1", "2025-06", 10, "100.00", arrears="100.00", revision=0)
    correction = b.social("S1", "2025-06", 11, "200.00", arrears="0.00", revision=1)
    same_revision = b.social("S1", "2025-06", 50, "900.00", arrears="900.00", revision=1)
    for order in itertools.permutations([first, correction]):
        row = row_of(order)
        assert (row["social_avg_employees_3m"], row["social_paid_3m"], row["social_in_arrears"]) == \
            ("11.0", "200.00", False)
    assert row_of([first, correction, same_revision])["social_paid_3m"] == "200.00"


def test_red_line_x3_needs_arrears_in_each_of_the_three_months():
    three = [b.social("S1", m, 5, "1.00", arrears="1.00") for m in ("2025-04", "2025-05", "2025-06")]
    assert row_of(three)["social_arrears_months_3m"] == 3
    assert row_of(three)["eval_red_lines"] == ["X3"]
    assert row_of(three[1:])["eval_red_lines"] == []
    # housing-fund arrears are no red line
    fund = [b.housing_fund("H1", m, 5, "1.00", arrears="1.00") for m in ("2025-04", "2025-05", "2025-06")]
    assert row_of(fund)["housing_fund_arrears_months_3m"] == 3 and row_of(fund)["eval_red_lines"] == []


def test_trade_over_twelve_months_by_trade_month():
    row = row_of([
        b.trade("C1", "2025-06", "100.00", "50.00"), b.trade("C2", "2025-06", "0.00", "25.00"),
        b.trade("C1", "2025-03", "0.00", "0.00"),  # a month with a statement but no trade
        b.trade("C1", "2024-07", "10.00", "0.00"),
        b.trade("C1", "2024-06", "1000.00", "1000.00"),  # outside the window
    ])
    assert (row["trade_value_12m"], row["export_value_12m"], row["trade_months_12m"]) == ("185.00", "75.00", 2)


# -- registers at R ----------------------------------------------------------------------------------

def test_customs_grade_in_force_and_its_validity():
    events = [b.customs_grade("D1", "ADVANCED_CERTIFIED", "2024-01-10", "2025-06-10"),
              b.customs_grade("D0", "GENERAL", "2023-01-01")]
    assert (row_of(events, reference="2025-06-10")["customs_grade"],
            row_of(events, reference="2025-06-10")["customs_grade_decided_on"]) == ("ADVANCED_CERTIFIED", "2024-01-10")
    expired = row_of(events, reference="2025-06-11")
    assert (expired["customs_grade"], expired["customs_grade_decided_on"]) == ("GENERAL", "2024-01-10")
    assert row_of(events, reference="2023-12-31")["customs_grade"] == "GENERAL"  # D1 not decided yet
    none = row_of(events, reference="2022-12-31")
    assert (none["customs_grade"], none["customs_grade_decided_on"]) == (None, None)
    # the same decided_on: the greater decision number is in force
    tie = [b.customs_grade("D-A", "DISHONEST", "2025-01-01"), b.customs_grade("D-B", "GENERAL", "2025-01-01")]
    assert row_of(tie)["customs_grade"] == "GENERAL"


def test_a_dishonest_customs_grade_is_red_line_x2_until_it_lapses():
    events = [b.customs_grade("D1", "DISHONEST", "2025-01-01", "2025-06-20")]
    assert row_of(events, reference="2025-06-20")["eval_red_lines"] == ["X2"]
    assert row_of(events, reference="2025-06-21")["eval_red_lines"] == []


def test_intellectual_property_at_r():
    events = [
        b.patent("ZL1", "INVENTION", "2020-01-01", "2040-01-01"),
        b.patent("ZL2", "UTILITY_MODEL", "2021-01-01", "2031-01-01"),
        b.patent("ZL3", "INVENTION", "2025-07-01", "2045-07-01"),  # granted after R
        b.patent("ZL4", "DESIGN", "2010-01-01", "2025-06-29"),  # expired the day before R
        b.patent("ZL5", "INVENTION", "2020-01-01", "2040-01-01", status="LAPSED"),
        b.trademark("T1", "2015-06-30", "2025-06-30"),  # last day is R: valid
        b.trademark("T2", "2015-01-01", "2025-01-01"),
        b.ip_pledge("R1", "ACTIVE", "2025-06-30", term_end="2025-01-01"),  # term_end is shown, not used
        b.ip_pledge("R2", "RELEASED", "2024-01-01"),
    ]
    row = row_of(events, reference="2025-06-30")
    assert (row["patents_valid"], row["invention_patents_valid"], row["trademarks_valid"], row["ip_pledges_active"]) == \
        (2, 1, 1, 1)


def test_a_later_state_of_the_same_thing_wins_by_occurred_at():
    granted = b.patent("ZL1", "INVENTION", "2020-01-01", "2040-01-01", occurred="2024-01-01T00:00:00")
    lapsed = b.patent("ZL1", "INVENTION", "2020-01-01", "2040-01-01", status="LAPSED", occurred="2025-01-01T00:00:00")
    for order in ([granted, lapsed], [lapsed, granted]):
        assert row_of(order)["patents_valid"] == 0
    renewed = b.trademark("T1", "2015-01-01", "2035-01-01", occurred="2025-01-02T00:00:00")
    first = b.trademark("T1", "2015-01-01", "2025-01-01", occurred="2015-01-01T00:00:00")
    assert row_of([renewed, first])["trademarks_valid"] == 1


def test_awards_in_the_twelve_month_window_by_month():
    row = row_of([
        b.award("N1", "2025-06-30", "100.00"), b.award("N2", "2024-07-01", "50.50"),
        b.award("N3", "2024-06-30", "999.00"),  # month M-12
        b.award("N4", "2025-07-01", "999.00"),  # after M
        b.award("N5", "2025-01-01", "999.00", status="CANCELLED"),
    ])
    assert (row["awards_12m"], row["award_amount_12m"]) == (2, "150.50")


def test_the_courts_lists_at_r_and_red_line_x1():
    events = [b.dishonest("K1", "2025-03-01", removed_on="2025-06-15"), b.dishonest("K2", "2025-05-01"),
              b.court_case("E1", "2025-01-01", "1000.00"), b.court_case("E2", "2025-01-01", "500.00", "2025-06-15"),
              b.court_case("E3", "2025-07-01", "1.00")]
    before = row_of(events, reference="2025-06-14")
    assert (before["court_dishonest"], before["court_dishonest_count"]) == (True, 2)
    assert (before["enforcement_cases_active"], before["enforcement_amount_active"]) == (2, "1500.00")
    on_removal = row_of(events, reference="2025-06-15")  # removed_on = R ends the listing
    assert (on_removal["court_dishonest_count"], on_removal["enforcement_cases_active"]) == (1, 1)
    assert on_removal["eval_red_lines"] == ["X1"]
    removed = row_of(events[:1], reference="2025-06-15")
    assert (removed["court_dishonest"], removed["court_dishonest_count"], removed["eval_red_lines"]) == (False, 0, [])


def test_empty_v1_2_fields_have_their_empty_forms():
    row = row_of([b.statement("water", "W1", "2025-06", "1", "1.00")])
    assert {name: row[name] for name in ("trade_value_12m", "trade_months_12m", "customs_grade", "patents_valid",
                                         "award_amount_12m", "court_dishonest", "enforcement_amount_active",
                                         "social_avg_employees_12m", "social_arrears_months_3m", "eval_red_lines")} == {
        "trade_value_12m": "0.00", "trade_months_12m": 0, "customs_grade": None, "patents_valid": 0,
        "award_amount_12m": "0.00", "court_dishonest": False, "enforcement_amount_active": "0.00",
        "social_avg_employees_12m": None, "social_arrears_months_3m": 0, "eval_red_lines": []}


def test_a_v1_2_record_alone_gives_a_row():
    assert Ledger().has_facts is False
    ledger = Ledger()
    ledger.apply(*b.trade("C1", "2025-06", "1.00", "0.00"))
    assert ledger.has_facts
    ledger = Ledger()
    ledger.apply(*b.dishonest("K1", "2025-01-01"))
    assert ledger.has_facts


def test_the_ledger_keeps_v1_2_facts_through_its_bytes():
    ledger = Ledger()
    for event in (b.social("S1", "2025-06", 4, "1.00", arrears="1.00"), b.trade("C1", "2025-06", "1.00", "2.00"),
                  b.dishonest("K1", "2025-01-01")):
        ledger.apply(*event)
    again = Ledger.from_bytes(ledger.to_bytes())
    assert again.series == ledger.series and again.registers == ledger.registers
    assert compute(b.USCC, again, parse_month("2025-06")) == compute(b.USCC, ledger, parse_month("2025-06"))


def test_v1_2_statements_written_before_the_integer_columns_read_the_same():
    """Ledgers written before 2026-12 keep v1.2 statements as {account: {"YYYY-MM": [revision,
    *fields]}} with money as strings; a worker restarting on them must compute the same row."""
    ledger = Ledger()
    for event in (b.social("S1", "2025-05", 4, "10.50", arrears="1.25"), b.social("S1", "2025-06", 5, "12.00"),
                  b.trade("C1", "2025-06", "1.00", "2.00")):
        ledger.apply(*event)
    legacy = json_form(ledger)
    del legacy["P"]
    legacy["p"] = {"social": {"S1": {"2025-06": [0, 5, "12.00", "0.00"], "2025-05": [0, 4, "10.50", "1.25"]}},
                   "trade": {"C1": {"2025-06": [0, "1.00", "2.00"]}}}
    read = Ledger.from_bytes(json_bytes(legacy))
    assert read.series == ledger.series
    assert compute(b.USCC, read, parse_month("2025-06")) == compute(b.USCC, ledger, parse_month("2025-06"))


# -- cs-eval-2 -----------------------------------------------------------------------------------------

def full_row(**changes):
    """A row with every input of cs-eval-2 and the whitelist; the defaults score 100, no red line."""
    row = {"tax_rating_grade": "A", "tax_in_arrears": False, "taxpayer_abnormal": False,
           "tax_normal_streak_months": 12, "penalties_in_publicity": 0, "serious_penalty_in_publicity": False,
           "env_grade": "GREEN", "high_tech_enterprise": True, "science_projects_3y": 1, "key_lab": True,
           "court_dishonest": False, "customs_grade": None, "social_arrears_months_3m": 0}
    for k in ("water", "electricity", "gas"):
        row.update({f"{k}_months_12m": 12, f"{k}_in_arrears": False})
    row.update(changes)
    row.update(cs_eval_2.evaluate(row))
    return row


@pytest.mark.parametrize("changes, lines", [
    ({}, []), ({"court_dishonest": True}, ["X1"]), ({"customs_grade": "DISHONEST"}, ["X2"]),
    ({"customs_grade": "GENERAL"}, []), ({"social_arrears_months_3m": 3}, ["X3"]),
    ({"social_arrears_months_3m": 2}, []),
    ({"social_arrears_months_3m": 3, "court_dishonest": True, "customs_grade": "DISHONEST"}, ["X1", "X2", "X3"]),
])
def test_red_lines_cap_the_grade_at_c_and_leave_score_and_points(changes, lines):
    row = full_row(**changes)
    assert row["eval_red_lines"] == lines
    assert row["eval_model"] == "cs-eval-2"
    assert row["eval_score"] == 100 and sum(row["eval_points"].values()) == 100
    assert row["eval_grade"] == ("C" if lines else "AAA")
    assert cs_eval_2.whitelist_failures(row) == (["W1", *lines] if lines else [])


def test_without_a_red_line_the_bands_are_cs_eval_1s():
    assert full_row(key_lab=False, science_projects_3y=0)["eval_grade"] == "AAA"  # 95
    assert full_row(tax_rating_grade="M")["eval_grade"] == "AAA"  # 90
    assert full_row(tax_rating_grade="C")["eval_grade"] == "AA"  # 84
    assert full_row(tax_rating_grade="C", env_grade="RED")["eval_grade"] == "A"  # 76
