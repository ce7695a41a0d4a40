"""The loan loop end to end, through the real broker, the worker, the sink and the API: products,
applications through every state, a need taken up, first loans and a renewal, monthly
performance, a claim, the subsidy list, and statistics that this test recomputes on its own from
the changes it made; a restarted API's view holds every one of them."""
import datetime as dt
import json
import time
from decimal import Decimal

from creditstream import apikeys
from creditstream.api.view import ServingView, load_once
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.services import add_months
from creditstream.schemas.topics import FINANCE_ACCEPTED_TOPIC, OUTBOUND_STATISTICS_TOPIC, TOPIC_OF
from tests.support import builders
from tests.support.kafka import STREAM_AS_OF, read_topic, scrape_metrics, wait_for
from tests.support.stream import CODEC, produce_all

FIRMS = [builders._valid_uscc(f"91230100MAFXN{n:03d}0") for n in range(1, 6)]  # E1..E5, whitelisted, grade AA


def product_body(kind="CREDIT", collateral="NONE", **overrides):
    return {"name": "科创信用贷", "kind": kind, "amount_min": "10000.00", "amount_max": "3000000.00",
            "term_min_months": 3, "term_max_months": 36, "rate_min": "3.50", "rate_max": "6.00",
            "repayment": "INTEREST_FIRST", "scopes": ["TAX"], "min_grade": "A", "whitelist_only": True,
            "collateral": collateral, **overrides}


def test_the_loan_loop_end_to_end(platform_factory):
    settings, sink, http, client, worker = platform_factory(STREAM_AS_OF, api_statistics_publish_seconds=1)
    for uscc in FIRMS:
        produce_all([(TOPIC_OF[record], uscc.encode(), CODEC.encode(record, value))
                     for record, value in builders.about(uscc, *builders.good_standing())])
    run = time.time_ns()
    bank_a, bank_b = f"bank-a-{run}", f"bank-b-{run}"
    lender_a = apikeys.issue(settings.kafka, "lender", bank_a)[1]
    lender_b = apikeys.issue(settings.kafka, "lender", bank_b)[1]
    operator = apikeys.issue(settings.kafka, "operator", f"op-{run}")[1]
    firm = {uscc: apikeys.issue(settings.kafka, "enterprise", uscc)[1] for uscc in FIRMS}
    wait_for(lambda: all(http.get("/v1/whoami", key)[0] == 200 for key in [lender_a, lender_b, operator,
                                                                          *firm.values()]), 30, "the keys")
    wait_for(lambda: all(http.get(f"/v1/enterprises/{u}/aggregates", firm[u])[1].get("whitelisted") is True
                         for u in FIRMS), 120, "every firm on the whitelist")

    # products: public, revised, suspended with a reason; matching judged from the row
    status, p1 = http.send("POST", "/v1/products", lender_a, product_body())
    assert status == 201 and p1["status"] == "ACTIVE", p1
    status, p2 = http.send("POST", "/v1/products", lender_b, product_body("MORTGAGE", "REAL_ESTATE", name="抵押贷"))
    assert status == 201, p2
    status, revised = http.send("PUT", f"/v1/products/{p1['product_id']}", lender_a, product_body(rate_max="5.50"))
    assert status == 200 and revised["rate_max"] == "5.50"
    assert http.send("PUT", f"/v1/products/{p1['product_id']}", lender_b, product_body())[0] == 403
    status, bad = http.send("POST", "/v1/products", lender_a, product_body(amount_min="5000000.00"))
    assert status == 400 and bad["field"] == "amount_max", bad
    mine = http.get("/v1/me/products", firm[FIRMS[0]])[1]
    assert p1["product_id"] in [p["product_id"] for p in mine["matching"]]
    failing = {p["product_id"]: p["failures"] for p in mine["not_matching"]}
    assert failing[p2["product_id"]] == ["collateral: no active REAL_ESTATE right is registered for the enterprise"]
    status, suspended = http.send("POST", f"/v1/products/{p2['product_id']}/suspend", operator, {"reason": "利率违规"})
    assert status == 200 and suspended["status"] == "SUSPENDED" and suspended["suspended_reason"] == "利率违规"
    listed = {p["product_id"]: p for p in http.get(f"/v1/products?lender_id={bank_b}", firm[FIRMS[0]])[1]["items"]}
    assert listed[p2["product_id"]]["status"] == "SUSPENDED"

    # applications
    def apply(uscc, amount="500000.00", **extra):
        status, body = http.send("POST", "/v1/me/applications", firm[uscc], {
            "product_id": p1["product_id"], "amount": amount, "term_months": 12, "purpose": "采购原料", **extra})
        assert status == 201, body
        return body

    def step(app, action, key=lender_a, expect=200, **body):
        status, answer = http.send("POST", f"/v1/applications/{app['application_id']}/{action}", key, body)
        assert status == expect, answer
        return answer

    today = dt.datetime.now(SHANGHAI).date().isoformat()
    month = today[:7]
    apps = {uscc: apply(uscc) for uscc in FIRMS}
    assert all(a["state"] == "SUBMITTED" and a["due_on"] for a in apps.values())
    e1, e2, e3, e4, e5 = (apps[u] for u in FIRMS)
    # applying granted bank-a exactly the product's scope: its look-up shows TAX fields now
    wait_for(lambda: http.get(f"/v1/enterprises/{FIRMS[0]}/aggregates", lender_a)[1].get("consented_scopes") == ["TAX"],
             30, "the application's consent in force")
    step(e1, "accept")
    assert step(e1, "accept")["state"] == "ACCEPTED"  # repeated: the state it reached
    step(e1, "approve", amount="500000.00", term_months=12, annual_rate="4.20")
    loan1 = step(e1, "disburse", loan_no=f"L1-{run}", amount="500000.00", annual_rate="4.20", disbursed_on=today,
                 maturity_on=(dt.date.today() + dt.timedelta(days=45)).isoformat())
    assert loan1["state"] == "DISBURSED" and loan1["first_loan"] is True and loan1["whitelisted_at_disbursement"] is True
    step(e2, "accept")
    step(e2, "approve", amount="800000.00", term_months=12, annual_rate="5.00")
    assert step(e2, "disburse", loan_no=f"L2-{run}", amount="800000.00", annual_rate="5.00", disbursed_on=today,
                 maturity_on="2030-01-01")["first_loan"] is True
    step(e3, "reject", reason="INSUFFICIENT_CREDIT", note="评分不足")
    conflict = step(e3, "approve", expect=409, amount="1.00", term_months=1, annual_rate="4.00")
    assert "is REJECTED" in conflict["reason"] and conflict["field"] == "state" and conflict["state"] == "REJECTED"
    step(e4, "accept")
    step(e4, "reject", reason="INCOMPLETE_MATERIALS", note="缺少报表")
    status, withdrawn = http.send("POST", f"/v1/me/applications/{e5['application_id']}/withdraw", firm[FIRMS[4]], {})
    assert status == 200 and withdrawn["state"] == "WITHDRAWN"
    assert step(e5, "accept", expect=409)["reason"].endswith("is WITHDRAWN: it cannot become ACCEPTED")
    assert step(e1, "accept", key=lender_b, expect=404)  # another lender's application does not exist for it

    # the centre lists loan 1 (matures in 45 days) until a renewal application names it
    maturing = http.get("/v1/finance/maturing", operator)[1]["items"]
    assert f"L1-{run}" in [loan["loan_no"] for loan in maturing]
    renewal = apply(FIRMS[0], amount="300000.00", renews_loan_no=f"L1-{run}")
    assert f"L1-{run}" not in [loan["loan_no"] for loan in http.get("/v1/finance/maturing", operator)[1]["items"]]
    step(renewal, "accepted")  # the state's name works as its step, and other names of a field as its own
    step(renewal, "approve", approved_amount="300000.00", term=12, rate="4.00")
    loan3 = step(renewal, "disburse", loan_number=f"L3-{run}", disbursed_amount="300000.00", annual_rate="4.00",
                 disbursed_date=today, maturity_date="2030-06-30")
    assert loan3["first_loan"] is False and loan3["renews_loan_no"] == f"L1-{run}"

    # a need taken up becomes an application once the enterprise accepts
    status, need = http.send("POST", "/v1/me/needs", firm[FIRMS[4]], {
        "amount": "200000.00", "term_months": 6, "purpose": "扩大生产", "kinds": ["CREDIT"]})
    assert status == 201, need
    seen = [n for n in http.get("/v1/needs", lender_a)[1]["items"] if n["need_id"] == need["need_id"]]
    assert seen and seen[0]["eval_grade"] == "AA" and "tax_paid_12m" not in seen[0]
    assert need["need_id"] not in [n["need_id"] for n in http.get("/v1/needs", lender_b)[1]["items"]]
    assert http.send("POST", f"/v1/needs/{need['need_id']}/take-up", lender_a,
                     {"product_id": p1["product_id"]})[0] == 200
    status, from_need = http.send("POST", f"/v1/me/needs/{need['need_id']}/accept", firm[FIRMS[4]],
                                  {"lender_id": bank_a})
    assert status == 201 and from_need["need_id"] == need["need_id"] and from_need["state"] == "SUBMITTED"

    # performance: the lender's own loans only; the latest report per month wins
    report = f"/v1/loans/L1-{run}/performance"
    assert http.send("POST", report, lender_a, {"month": month, "status": "OVERDUE_1_30",
                                                "outstanding_principal": "500000.00"})[0] == 201
    assert http.send("POST", report, lender_a, {"month": month, "status": "NORMAL",
                                                "outstanding_principal": "480000.00"})[0] == 201
    assert http.send("POST", report, lender_b, {"month": month, "status": "NORMAL",
                                                "outstanding_principal": "1.00"})[0] == 404
    assert http.send("POST", f"/v1/loans/L2-{run}/performance", lender_a, {
        "month": month, "status": "OVERDUE_90_PLUS", "outstanding_principal": "750000.00"})[0] == 201
    assert http.send("POST", f"/v1/loans/L3-{run}/performance", lender_a, {
        "month": month, "status": "NORMAL", "outstanding_principal": "300000.00"})[0] == 201
    assert [loan["loan_no"] for loan in http.get("/v1/loans", lender_b)[1]["items"]] == []
    assert http.get("/v1/me/loans", firm[FIRMS[0]])[1]["items"][0]["status"] == "NORMAL"
    # performance never reaches the evaluation or the lenders' look-up
    assert "NORMAL" not in str(http.get(f"/v1/enterprises/{FIRMS[0]}/aggregates", lender_b)[1])

    # risk compensation: L2 is a credit loan of a whitelisted firm, 90+ days overdue
    assert http.send("POST", f"/v1/loans/L1-{run}/claims", lender_a, {"note": "x"})[0] == 422
    status, claim = http.send("POST", f"/v1/loans/L2-{run}/claims", lender_a, {"note": "逾期九十天以上"})
    assert status == 201 and claim["state"] == "FILED" and claim["expected_compensation"] == "300000.00", claim
    status, decided = http.send("POST", f"/v1/claims/{claim['claim_id']}/decide", operator,
                                {"outcome": "APPROVED", "note": "符合条件"})
    assert status == 200 and decided["compensation_amount"] == "300000.00"

    # the subsidy list: L1 (4.20 %) and L3 (4.00 %) are NORMAL and under the 4.50 % cap; L2 is not NORMAL
    subsidies = http.get(f"/v1/finance/subsidies?month={month}", operator)[1]
    ours = {i["loan_no"]: i["subsidy"] for i in subsidies["items"] if i["lender_id"] == bank_a}
    assert ours == {f"L1-{run}": "400.00", f"L3-{run}": "250.00"}, ours

    # the statistics: recomputed here from what this test did
    expected = {"applications": 7, "accepted": 4, "approved": 3, "rejected": 2, "rejected_insufficient_credit": 1,
                "rejected_incomplete_materials": 1, "disbursed_count": 3, "disbursed_amount": "1600000.00",
                "first_loans_count": 2, "first_loans_amount": "1300000.00", "first_loans_firms": 2,
                "renewals_count": 1, "renewals_amount": "300000.00", "median_working_days_to_decision": "0",
                # (500,000 × 4.20 + 800,000 × 5.00 + 300,000 × 4.00) / 1,600,000 = 4.5625
                "average_rate_percent": "4.56",
                "whitelisted_borrower_share_percent": "100.00", "non_performing_balance": "750000.00",
                "subsidy_total": "650.00", "compensation_total": "300000.00"}

    def our_row(key):
        status, body, _ = http.get(f"/v1/finance/statistics?from={month}&to={month}&lender_id={bank_a}", key)
        assert status == 200, body
        return body

    stats = our_row(operator)
    assert stats["complete"] and not stats["public"]
    row = stats["rows"][0]
    assert {name: row[name] for name in expected} == expected
    public = our_row(firm[FIRMS[0]])["rows"][0]
    assert public["applications"] == 7 and public["rejected"] == "<3" and public["first_loans_count"] == "<3"
    assert public["disbursed_count"] == "<3"  # 3 loans, but to 2 firms
    # the public figures, and only they, go out for the provincial node (MirrorMaker 2 replicates them)
    key = f"{month}/{bank_a}"

    def sent_out():
        latest = {m.key().decode(): json.loads(m.value()) for m in read_topic(OUTBOUND_STATISTICS_TOPIC, 1)}
        return latest.get(key) == public
    wait_for(sent_out, 30, "the lender's public statistics row on the outbound topic")

    # Grafana's gauges hold the same figures, per lender and over all (refreshed every second here)
    wanted = {"applications": 7.0, "disbursed_amount": 1600000.0, "non_performing_balance": 750000.0}

    def gauges():
        return {f: scrape_metrics(settings.api_metrics_port).get(f'creditstream_finance_month{{figure="{f}",lender="'
                                                                 f'{bank_a}"}}') for f in wanted}
    wait_for(lambda: gauges() == wanted, 30, "the lender's month figures in /metrics")

    # nothing only in memory: a fresh view read from Kafka holds every change
    fresh = load_once(settings.api_kafka, ServingView(), topics=(FINANCE_ACCEPTED_TOPIC,))
    ours = [a for a in fresh.finance.all("applications") if a["lender_id"] == bank_a]
    assert sorted(a["state"] for a in ours) == ["DISBURSED", "DISBURSED", "DISBURSED", "REJECTED", "REJECTED",
                                                "SUBMITTED", "WITHDRAWN"]
    assert fresh.finance.find("claims", claim["claim_id"])["state"] == "APPROVED"
    # and the statistics again, counted here from those changes as Kafka holds them
    loans = [a for a in ours if a["state"] == "DISBURSED"]
    recount = {"applications": len(ours), "rejected": sum(a["state"] == "REJECTED" for a in ours),
               "disbursed_count": len(loans), "first_loans_count": sum(bool(a["first_loan"]) for a in loans),
               "renewals_count": sum(a["renews_loan_no"] is not None for a in loans),
               "disbursed_amount": str(sum(Decimal(a["disbursed_amount"]) for a in loans))}
    assert recount == {name: row[name] for name in recount}


def test_the_contracts_own_words_are_enough(platform):
    """A client that sends only what financing-services.md names: an enterprise the platform holds
    no data about applies for a product that sets no condition; the lender approves with a rate,
    disburses and reports a status with nothing else; the statistics count it all."""
    settings, _sink, http, _client, _worker = platform
    run = time.time_ns()
    uscc = builders._valid_uscc(f"91230100MAFXW{run % 1000:03d}0")
    bank = f"bank-plain-{run}"
    lender = apikeys.issue(settings.kafka, "lender", bank)[1]
    firm = apikeys.issue(settings.kafka, "enterprise", uscc)[1]
    operator = apikeys.issue(settings.kafka, "operator", f"op-plain-{run}")[1]
    wait_for(lambda: all(http.get("/v1/whoami", key)[0] == 200 for key in (lender, firm, operator)), 30, "the keys")
    status, product = http.send("POST", "/v1/products", lender, product_body(
        scopes=[], min_grade=None, whitelist_only=False))
    assert status == 201, product
    assert product["product_id"] in [p["product_id"] for p in http.get("/v1/me/products", firm)[1]["matching"]]
    apps = []
    for amount in ("200000", 150000):  # a JSON number is read as the decimal it spells
        status, app = http.send("POST", "/v1/me/applications", firm, {
            "product_id": product["product_id"], "amount": amount, "term_months": "12", "purpose": "周转"})
        assert status == 201, app
        apps.append(app["application_id"])
    for action, body in (("accept", {}), ("approve", {"annual_rate": "4.35"}), ("disburse", {})):
        status, answer = http.send("POST", f"/v1/applications/{apps[0]}/{action}", lender, body)
        assert status == 200, answer
    today = dt.datetime.now(SHANGHAI).date()
    assert (answer["loan_no"], answer["disbursed_amount"], answer["disbursed_rate"], answer["disbursed_on"],
            answer["maturity_on"]) == (apps[0], "200000.00", "4.35", today.isoformat(),
                                       add_months(today, 12).isoformat())  # the approval's terms, from today
    status, rejected = http.send("POST", f"/v1/applications/{apps[1]}/reject", lender, {"reason": "OUTSIDE_POLICY"})
    assert status == 200 and rejected["state"] == "REJECTED", rejected
    status, report = http.send("POST", f"/v1/loans/{apps[0]}/performance", lender, {"status": "OVERDUE_90_PLUS"})
    assert status == 201 and report["month"] == today.isoformat()[:7] and report["outstanding_principal"] == \
        "200000.00", report
    month = today.isoformat()[:7]
    status, stats, _ = http.get(f"/v1/finance/statistics?from={month}&to={month}&lender_id={bank}", operator)
    assert status == 200 and stats["complete"], stats
    row = stats["rows"][0]
    assert {name: row[name] for name in ("applications", "accepted", "approved", "rejected", "rejected_outside_policy",
                                         "disbursed_count", "disbursed_amount", "first_loans_count",
                                         "average_rate_percent", "whitelisted_borrower_share_percent",
                                         "non_performing_balance")} == {
        "applications": 2, "accepted": 1, "approved": 1, "rejected": 1, "rejected_outside_policy": 1,
        "disbursed_count": 1, "disbursed_amount": "200000.00", "first_loans_count": 1, "average_rate_percent": "4.35",
        "whitelisted_borrower_share_percent": "0.00", "non_performing_balance": "200000.00"}
