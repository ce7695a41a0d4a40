"""v1.1 profile fields, the register rules, the evaluation cs-eval-1 and the whitelist, with
hand-computed expectations (credit-events.md "Profile fields", platform-services.md)."""
import datetime as dt

import pytest

from creditstream.schemas import cs_eval_1, cs_eval_2
from creditstream.schemas.months import add_years, parse_month
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support import builders as b
from tests.support.legacy_ledger import json_bytes, json_form

ROOT_DOC = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def row_at(events, reference, as_of="2025-06"):
    ledger = Ledger()
    for record, value in events:
        ledger.apply(record, value)
    return compute(b.USCC, ledger, parse_month(as_of), dt.date.fromisoformat(reference))


def test_one_and_three_years_later_keep_the_calendar_date():
    assert add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert add_years(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 29)
    assert add_years(dt.date(2023, 3, 10), 3) == dt.date(2026, 3, 10)


@pytest.mark.parametrize("penalty, reference, in_publicity", [
    # GENERAL: one year, end exclusive
    (b.penalty("P", "2024-03-10"), "2025-03-09", True),
    (b.penalty("P", "2024-03-10"), "2025-03-10", False),
    (b.penalty("P", "2024-03-10"), "2024-03-09", False),  # not yet decided at R
    # SERIOUS: three years
    (b.penalty("P", "2023-03-10", severity="SERIOUS"), "2026-03-09", True),
    (b.penalty("P", "2023-03-10", severity="SERIOUS"), "2026-03-10", False),
    # publicity_until + 1 day, when earlier
    (b.penalty("P", "2024-03-10", publicity_until="2024-06-30"), "2024-06-30", True),
    (b.penalty("P", "2024-03-10", publicity_until="2024-06-30"), "2024-07-01", False),
    # a later publicity_until does not extend the year
    (b.penalty("P", "2024-03-10", publicity_until="2026-01-01"), "2025-03-10", False),
    # 29 February plus one year is 28 February
    (b.penalty("P", "2024-02-29"), "2025-02-27", True),
    (b.penalty("P", "2024-02-29"), "2025-02-28", False),
    # never published: MINOR, WARNING only, revoked
    (b.penalty("P", "2025-01-10", severity="MINOR"), "2025-02-01", False),
    (b.penalty("P", "2025-01-10", types=("WARNING",)), "2025-02-01", False),
    (b.penalty("P", "2025-01-10", revoked=True), "2025-02-01", False),
    (b.penalty("P", "2025-01-10", types=("WARNING", "FINE")), "2025-02-01", True),
])
def test_a_penalty_is_in_publicity_from_its_decision_to_the_earliest_end(penalty, reference, in_publicity):
    row = row_at([penalty], reference)
    assert row["penalties_in_publicity"] == int(in_publicity)
    assert row["serious_penalty_in_publicity"] == (in_publicity and penalty[1]["severity"] == "SERIOUS")


def test_an_approved_repair_ends_publicity_on_its_shanghai_date():
    penalty = b.penalty("P", "2024-03-10", severity="SERIOUS")
    # 17:00 UTC on 20 May is 01:00 on 21 May in Shanghai: publicity ends on 21 May
    approved = b.repair("P", "APPROVED", "2024-05-20T17:00:00")
    assert row_at([penalty, approved], "2024-05-20")["penalties_in_publicity"] == 1
    assert row_at([penalty, approved], "2024-05-21")["penalties_in_publicity"] == 0
    rejected = b.repair("P", "REJECTED", "2024-05-20T17:00:00")
    assert row_at([penalty, rejected], "2024-05-21")["serious_penalty_in_publicity"] is True
    # the winning repair record counts: a later rejection replaces the approval
    later = b.repair("P", "REJECTED", "2024-06-01T00:00:00")
    assert row_at([penalty, approved, later], "2024-06-02")["penalties_in_publicity"] == 1
    # a repair of another decision changes nothing
    assert row_at([penalty, b.repair("Q", "APPROVED", "2024-05-20T17:00:00")], "2024-05-21")[
        "penalties_in_publicity"] == 1


def test_fines_of_published_penalties_in_the_12_month_window_count_repaired_or_not():
    events = [
        b.penalty("P1", "2024-07-01", fine="100.00", confiscated="20.50"),  # first month of the window
        b.penalty("P2", "2024-06-30", fine="1000.00"),  # the month before: outside
        b.penalty("P3", "2025-06-30", fine="5.00", severity="SERIOUS"),
        b.penalty("P4", "2025-01-01", fine="7.00", severity="MINOR"),  # not published
        b.penalty("P5", "2025-02-01", fine="9.00"), b.repair("P5", "APPROVED", "2025-03-01T00:00:00"),
        b.enforcement("E1", "2024-07-15"), b.enforcement("E2", "2024-06-15"),
    ]
    row = row_at(events, "2025-06-30")
    assert row["penalty_fines_12m"] == "134.50"  # 100 + 20.50 + 5 + 9
    assert row["enforcements_12m"] == 1
    assert (row["penalties_in_publicity"], row["serious_penalty_in_publicity"]) == (2, True)  # P1 and P3


def test_a_licence_is_valid_through_its_last_day():
    events = [b.licence("L1", "VALID", "2024-01-01", "2025-07-14"), b.licence("L2", "VALID", "2025-07-15"),
              b.licence("L3", "REVOKED", "2024-01-01"), b.licence("L4", "VALID", "2024-01-01")]
    assert row_at(events, "2025-07-14")["licences_valid"] == 2  # L1 expires on R: still valid; L4
    assert row_at(events, "2025-07-15")["licences_valid"] == 2  # L2 and L4


def test_a_register_event_that_arrives_before_the_one_it_supersedes_still_loses():
    newer = b.licence("L1", "REVOKED", "2024-01-01", occurred="2025-03-01T00:00:00")
    older = b.licence("L1", "VALID", "2024-01-01", occurred="2025-01-01T00:00:00")
    assert row_at([newer, older], "2025-06-30")["licences_valid"] == 0
    assert row_at([older, newer], "2025-06-30")["licences_valid"] == 0
    # same occurred_at: the greater event id wins, in either order
    first = b.licence("L2", "VALID", "2024-01-01", event_id="e-b", occurred="2025-01-01T00:00:00")
    second = b.licence("L2", "REVOKED", "2024-01-01", event_id="e-a", occurred="2025-01-01T00:00:00")
    assert row_at([first, second], "2025-06-30")["licences_valid"] == 1
    assert row_at([second, first], "2025-06-30")["licences_valid"] == 1


def test_environment_real_estate_rd_and_agriculture():
    events = [
        b.env("2024-H2", "BLUE", "81", "2025-01-20"), b.env("2025-H1", "GREEN", "92", "2025-07-20"),
        b.real_estate("C1", "ACTIVE", "2020-01-01", "1200.50"), b.real_estate("C2", "CANCELLED", "2020-01-01", "99.00"),
        b.real_estate("C3", "ACTIVE", "2025-07-01", "10.00"),  # after R
        b.mortgage("M1", "ACTIVE", "2021-01-01"), b.mortgage("M2", "RELEASED", "2021-01-01"),
        b.rd("HIGH_TECH_ENTERPRISE", "H1", 2024, valid_until="2026-12-31"),
        b.rd("CITY_SCIENCE_PROJECT", "S1", 2023), b.rd("CITY_SCIENCE_PROJECT", "S2", 2022),  # 2022: outside 3 years
        b.rd("CITY_SCIENCE_PROJECT", "S3", 2025, revoked=True), b.rd("CITY_KEY_LAB", "K1", 2026),  # after R's year
        b.agri_operator("COOPERATIVE"), b.land("L1", "ACTIVE", "2020-01-01", "2030-12-31", "35.50"),
        b.land("L2", "ACTIVE", "2020-01-01", "2025-06-29", "10.00"), b.housing("F1", "ACTIVE", "2019-05-01"),
    ]
    row = row_at(events, "2025-06-30")
    assert (row["env_grade"], row["env_score"], row["env_rated_on"]) == ("BLUE", "81.0", "2025-01-20")  # H1 not rated yet
    assert (row["real_estate_rights_active"], row["real_estate_area_m2"], row["mortgages_active"]) == (1, "1200.50", 1)
    assert (row["high_tech_enterprise"], row["science_projects_3y"], row["key_lab"]) == (True, 1, False)
    assert (row["agri_operator_category"], row["rural_land_rights_active"], row["rural_land_area_mu"],
            row["housing_rights_active"]) == ("COOPERATIVE", 1, "35.50", 1)
    revoked = row_at([b.rd("HIGH_TECH_ENTERPRISE", "H1", 2024, revoked=True)], "2025-06-30")
    assert revoked["high_tech_enterprise"] is False


def test_env_ties_on_rated_on_go_to_the_greater_period():
    row = row_at([b.env("2024-H1", "RED", "10", "2025-01-05"), b.env("2024-H2", "GREEN", "95.0", "2025-01-05")],
                 "2025-06-30")
    assert (row["env_grade"], row["env_score"]) == ("GREEN", "95.0")


def test_who_gets_a_row():
    assert Ledger().has_facts is False
    repaired_only = Ledger()
    repaired_only.apply(*b.repair("P", "APPROVED", "2024-05-20T17:00:00"))
    assert repaired_only.has_facts is False  # repair and consent give no row on their own
    farm = Ledger()
    farm.apply(*b.agri_operator("FAMILY_FARM"))
    assert farm.has_facts is True


def test_registers_survive_the_changelog_and_old_ledgers_read():
    ledger = Ledger()
    for record, value in [b.penalty("P", "2025-01-10"), b.env("2025-H1", "GREEN", "90", "2025-06-01"),
                          b.rd("CITY_KEY_LAB", "K", 2020)]:
        ledger.apply(record, value)
    again = Ledger.from_bytes(ledger.to_bytes())
    assert compute(b.USCC, again, parse_month("2025-06")) == compute(b.USCC, ledger, parse_month("2025-06"))
    old = json_form(ledger)
    del old["g"]
    assert Ledger.from_bytes(json_bytes(old)).registers == {}  # a changelog written before v1.1


# -- the evaluation ----------------------------------------------------------------------------------
def base_row(**changes):
    """A row with every input of the model; the defaults score 100."""
    row = {"tax_rating_grade": "A", "tax_in_arrears": False, "taxpayer_abnormal": False,
           "tax_normal_streak_months": 12, "penalties_in_publicity": 0, "serious_penalty_in_publicity": False,
           "env_grade": "GREEN", "high_tech_enterprise": True, "science_projects_3y": 1, "key_lab": True}
    for k in ("water", "electricity", "gas"):
        row.update({f"{k}_months_12m": 12, f"{k}_in_arrears": False})
    row.update(changes)
    return row


@pytest.mark.parametrize("indicator, changes, points", [
    ("T1", {"tax_rating_grade": "A"}, 20), ("T1", {"tax_rating_grade": "B"}, 15), ("T1", {"tax_rating_grade": "M"}, 10),
    ("T1", {"tax_rating_grade": "C"}, 4), ("T1", {"tax_rating_grade": "D"}, 0), ("T1", {"tax_rating_grade": None}, 8),
    ("T2", {"tax_in_arrears": False}, 10), ("T2", {"tax_in_arrears": True}, 0),
    ("T3", {"taxpayer_abnormal": False}, 5), ("T3", {"taxpayer_abnormal": True}, 0),
    ("T4", {"tax_normal_streak_months": 12}, 10), ("T4", {"tax_normal_streak_months": 11}, 6),
    ("T4", {"tax_normal_streak_months": 6}, 6), ("T4", {"tax_normal_streak_months": 5}, 3),
    ("T4", {"tax_normal_streak_months": 1}, 3), ("T4", {"tax_normal_streak_months": 0}, 0),
    ("U1", {f"{k}_months_12m": 0 for k in ("water", "electricity", "gas")}, 7),
    ("U1", {"gas_months_12m": 0, "gas_in_arrears": True}, 15),  # arrears on an unobserved utility do not count
    ("U1", {"water_in_arrears": True}, 5), ("U1", {"water_in_arrears": True, "gas_in_arrears": True}, 0),
    ("U2", {"water_months_12m": 0, "electricity_months_12m": 12, "gas_months_12m": 3}, 10),
    ("U2", {f"{k}_months_12m": 11 for k in ("water", "electricity", "gas")}, 6),
    ("U2", {f"{k}_months_12m": 5 for k in ("water", "electricity", "gas")}, 3),
    ("U2", {f"{k}_months_12m": 0 for k in ("water", "electricity", "gas")}, 0),
    ("P1", {"penalties_in_publicity": 0}, 12), ("P1", {"penalties_in_publicity": 2}, 4),
    ("P1", {"penalties_in_publicity": 1, "serious_penalty_in_publicity": True}, 0),
    ("P2", {"env_grade": "GREEN"}, 8), ("P2", {"env_grade": "BLUE"}, 6), ("P2", {"env_grade": None}, 5),
    ("P2", {"env_grade": "YELLOW"}, 2), ("P2", {"env_grade": "RED"}, 0), ("P2", {"env_grade": "BLACK"}, 0),
    ("C1", {"high_tech_enterprise": True}, 5), ("C1", {"high_tech_enterprise": False}, 0),
    ("C2", {"science_projects_3y": 4}, 3), ("C2", {"science_projects_3y": 0}, 0),
    ("C3", {"key_lab": True}, 2), ("C3", {"key_lab": False}, 0),
])
def test_every_indicator_band(indicator, changes, points):
    assert cs_eval_1.evaluate(base_row(**changes))["eval_points"][indicator] == points


@pytest.mark.parametrize("changes, score, grade", [
    ({}, 100, "AAA"),
    ({"science_projects_3y": 0, "high_tech_enterprise": False, "key_lab": False}, 90, "AAA"),
    ({"tax_rating_grade": "B", "science_projects_3y": 0, "high_tech_enterprise": False}, 87, "AA"),
    ({"tax_rating_grade": "D", "key_lab": False}, 78, "A"),  # AA needs 80
    ({"tax_rating_grade": "D", "tax_in_arrears": True}, 70, "A"),
    ({"tax_rating_grade": "D", "tax_in_arrears": True, "key_lab": False}, 68, "B"),
    ({"tax_rating_grade": "D", "tax_in_arrears": True, "taxpayer_abnormal": True, "key_lab": False}, 63, "B"),
    ({"tax_rating_grade": "D", "tax_in_arrears": True, "taxpayer_abnormal": True, "tax_normal_streak_months": 0},
     55, "C"),
])
def test_score_and_grade(changes, score, grade):
    result = cs_eval_1.evaluate(base_row(**changes))
    assert (result["eval_score"], result["eval_grade"], result["eval_model"]) == (score, grade, "cs-eval-1")
    assert sum(result["eval_points"].values()) == score and len(result["eval_points"]) == 11


def test_the_whitelist_names_every_failed_condition():
    row = base_row()
    row.update(cs_eval_1.evaluate(row))
    assert cs_eval_1.whitelist_failures(row) == []
    bad = base_row(tax_rating_grade="M", tax_normal_streak_months=5, taxpayer_abnormal=True, tax_in_arrears=True,
                   gas_in_arrears=True, penalties_in_publicity=1, serious_penalty_in_publicity=True, env_grade="RED")
    bad.update(cs_eval_1.evaluate(bad))
    assert cs_eval_1.whitelist_failures(bad) == ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]
    black = base_row(env_grade="BLACK")
    black.update(cs_eval_1.evaluate(black))
    assert cs_eval_1.whitelist_failures(black) == ["W8"]


def test_the_docs_carry_the_models_own_table():
    assert cs_eval_2.markdown() in ROOT_DOC.read_text()
