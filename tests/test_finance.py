"""The loan loop's rules without I/O (schemas.finance, schemas.finance_stats, streams.finance):
the state machine, first loans, reports, claims, deadlines, matching and the statistics, each
against numbers worked out by hand here."""
import datetime as dt
from decimal import Decimal

import pytest

from creditstream.schemas.codec import default_codec
from creditstream.schemas.finance import (
    REJECT_REASONS,
    TRANSITIONS,
    Book,
    FinanceError,
    application_due,
    claim_refusal,
    overdue,
    product_failures,
    subsidy_amount,
    working_days_between,
)
from creditstream.schemas.finance_stats import collect, median, statistics
from creditstream.schemas.rules import FINANCE_REFUSED, UNDECODABLE, Invalid
from creditstream.streams.finance import fold_change

E1, E2 = "91350100M000100Y0M", "91350100M000200Y0H"
N = iter(range(10**6))


def app(state="SUBMITTED", uscc=E1, lender="bank-a", application_id="a1", **extra):
    at = extra.pop("at", "2026-11-02T02:00:00.000Z")  # a Monday, 10:00 in Shanghai
    return {"event_id": f"e{next(N)}", "occurred_at": at, "actor": "x", "application_id": application_id,
            "uscc": uscc, "product_id": "p1", "lender_id": lender, "product_kind": "CREDIT", "state": state,
            "amount": "100000.00", "term_months": 12, "purpose": "p", "renews_loan_no": None, "need_id": None,
            "consent_event_id": None, "submitted_at": "2026-11-02T02:00:00.000Z", "accepted_at": None,
            "decided_at": None, "closed_at": None, "approved_amount": None, "approved_term_months": None,
            "approved_rate": None, "reject_reason": None, "note": None, "loan_no": None, "disbursed_amount": None,
            "disbursed_rate": None, "disbursed_on": None, "maturity_on": None, "whitelisted_at_disbursement": None,
            "first_loan": None, **extra}


def disbursed(loan_no, uscc=E1, lender="bank-a", application_id="a1", amount="100000.00", rate="4.00",
              on="2026-11-05", white=True, kind="CREDIT"):
    return app("DISBURSED", uscc, lender, application_id, approved_amount=amount, loan_no=loan_no,
               disbursed_amount=amount, disbursed_rate=rate, disbursed_on=on, maturity_on="2027-11-05",
               decided_at="2026-11-04T02:00:00.000Z", accepted_at="2026-11-03T02:00:00.000Z",
               closed_at="2026-11-05T02:00:00.000Z", whitelisted_at_disbursement=white, product_kind=kind)


def walk(book, *states, application_id="a1", **extra):
    for state in states:
        book.apply("LoanApplication", app(state, application_id=application_id, **extra))


@pytest.mark.parametrize("before", list(TRANSITIONS))
@pytest.mark.parametrize("after", [s for s in TRANSITIONS if s != "SUBMITTED"])
def test_only_the_contracts_transitions_are_accepted_and_a_refusal_names_the_current_state(before, after):
    path = {"SUBMITTED": [], "ACCEPTED": ["ACCEPTED"], "APPROVED": ["ACCEPTED", "APPROVED"],
            "REJECTED": ["REJECTED"], "WITHDRAWN": ["WITHDRAWN"], "DISBURSED": ["ACCEPTED", "APPROVED"]}[before]
    book = Book()
    walk(book, "SUBMITTED", *path)
    if before == "DISBURSED":
        book.apply("LoanApplication", disbursed("L1"))
    change = disbursed("L9") if after == "DISBURSED" else app(after)
    if after in TRANSITIONS[before]:
        assert book.apply("LoanApplication", change)["state"] == after
    else:
        with pytest.raises(FinanceError) as refused:
            book.apply("LoanApplication", change)
        assert refused.value.status == 409 and f"is {before}: it cannot become {after}" in refused.value.message


def test_a_first_loan_is_the_enterprises_first_disbursement_from_any_lender_and_a_renewal_names_its_loan():
    book = Book()
    walk(book, "SUBMITTED", "ACCEPTED", "APPROVED")
    assert book.apply("LoanApplication", disbursed("L1"))["first_loan"] is True
    walk(book, "SUBMITTED", "ACCEPTED", "APPROVED", application_id="a2", lender="bank-b")
    second = book.apply("LoanApplication", disbursed("L2", lender="bank-b", application_id="a2"))
    assert second["first_loan"] is False
    with pytest.raises(FinanceError) as unknown:
        book.apply("LoanApplication", app(application_id="a3", renews_loan_no="L7"))
    assert unknown.value.status == 422
    assert book.apply("LoanApplication", app(application_id="a3", renews_loan_no="L1"))["renews_loan_no"] == "L1"


def test_a_change_folded_twice_is_accepted_once_as_it_was():
    book = Book()
    walk(book, "SUBMITTED", "ACCEPTED", "APPROVED")
    change = disbursed("L1")
    first = book.apply("LoanApplication", change)
    assert book.apply("LoanApplication", change) == first and len(book.loans()) == 1
    assert Book.from_bytes(book.to_bytes()).applications == book.applications


def report(month, status, outstanding, at, event_id, loan_no="L1", lender="bank-a"):
    return {"event_id": event_id, "occurred_at": at, "actor": "x", "loan_no": loan_no, "application_id": "a1",
            "uscc": E1, "lender_id": lender, "month": month, "status": status, "outstanding_principal": outstanding}


def test_the_latest_report_per_loan_and_month_wins_ties_by_the_greater_event_id():
    book = Book()
    walk(book, "SUBMITTED", "ACCEPTED", "APPROVED")
    book.apply("LoanApplication", disbursed("L1"))
    book.apply("LoanPerformance", report("2026-11", "NORMAL", "90.00", "2026-12-01T00:00:00.000Z", "r-b"))
    book.apply("LoanPerformance", report("2026-11", "OVERDUE_1_30", "95.00", "2026-12-01T00:00:00.000Z", "r-a"))
    assert book.report("L1", "2026-11")["status"] == "NORMAL"  # same instant: r-b > r-a
    book.apply("LoanPerformance", report("2026-11", "REPAID", "0.00", "2026-12-02T00:00:00.000Z", "r-0"))
    assert book.report("L1", "2026-11")["status"] == "REPAID"
    with pytest.raises(FinanceError) as other:
        book.apply("LoanPerformance", report("2026-11", "NORMAL", "1.00", "2026-12-03T00:00:00.000Z", "r-x",
                                             lender="bank-b"))
    assert other.value.status == 403
    with pytest.raises(FinanceError):
        book.apply("LoanPerformance", report("2026-10", "NORMAL", "1.00", "2026-12-03T00:00:00.000Z", "r-y"))


def test_a_claim_needs_a_credit_loan_of_a_firm_whitelisted_at_disbursement_in_serious_arrears():
    loan = disbursed("L1")
    assert "unreported" in claim_refusal(loan, None)
    assert "OVERDUE_31_90" in claim_refusal(loan, report("2026-11", "OVERDUE_31_90", "1.00", "t", "r"))
    assert claim_refusal(loan, report("2026-11", "OVERDUE_90_PLUS", "1.00", "t", "r")) is None
    assert claim_refusal(loan, report("2026-11", "WRITTEN_OFF", "1.00", "t", "r")) is None
    assert "MORTGAGE" in claim_refusal(disbursed("L1", kind="MORTGAGE"), report("2026-11", "WRITTEN_OFF", "1", "t", "r"))
    assert "whitelist" in claim_refusal(disbursed("L1", white=False), report("2026-11", "WRITTEN_OFF", "1", "t", "r"))


def test_deadlines_count_working_days_skipping_weekends_and_holidays():
    friday = app(submitted_at="2026-11-06T02:00:00.000Z")  # Friday: +2 working days = Tuesday
    assert application_due(friday) == dt.date(2026, 11, 10)
    assert application_due(friday, [dt.date(2026, 11, 9)]) == dt.date(2026, 11, 11)
    accepted = app("ACCEPTED", accepted_at="2026-11-06T17:00:00.000Z")  # Saturday 01:00 in Shanghai
    assert application_due(accepted) == dt.date(2026, 11, 20)  # 10 working days after Saturday 7th
    assert not overdue(friday, dt.date(2026, 11, 10)) and overdue(friday, dt.date(2026, 11, 11))
    assert application_due(app("REJECTED")) is None and not overdue(app("REJECTED"), dt.date(2030, 1, 1))
    assert working_days_between(dt.date(2026, 11, 6), dt.date(2026, 11, 9)) == 1  # Friday → Monday


def test_matching_names_each_failed_condition():
    product = {"min_grade": "A", "whitelist_only": True, "collateral": "REAL_ESTATE"}
    row = {"eval_grade": "B", "whitelisted": False, "real_estate_rights_active": 0}
    assert product_failures(product, row) == [
        "min_grade: grade B is below the product's minimum A", "whitelist_only: the enterprise is not on the whitelist",
        "collateral: no active REAL_ESTATE right is registered for the enterprise"]
    assert product_failures(product, {"eval_grade": "AA", "whitelisted": True, "real_estate_rights_active": 2}) == []
    ip = {"min_grade": None, "whitelist_only": False, "collateral": "IP"}
    assert product_failures(ip, {"patents_valid": 0, "trademarks_valid": 1}) == []
    # no row held yet: every condition a product sets fails, a product that sets none matches
    assert product_failures(ip, None) == ["collateral: no active IP right is registered for the enterprise"]
    assert product_failures(product, None)[0] == "min_grade: grade none is below the product's minimum A"
    assert product_failures({"min_grade": None, "whitelist_only": False, "collateral": "NONE"}, None) == []


def test_statistics_per_month_and_lender_exact_and_suppressed_below_three_enterprises():
    firms = [f"F{n}" for n in range(4)]
    apps = [
        disbursed("L0", uscc=firms[0], application_id="x0", amount="100.00", rate="4.00", on="2026-11-05"),
        {**disbursed("L1", uscc=firms[1], application_id="x1", amount="300.00", rate="5.00", on="2026-11-20"),
         "first_loan": True, "decided_at": "2026-11-12T02:00:00.000Z"},
        {**disbursed("L2", uscc=firms[2], application_id="x2", amount="200.00", rate="4.50", on="2026-12-01",
                     white=False), "first_loan": True, "renews_loan_no": "L9"},
        app("REJECTED", uscc=firms[3], application_id="x3", decided_at="2026-11-06T02:00:00.000Z",
            reject_reason="OUTSIDE_POLICY", accepted_at="2026-11-03T02:00:00.000Z"),
    ]
    apps[0]["first_loan"] = True
    reports = [report("2026-11", "NORMAL", "100.00", "t", "r1", loan_no="L0"),
               {**report("2026-11", "OVERDUE_90_PLUS", "250.00", "t", "r2", loan_no="L1"), "uscc": firms[1]}]
    reports[0]["uscc"] = firms[0]
    claims = [{"state": "APPROVED", "decided_at": "2026-11-30T17:00:00.000Z", "lender_id": "bank-a", "uscc": firms[1],
               "compensation_amount": "100.00"}]
    rows = statistics(collect(apps, reports, claims, rate_cap=Decimal("4.50"), subsidy_points=Decimal("1.20")), False)
    november = next(r for r in rows if r["month"] == "2026-11" and r["lender_id"] is None)
    # submitted 2026-11-02 (all four); decisions: x0 and x2 on 11-04 (2 working days), x1 on 11-12 (8), x3 on
    # 11-06 (4) → decided in November: 2, 8, 4 and x2's 2 → median of 2, 2, 4, 8 = 3
    assert november["applications"] == 4 and november["accepted"] == 4 and november["approved"] == 3
    assert november["rejected"] == 1 and november["rejected_outside_policy"] == 1
    assert november["median_working_days_to_decision"] == "3"
    assert (november["disbursed_count"], november["disbursed_amount"]) == (2, "400.00")
    assert november["average_rate_percent"] == "4.75"  # (100 × 4.00 + 300 × 5.00) / 400
    assert (november["first_loans_count"], november["first_loans_amount"], november["first_loans_firms"]) == (
        2, "400.00", 2)
    assert november["non_performing_balance"] == "250.00"
    assert november["subsidy_total"] == "0.10"  # L0: 100.00 × 1.20 % / 12; L1 is over the cap and not NORMAL
    assert november["compensation_total"] == "0.00"  # approved 2026-11-30 17:00 UTC: 1 December in Shanghai
    december = next(r for r in rows if r["month"] == "2026-12" and r["lender_id"] is None)
    assert (december["renewals_count"], december["whitelisted_borrower_share_percent"]) == (1, "0.00")
    assert december["compensation_total"] == "100.00"
    public = next(r for r in statistics(collect(apps, reports, claims), True)
                  if r["month"] == "2026-11" and r["lender_id"] is None)
    assert public["applications"] == 4 and public["rejected"] == "<3" and public["disbursed_amount"] == "<3"
    assert public["median_working_days_to_decision"] == "3"


def test_a_median_of_an_even_count_is_the_mean_of_the_middle_two_and_subsidies_round_half_up():
    assert median([Decimal(1), Decimal(2)]) == Decimal("1.5") and median([]) is None
    assert subsidy_amount(Decimal("100.00"), Decimal("0.30")) == Decimal("0.03")  # 0.025 → 0.03


def test_the_worker_dead_letters_a_refused_change_and_a_wrongly_keyed_one_and_decides_the_first_loan():
    codec = default_codec()

    def encoded(change):
        from creditstream.streams.finance import typed
        return codec.encode("LoanApplication", typed(codec, "LoanApplication", change))
    topic = "credit.finance.enterprise.v1"
    with pytest.raises(Invalid) as refused:
        fold_change(codec, None, topic, E1.encode(), encoded(app("ACCEPTED")))
    assert refused.value.reason == FINANCE_REFUSED and "no application a1" in refused.value.message
    with pytest.raises(Invalid) as wrong:
        fold_change(codec, None, topic, E2.encode(), encoded(app()))
    assert wrong.value.reason == UNDECODABLE
    book = None
    for state in ("SUBMITTED", "ACCEPTED", "APPROVED"):
        book = fold_change(codec, book, topic, E1.encode(), encoded(app(state))).book
    folded = fold_change(codec, book, topic, E1.encode(), encoded(disbursed("L1")))
    assert codec.decode(folded.accepted)[1]["first_loan"] is True


def test_the_simulated_history_folds_without_a_refusal_and_has_every_case_the_demo_shows():
    from collections import Counter

    from creditstream.connectors.simulate import Simulator
    from creditstream.connectors.simulate_finance import FinanceTraffic
    from creditstream.schemas.finance import Books
    from creditstream.schemas.records import record_from_json
    from creditstream.schemas.uscc import normalise_uscc

    codec, now = default_codec(), dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.timezone.utc)
    firms = [{**f, "uscc": normalise_uscc(f["uscc"])} for f in Simulator(100, 24, 2026 * 12 + 10, seed=1).firms()]
    changes = list(FinanceTraffic(firms, now).changes())
    assert changes == list(FinanceTraffic(firms, now).changes())  # same seed, same story
    books = Books()
    for record, key, change in changes:
        typed = record_from_json(codec.current(record).raw, change)
        assert key == (typed["lender_id"] if record == "LoanProduct" else typed["uscc"])
        assert typed["occurred_at"] <= now
        books.apply(record, typed)  # raises FinanceError on any change the worker would refuse
    apps = books.all("applications")
    states = Counter(a["state"] for a in apps)
    assert set(states) == {"SUBMITTED", "ACCEPTED", "APPROVED", "REJECTED", "DISBURSED", "WITHDRAWN"}, states
    assert {a["reject_reason"] for a in apps if a["state"] == "REJECTED"} == set(REJECT_REASONS)
    assert any(a["first_loan"] for a in apps) and any(a["renews_loan_no"] and a["state"] == "DISBURSED" for a in apps)
    assert any(overdue(a, dt.date(2026, 12, 2)) for a in apps)
    assert {c["state"] for c in books.all("claims")} == {"FILED", "APPROVED"}
    assert any(r["status"] == "OVERDUE_90_PLUS" for r in books.reports())
    assert {p["status"] for p in books.all("products")} == {"ACTIVE", "SUSPENDED"}
    assert any(n["offers"] for n in books.all("needs"))
