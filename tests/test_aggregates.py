"""Aggregate rules with hand-computed expectations (shared/contract/credit-events.md)."""
import base64
import io
import json
import random
from array import array

import pytest

from creditstream.schemas.amounts import decimal_of
from creditstream.schemas.models import aggregate_fields, v1_fields
from creditstream.schemas.months import parse_month
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import LEDGER_FORM, STATEMENT_STRIDE, Ledger
from tests.support.builders import USCC, arrears, payment, rating, statement, status
from tests.support.legacy_ledger import json_bytes, json_form


def aggregate(events, as_of):
    ledger = Ledger()
    for record, value in events:
        ledger.apply(record, value)
    return compute(USCC, ledger, parse_month(as_of))


def test_row_has_exactly_the_contract_fields():
    row = aggregate([statement("water", "W1", "2024-12", "1", "1.00")], "2024-12")
    assert list(row) == ["uscc", "as_of_month", "as_of_date", *aggregate_fields()]
    assert len(v1_fields()) == 3 * (3 * 3 + 2) + 3 * 3 + 7
    # v1.1 profile fields; v1.2 fields (2 contribution series x 12, trade 3, public 12); evaluation and whitelist
    assert len(aggregate_fields()) == len(v1_fields()) + 18 + (2 * 12 + 3 + 12) + 6


def test_windows_cross_the_year_boundary_and_ignore_months_after_m():
    events = [
        statement("water", "W1", "2024-10", "40.000", "4.00"),
        statement("water", "W1", "2024-11", "10.000", "1.00"),
        statement("water", "W1", "2024-12", "20.000", "2.00"),
        statement("water", "W1", "2025-01", "30.000", "3.00"),
        statement("water", "W1", "2025-02", "999.000", "999.00", arrears="5.00"),  # after M: ignored
    ]
    row = aggregate(events, "2025-01")
    # 3m = 2024-11..2025-01: (10+20+30)/3 = 20, (1+2+3)/3 = 2
    assert (row["water_months_3m"], row["water_avg_usage_3m"], row["water_avg_amount_3m"]) == (3, "20.000", "2.00")
    # 6m = 2024-08..2025-01: four months with statements: (40+10+20+30)/4 = 25, (4+1+2+3)/4 = 2.5
    assert (row["water_months_6m"], row["water_avg_usage_6m"], row["water_avg_amount_6m"]) == (4, "25.000", "2.50")
    assert row["water_months_12m"] == 4
    assert (row["water_in_arrears"], row["water_arrears_amount"]) == (False, "0.00")
    assert (row["gas_months_3m"], row["gas_avg_usage_3m"], row["gas_avg_amount_3m"]) == (0, None, None)


def test_month_roll_over_moves_every_window():
    events = [statement("water", "W1", m, u, a) for m, u, a in
              [("2024-10", "40", "4.00"), ("2024-11", "10", "1.00"), ("2024-12", "20", "2.00"),
               ("2025-01", "30", "3.00"), ("2025-02", "60", "6.00")]]
    january = aggregate(events, "2025-01")
    february = aggregate(events, "2025-02")
    assert (january["as_of_month"], february["as_of_month"]) == ("2025-01", "2025-02")
    assert january["water_avg_usage_3m"] == "20.000"
    # 3m = 2024-12..2025-02: (20+30+60)/3 = 36.667 (half-up), (2+3+6)/3 = 3.67
    assert (february["water_avg_usage_3m"], february["water_avg_amount_3m"]) == ("36.667", "3.67")
    assert (february["water_months_6m"], february["water_avg_usage_6m"]) == (5, "32.000")  # 160/5


def test_quarterly_vat_and_cit_count_by_period_end():
    events = [
        payment("VAT", "2024-10-01", "2024-12-31", "300.00", "300.00", "2025-01-15", "2025-01-10"),
        payment("VAT", "2024-07-01", "2024-09-30", "200.00", "150.00", "2024-10-15", "2024-10-15"),
        payment("CIT", "2024-07-01", "2024-09-30", "60.00", "50.00", "2024-10-15", "2024-10-20"),
        payment("OTHER", "2024-12-01", "2024-12-31", "7.00", "7.00", "2025-01-15", "2025-01-15"),
        payment("VAT", "2025-01-01", "2025-03-31", "999.00", "999.00", "2025-04-15", None),  # ends after M
    ]
    row = aggregate(events, "2025-01")
    # 3m = 2024-11..2025-01 holds only the Q4 period end (2024-12-31)
    assert (row["vat_payable_3m"], row["vat_paid_3m"], row["cit_paid_3m"]) == ("300.00", "300.00", "0.00")
    # 6m = 2024-08..2025-01 also holds Q3 (2024-09-30)
    assert (row["vat_payable_6m"], row["vat_paid_6m"], row["cit_paid_6m"]) == ("500.00", "450.00", "50.00")
    assert (row["vat_payable_12m"], row["vat_paid_12m"], row["cit_paid_12m"]) == ("500.00", "450.00", "50.00")


def test_a_correction_arriving_before_its_original_wins():
    original = statement("water", "W1", "2024-12", "10.000", "1.00", revision=0)
    correction = statement("water", "W1", "2024-12", "9.000", "0.90", revision=1)
    for order in ([original, correction], [correction, original]):
        row = aggregate(order, "2024-12")
        assert (row["water_months_3m"], row["water_avg_usage_3m"], row["water_avg_amount_3m"]) == (1, "9.000", "0.90")


def test_an_equal_revision_arriving_later_is_ignored():
    first = statement("gas", "G1", "2024-12", "10.000", "1.00", revision=2)
    later = statement("gas", "G1", "2024-12", "99.000", "9.90", revision=2)
    lower = statement("gas", "G1", "2024-12", "55.000", "5.50", revision=1)
    assert aggregate([first, later, lower], "2024-12")["gas_avg_usage_3m"] == "10.000"


def test_a_tax_correction_replaces_the_payment_for_its_period():
    events = [
        payment("VAT", "2024-12-01", "2024-12-31", "100.00", "100.00", "2025-01-15", "2025-01-10", revision=1),
        payment("VAT", "2024-12-01", "2024-12-31", "80.00", "80.00", "2025-01-15", "2025-01-10", revision=0),
        payment("VAT", "2024-12-01", "2024-12-31", "120.00", "90.00", "2025-01-15", "2025-01-10", revision=3),
    ]
    row = aggregate(events, "2025-01")
    assert (row["vat_payable_3m"], row["vat_paid_3m"]) == ("120.00", "90.00")


def test_same_event_id_is_ignored_but_only_within_one_provider():
    a = statement("water", "W1", "2024-12", "10.000", "1.00", event_id="x1", provider="heihe-water")
    same_id_again = statement("water", "W2", "2024-12", "5.000", "0.50", event_id="x1", provider="heihe-water")
    other_provider = statement("water", "W3", "2024-12", "7.000", "0.70", event_id="x1", provider="other-water")
    row = aggregate([a, same_id_again, other_provider], "2024-12")
    assert row["water_avg_usage_3m"] == "17.000"  # 10 + 7; W2 was dropped as a duplicate id


def test_several_accounts_per_utility():
    events = [
        statement("electricity", "A", "2024-11", "100.000", "65.00", arrears="99.00"),
        statement("electricity", "A", "2024-12", "100.000", "65.00", arrears="10.00"),
        statement("electricity", "B", "2024-11", "50.000", "32.50", arrears="5.50"),
        statement("electricity", "B", "2025-01", "1.000", "1.00", arrears="70.00"),  # after M
        statement("electricity", "C", "2024-12", "0.000", "0.00", arrears="0.00"),
    ]
    row = aggregate(events, "2024-12")
    # months with any statement: Nov, Dec. Nov = 150 kWh / 97.50, Dec = 100 kWh / 65.00
    assert (row["electricity_months_3m"], row["electricity_avg_usage_3m"], row["electricity_avg_amount_3m"]) == (
        2, "125.000", "81.25")
    # latest statement per account up to M: A@Dec 10.00, B@Nov 5.50, C@Dec 0.00
    assert (row["electricity_in_arrears"], row["electricity_arrears_amount"]) == (True, "15.50")


def test_an_enterprise_with_no_tax_data():
    row = aggregate([statement("water", "W1", "2024-12", "1.000", "1.00")], "2024-12")
    assert {k: row[k] for k in row if k.startswith(("vat", "cit", "tax"))} == {
        **{f"{p}_{w}m": "0.00" for w in (3, 6, 12) for p in ("vat_payable", "vat_paid", "cit_paid")},
        "tax_normal_streak_months": 0, "tax_last_normal_payment_date": None, "tax_rating_grade": None,
        "tax_rating_year": None, "tax_in_arrears": False, "tax_arrears_amount": "0.00", "taxpayer_abnormal": False,
    }


def monthly_vat(months, late=(), unpaid_due_after_m=False):
    events = []
    for m in months:
        start, end = f"2024-{m:02d}-01", f"2024-{m:02d}-{[31, 29, 31, 30, 31, 30, 31, 31][m - 1]}"
        due = f"2024-{m + 1:02d}-15"
        paid = f"2024-{m + 1:02d}-{20 if m in late else 10}"
        events.append(payment("VAT", start, end, "100.00", "100.00", due, paid))
    if unpaid_due_after_m:
        events.append(payment("VAT", "2024-07-01", "2024-07-31", "100.00", "0.00", "2024-08-15", None))
    return events


def test_normal_tax_streak():
    # VAT for Jan..Jun 2024, due the 15th of the next month; earliest period_start: Jan 2024
    assert aggregate(monthly_vat(range(1, 7)), "2024-07")["tax_normal_streak_months"] == 7  # Jan..Jul
    # March's payment is late: due 2024-04-15, so April is abnormal; streak = May, Jun, Jul
    row = aggregate(monthly_vat(range(1, 7), late={3}, unpaid_due_after_m=True), "2024-07")
    assert row["tax_normal_streak_months"] == 3
    # as of April the abnormal month is M itself
    assert aggregate(monthly_vat(range(1, 7), late={3}), "2024-04")["tax_normal_streak_months"] == 0
    # the unpaid July payment is due in August: abnormal only once M reaches August
    assert aggregate(monthly_vat(range(1, 7), unpaid_due_after_m=True), "2024-08")["tax_normal_streak_months"] == 0


def test_partial_payment_is_not_normal_and_last_normal_date_respects_m():
    events = [
        payment("VAT", "2024-01-01", "2024-01-31", "100.00", "99.99", "2024-02-15", "2024-02-10"),  # partial
        payment("VAT", "2024-02-01", "2024-02-29", "100.00", "100.00", "2024-03-15", "2024-03-15"),  # on the day
        payment("CIT", "2024-01-01", "2024-03-31", "10.00", "10.00", "2024-04-15", "2024-04-01"),
    ]
    march = aggregate(events, "2024-03")
    assert march["tax_last_normal_payment_date"] == "2024-03-15"
    assert march["tax_normal_streak_months"] == 1  # Feb is abnormal (partial payment due in Feb)
    assert aggregate(events, "2024-04")["tax_last_normal_payment_date"] == "2024-04-01"
    assert aggregate(events, "2024-01")["tax_last_normal_payment_date"] is None


def test_rating_arrears_and_status_pick_the_winner_as_of_m():
    events = [
        rating(2023, "A", "2024-04-01T00:00:00"),
        rating(2024, "C", "2025-04-02T00:00:00"),
        rating(2024, "B", "2025-04-01T00:00:00"),  # same year, earlier occurred_at: loses to C
        rating(2025, "D", "2026-04-01T00:00:00"),
        arrears("2024-06-30", True, "100.00", "2024-07-01T00:00:00"),
        arrears("2024-12-31", False, "0.00", "2025-01-01T00:00:00"),
        arrears("2024-12-31", True, "12.00", "2025-01-02T00:00:00"),  # same as_of, later: wins
        status("2024-06-30", True, "2024-07-01T00:00:00"),
        status("2025-03-31", False, "2025-04-01T00:00:00"),
    ]
    nov = aggregate(events, "2024-11")
    assert (nov["tax_rating_grade"], nov["tax_rating_year"]) == ("C", 2024)
    assert (nov["tax_in_arrears"], nov["tax_arrears_amount"], nov["taxpayer_abnormal"]) == (True, "100.00", True)
    dec = aggregate(list(reversed(events)), "2024-12")
    assert (dec["tax_in_arrears"], dec["tax_arrears_amount"]) == (True, "12.00")
    old = aggregate(events, "2023-12")
    assert (old["tax_rating_grade"], old["tax_rating_year"]) == ("A", 2023)
    assert (old["tax_in_arrears"], old["taxpayer_abnormal"]) == (False, False)


def test_averages_round_half_up():
    events = [statement("water", "W1", "2024-11", "0.001", "0.01"), statement("water", "W1", "2024-12", "0.000", "0.00")]
    row = aggregate(events, "2024-12")
    assert (row["water_avg_usage_3m"], row["water_avg_amount_3m"]) == ("0.001", "0.01")  # 0.0005 → 0.001, 0.005 → 0.01


def test_ledger_survives_serialisation():
    events = monthly_vat(range(1, 7), late={2}) + [
        statement("gas", "G", "2024-05", "3.5", "9.80", arrears="1.00"), rating(2023, "M", "2024-04-01T00:00:00"),
        arrears("2024-06-30", True, "3.00", "2024-07-01T00:00:00"), status("2024-06-30", False, "2024-07-01T00:00:00")]
    ledger = Ledger()
    for record, value in events:
        ledger.apply(record, value)
    again = Ledger.from_bytes(ledger.to_bytes())
    assert compute(USCC, again, parse_month("2024-07")) == compute(USCC, ledger, parse_month("2024-07"))
    assert not again.apply(*events[0])  # the idempotency keys survived too


def simulated_ledgers(enterprises=12, months=14):
    from creditstream.connectors.simulate import Simulator, event_line
    from creditstream.schemas.codec import default_codec
    from creditstream.streams.replay import fold_lines

    lines = [event_line(e) for e in Simulator(enterprises, months, parse_month("2025-06"), seed=5).events()]
    return list(fold_lines(lines, default_codec(), io.StringIO()).values())


def test_every_section_of_a_ledger_survives_its_stored_form_and_the_json_form_reads_the_same():
    ledgers = simulated_ledgers()
    ledgers[0].sources = {"heihe", "qiqihar"}
    ledgers[0].whitelisted, ledgers[0].whitelist_changes = True, 2
    for ledger in ledgers:
        stored = ledger.to_bytes()
        assert stored[:1] == bytes([LEDGER_FORM])
        assert Ledger.from_bytes(stored) == ledger
        assert Ledger.from_bytes(json_bytes(json_form(ledger))) == ledger  # what older changelogs hold
    assert sum(bool(led.statements["water"]) and bool(led.payments) and bool(led.registers) and bool(led.series)
               for led in ledgers) > 0  # the simulator gave ledgers with every kind of column


def test_a_damaged_stored_ledger_is_refused_naming_what_is_wrong():
    stored = simulated_ledgers(1)[0].to_bytes()
    with pytest.raises(ValueError, match="its columns end at byte"):
        Ledger.from_bytes(stored[:-3])
    with pytest.raises(ValueError, match="bytes after its last column"):
        Ledger.from_bytes(stored + b"\0" * 8)
    with pytest.raises(ValueError, match="unknown form 9"):
        Ledger.from_bytes(bytes([9]) + stored[1:])
    with pytest.raises(ValueError, match="shorter than its 5-byte header"):
        Ledger.from_bytes(stored[:3])


def test_result_does_not_depend_on_arrival_order(tmp_path):
    from creditstream.connectors.simulate import Simulator, event_line
    from creditstream.schemas.codec import default_codec
    from creditstream.streams.replay import aggregate_rows, fold_lines

    lines = [event_line(e) for e in Simulator(15, 14, parse_month("2025-06"), seed=11).events()]
    results = set()
    for seed in range(4):
        random.Random(seed).shuffle(lines)
        ledgers = fold_lines(lines, default_codec(), open(tmp_path / "dl", "w"))
        results.add(json.dumps(list(aggregate_rows(ledgers, parse_month("2025-06")))))
    assert len(results) == 1


def test_the_ledgers_statement_columns_hold_the_winning_statement_of_every_account_and_month():
    """Statements are kept as sorted integer columns; at every step, and after a changelog round
    trip, they must hold exactly the highest revision per (account, month), the first of equals."""
    rng = random.Random(7)
    events = [statement("water", rng.choice("AB"), f"2024-{rng.randint(1, 12):02d}",
                        f"{rng.randint(0, 999)}.{rng.randint(0, 999):03d}", f"{rng.randint(0, 99)}.{rng.randint(0, 99):02d}",
                        revision=rng.randint(0, 3)) for _ in range(300)]
    ledger, winners = Ledger(), {}

    def held(led):
        out = {}
        for account, rows in led.statements["water"].items():
            for at in range(0, len(rows), STATEMENT_STRIDE):
                month, revision, usage_units, due_units, _arrears = rows[at:at + STATEMENT_STRIDE]
                out[(account, month)] = (revision, decimal_of(usage_units, 3), decimal_of(due_units, 2))
        return out

    for record, value in events:
        key = (value["account_no"], parse_month(value["billing_month"]))
        if key not in winners or winners[key][0] < value["revision"]:
            winners[key] = (value["revision"], value["usage"], value["amount_due"])
        ledger.apply(record, value)
        assert held(ledger) == winners
    assert held(Ledger.from_bytes(ledger.to_bytes())) == winners


def test_a_ledger_written_before_the_integer_columns_reads_the_same():
    """Changelogs and local stores written before 2026-12 hold statements and payments as rows of
    strings; a worker restarting on them must compute the same rows."""
    ledger = Ledger()
    for record, value in [statement("water", "A", "2024-05", "1.500", "2.25", arrears="3.10"), *monthly_vat([4, 5]),
                          payment("CIT", "2024-01-01", "2024-03-31", "9.00", "8.00", "2024-04-15", None)]:
        ledger.apply(record, value)
    legacy = json_form(ledger)
    legacy["seen"] = base64.b64encode(array("Q", reversed(ledger.seen)).tobytes()).decode()  # a set's order
    del legacy["U"], legacy["T"]
    legacy["u"] = {"water": [["A", "2024-05", 0, "1.500", "2.25", "3.10"]]}
    legacy["t"] = [["VAT", f"2024-0{m}-01", f"2024-0{m}-{d}", 0, "100.00", "100.00", f"2024-0{m + 1}-15",
                    f"2024-0{m + 1}-10"] for m, d in ((4, 30), (5, 31))]
    legacy["t"].append(["CIT", "2024-01-01", "2024-03-31", 0, "9.00", "8.00", "2024-04-15", None])
    read = Ledger.from_bytes(json_bytes(legacy))
    assert read == ledger
    assert compute(USCC, read, parse_month("2024-06")) == compute(USCC, ledger, parse_month("2024-06"))


def test_a_ledger_serialised_between_revisions_carries_the_winning_facts():
    """Serialised statements and payments are cached between changelog writes: a revision that
    replaces an already-written fact must replace its text too."""
    first = [statement("water", "A", "2024-05", "1.000", "2.00"), statement("gas", "G", "2024-05", "3.000", "4.00"),
             *monthly_vat([5])]
    revisions = [statement("water", "A", "2024-05", "7.000", "8.00", revision=1),
                 payment("VAT", "2024-05-01", "2024-05-31", "90.00", "90.00", "2024-06-15", "2024-06-10", revision=1),
                 statement("water", "B", "2024-06", "5.000", "6.00")]
    written = Ledger()
    for record, value in first:
        written.apply(record, value)
    written.to_bytes()  # caches the text of every fact so far
    fresh = Ledger()
    for record, value in first + revisions:
        written.apply(record, value)
        fresh.apply(record, value)
    assert written.to_bytes() == fresh.to_bytes()
    assert list(written.statements["water"]["A"]) == [parse_month("2024-05"), 1, 7000, 800, 0]
    assert compute(USCC, Ledger.from_bytes(written.to_bytes()), parse_month("2024-06")) == \
        compute(USCC, fresh, parse_month("2024-06"))
