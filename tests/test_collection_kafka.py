"""Contract v1.2 end to end (provider topics → worker → sink → ClickHouse → API): the new public
categories for every lender, SOCIAL and TRADE under consent, red lines in the row (X3 only under
SOCIAL), the new record categories, verification claims, a dispute on a statement's natural key,
the report's red-line section first."""
import datetime as dt

from creditstream import apikeys
from creditstream.schemas.topics import TOPIC_OF
from tests.support import builders
from tests.support.kafka import STREAM_AS_OF, wait_for
from tests.support.stream import CODEC, produce_all

E1 = builders.USCC
UTC = dt.timezone.utc


def consent(uscc: str, lender: str, scopes: list[str], now: dt.datetime):
    return "ConsentGrant", {"event_id": f"c-{lender}-{uscc}", "provider_id": "credit-platform", "uscc": uscc,
                            "enterprise_name": "甲", "occurred_at": now, "lender_id": lender, "scopes": scopes,
                            "granted_at": now - dt.timedelta(days=1), "expires_at": now + dt.timedelta(days=30),
                            "revoked": False}


def test_the_wider_collection_list_end_to_end(platform_factory):
    settings, sink, http, client, worker = platform_factory(STREAM_AS_OF)  # M = 2025-06, R = 2025-06-30
    now = dt.datetime.now(UTC)
    facts = [
        *(builders.social("SB1", month, 12, "0.00", arrears="3600.00", provider="heihe-hrss")
          for month in ("2025-04", "2025-05", "2025-06")),
        builders.housing_fund("GJJ1", "2025-06", 11, "1320.00", provider="heihe-hpf"),
        builders.trade("HG1", "2025-05", "100000.00", "250000.00", provider="heihe-customs"),
        builders.customs_grade("D1", "ADVANCED_CERTIFIED", "2024-01-10", "2026-01-09", provider="heihe-customs"),
        builders.patent("ZL1", "INVENTION", "2020-01-01", "2040-01-01", provider="heihe-ip"),
        builders.trademark("T1", "2018-01-01", "2028-01-01", provider="heihe-ip"),
        builders.ip_pledge("Y1", "ACTIVE", "2025-02-01", provider="heihe-ip"),
        builders.award("N1", "2025-03-15", "800000.00", provider="heihe-pubres"),
        builders.dishonest("K1", "2025-05-01", provider="heihe-court"),
        builders.court_case("E1", "2025-01-01", "50000.00", provider="heihe-court"),
        consent(E1, "bank-s", ["SOCIAL", "TRADE"], now),
    ]
    produce_all([(TOPIC_OF[record], value["uscc"].encode(), CODEC.encode(record, value)) for record, value in facts])
    social = apikeys.issue(settings.kafka, "lender", "bank-s")[1]
    public = apikeys.issue(settings.kafka, "lender", "bank-p")[1]
    own = apikeys.issue(settings.kafka, "enterprise", E1)[1]
    aggregates = f"/v1/enterprises/{E1}/aggregates"
    wait_for(lambda: http.get(aggregates, social)[1].get("consented_scopes") == ["SOCIAL", "TRADE"]
             and http.get(aggregates, social)[1].get("trade_value_12m") == "350000.00", 120, "E1's row and consent")
    wait_for(lambda: client.query("SELECT count() FROM statement_records FINAL").result_rows[0][0] == 5, 60,
             "the statements in ClickHouse")

    wait_for(lambda: http.get(aggregates, public)[0] == 200, 30, "the public lender's key in the API")
    # the row: public v1.2 fields for every lender; SOCIAL and TRADE under consent; red lines
    row = http.get(aggregates, social)[1]
    assert (row["social_arrears_months_3m"], row["social_in_arrears"], row["social_arrears_amount"]) == (3, True,
                                                                                                       "3600.00")
    assert (row["customs_grade"], row["patents_valid"], row["invention_patents_valid"], row["trademarks_valid"],
            row["ip_pledges_active"], row["awards_12m"], row["award_amount_12m"], row["court_dishonest"],
            row["enforcement_cases_active"], row["enforcement_amount_active"]) == (
        "ADVANCED_CERTIFIED", 1, 1, 1, 1, 1, "800000.00", True, 1, "50000.00")
    assert row["eval_red_lines"] == ["X1", "X3"] and row["eval_grade"] == "C" and row["eval_model"] == "cs-eval-2"
    bare = http.get(aggregates, public)[1]
    assert bare["eval_red_lines"] == ["X1"] and bare["eval_grade"] == "C" and bare["court_dishonest"] is True
    assert "social_in_arrears" not in bare and "trade_value_12m" not in bare and bare["patents_valid"] == 1
    wait_for(lambda: http.get(aggregates, own)[0] == 200, 30, "the enterprise's key in the API")
    assert http.get(aggregates, own)[1]["eval_red_lines"] == ["X1", "X3"]

    # record categories: public ones for every lender, the statements under their scope
    court = http.get(f"/v1/enterprises/{E1}/records/court", public)[1]["items"]
    assert sorted((i["record"], i["case_no"]) for i in court) == [("DishonestDebtor", "K1"), ("EnforcementCase", "E1")]
    status, body = http.get(f"/v1/enterprises/{E1}/records/social_insurance", public)[:2]
    assert status == 403 and "no consent" in body["reason"], body
    items = http.get(f"/v1/enterprises/{E1}/records/social_insurance", social)[1]["items"]
    assert sorted(i["contribution_month"] for i in items) == ["2025-04", "2025-05", "2025-06"]
    assert {i["arrears_amount"] for i in items} == {"3600.00"}
    trade = http.get(f"/v1/enterprises/{E1}/records/customs_trade", social)[1]["items"]
    assert [(i["customs_code"], i["trade_month"], i["export_value"]) for i in trade] == [("HG1", "2025-05", "250000.00")]

    # verification without disclosure
    status, body = http.send("POST", f"/v1/enterprises/{E1}/verify", social, {"claims": [
        {"type": "no_social_arrears"}, {"type": "trade_value_12m_at_least", "amount": "350000.00"},
        {"type": "trade_value_12m_at_least", "amount": "350000.01"}]})
    assert status == 200 and [r["outcome"] for r in body["results"]] == ["NO_MATCH", "MATCH", "NO_MATCH"], body
    status, body = http.send("POST", f"/v1/enterprises/{E1}/verify", public, {"claims": [{"type": "no_social_arrears"}]})
    assert body["results"][0]["outcome"] == "REFUSED"

    # a dispute on a statement's natural key, marked where the statement is listed
    status, body = http.send("POST", "/v1/me/disputes", own, {
        "topic": "credit.social.contribution.v1", "key": {"account_no": "SB1", "contribution_month": "2025-06"},
        "statement": "六月社保费已足额缴纳"})
    assert status in (201, 202), body
    wait_for(lambda: any(i.get("disputed") for i in http.get(f"/v1/enterprises/{E1}/records/social_insurance",
                                                             social)[1]["items"]), 30, "the dispute marked")

    # the report: red lines first, with the records behind them; X3's only under SOCIAL
    def report_of(key):
        status, issued = http.send("POST", f"/v1/enterprises/{E1}/reports", key, None)
        assert status in (200, 201), issued
        return http.get(issued["links"]["json"], key)[1]

    report = report_of(social)
    first = report["sections"][0]
    assert first["id"] == "red_lines" and first["facts"]["eval_red_lines"] == ["X1", "X3"]
    assert {(i["red_line"], i["record"]) for i in first["items"]} == {("X1", "DishonestDebtor"),
                                                                      ("X3", "SocialInsuranceStatement")}
    report = report_of(public)
    assert report["sections"][0]["facts"]["eval_red_lines"] == ["X1"]
    assert {i["red_line"] for i in report["sections"][0]["items"]} == {"X1"}
