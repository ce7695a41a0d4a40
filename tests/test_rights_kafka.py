"""The enterprise's rights end to end, through the real broker, the worker, the sink and the API:
consent managed by the enterprise (in force within 2 seconds), a full dispute cycle, a full repair
cycle that moves the evaluation, who looked me up, and every principal confined to its own.

The worker follows the calendar here (no pinned as-of month): a repair is dated now, and the
registers must be read at today for it to take effect."""
import datetime as dt
import time

from creditstream import apikeys
from creditstream.schemas.months import SHANGHAI, format_month, live_as_of_month
from creditstream.schemas.services import repair_eligible_from
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.schemas.uscc import uscc_check_char
from tests.support import builders
from tests.support.kafka import wait_for
from tests.support.stream import CODEC, produce_all

E1 = builders.USCC
E2 = "91110000MA01ABCD8" + uscc_check_char("91110000MA01ABCD8")
UTC = dt.timezone.utc


def send(*facts):
    for topic, (record, _value) in facts:
        assert PROVIDER_TOPICS[topic] == record
    produce_all([(topic, value["uscc"].encode(), CODEC.encode(record, value)) for topic, (record, value) in facts])


def test_an_enterprises_rights_end_to_end(platform_factory):
    settings, sink, http, client, worker = platform_factory(None)
    today = dt.datetime.now(SHANGHAI).date()
    month = format_month(live_as_of_month())
    water = builders.statement("water", "W1", month, "10.000", "41.00", provider="heihe-water")
    send(("credit.utility.water.v1", water),
         ("credit.admin.penalty.v1", builders.penalty("P1", (today - dt.timedelta(days=130)).isoformat(),
                                                      provider="heihe-market")),
         ("credit.admin.penalty.v1", (lambda r, v: (r, {**v, "uscc": E2}))(
             *builders.penalty("P2", (today - dt.timedelta(days=30)).isoformat(), provider="heihe-market"))))
    key = {name: apikeys.issue(settings.kafka, kind, principal)[1] for name, kind, principal in (
        ("e1", "enterprise", E1), ("e2", "enterprise", E2), ("bank", "lender", "bank-1"),
        ("water", "provider", "heihe-water"), ("market", "provider", "heihe-market"), ("op", "operator", "op-1"))}
    aggregates = f"/v1/enterprises/{E1}/aggregates"
    wait_for(lambda: http.get(aggregates, key["bank"])[1].get("penalties_in_publicity") == 1, 120, "E1's row")

    # confined: an enterprise key never reads or acts on another enterprise
    assert http.get(aggregates, key["e2"])[0] == 403
    assert http.get(f"/v1/enterprises/{E1}/records/penalties", key["e2"])[0] == 403
    assert http.send("GET", "/v1/me", key["bank"])[0] == 403
    assert http.send("GET", "/v1/audit", key["e1"])[0] == 403

    # consent: granted and revoked by the enterprise, in force for the lender within 2 seconds
    expires = (dt.datetime.now(UTC) + dt.timedelta(days=30)).isoformat()
    status, body = http.send("POST", "/v1/me/consents", key["e1"], {"lender_id": "bank-1", "scopes": ["UTILITY", "TAX"],
                                                                    "expires_at": expires})
    assert status == 202, body
    granted = time.monotonic()
    wait_for(lambda: http.get(aggregates, key["bank"])[1]["consented_scopes"] == ["UTILITY", "TAX"], 10, "the grant")
    assert time.monotonic() - granted <= 2.0
    assert http.send("POST", "/v1/me/consents", key["e1"], {"lender_id": "nobody", "scopes": ["TAX"],
                                                            "expires_at": expires}) == (
        400, {"error": "bad_request", "reason": "no connected lender with id 'nobody'", "field": "lender_id"})
    status, body = http.send("GET", "/v1/me/consents", key["e1"])
    assert status == 200 and [c["lender_id"] for c in body["items"]] == ["bank-1"]

    # a dispute: filed (idempotently), marked for the lender, answered by the record's provider only
    claim = {"topic": "credit.utility.water.v1", "key": {"account_no": "W1", "billing_month": month},
             "statement": "用水量有误：当月停业。"}
    status, filed = http.send("POST", "/v1/me/disputes", key["e1"], claim, {"Idempotency-Key": "dispute-1"})
    assert status == 201 and filed["state"] == "OPEN" and filed["provider_id"] == "heihe-water", filed
    assert http.send("POST", "/v1/me/disputes", key["e1"], claim, {"Idempotency-Key": "dispute-1"}) == (201, filed)
    dispute_id = filed["dispute_id"]
    body = http.get(aggregates, key["bank"])[1]
    assert [d["dispute_id"] for d in body["disputes_open"]] == [dispute_id]
    history = http.get(f"/v1/enterprises/{E1}/history/water", key["bank"])[1]
    assert history["items"][0]["disputed"]["dispute_id"] == dispute_id
    assert http.send("POST", f"/v1/disputes/{dispute_id}/answer", key["market"],
                     {"outcome": "UPHELD", "note": "x"})[0] == 403
    assert http.send("POST", f"/v1/me/disputes/{dispute_id}/withdraw", key["e2"])[0] == 404
    assert [d["dispute_id"] for d in http.send("GET", "/v1/disputes", key["water"])[1]["items"]] == [dispute_id]
    assert http.send("GET", "/v1/disputes", key["market"])[1]["items"] == []
    corrected = {**water[1], "event_id": "w-corrected", "usage": builders.Decimal("0.000"),
                 "amount_due": builders.Decimal("0.00"), "revision": 1}
    send(("credit.utility.water.v1", ("WaterStatement", corrected)))
    status, answered = http.send("POST", f"/v1/disputes/{dispute_id}/answer", key["water"],
                                 {"outcome": "CORRECTED", "note": "已按停业更正为 0。"})
    assert status == 200 and answered["state"] == "CORRECTED", answered
    wait_for(lambda: http.get(aggregates, key["bank"])[1].get("water_avg_usage_3m") == "0.000", 60, "the correction")
    assert "disputes_open" not in http.get(aggregates, key["bank"])[1]

    # credit repair: too early is refused at once with the date; an approval moves the evaluation
    status, body = http.send("POST", "/v1/me/repairs", key["e2"], {"decision_no": "P2", "pledge": "守信承诺",
                                                                   "statement": "已缴清罚款"})
    eligible = repair_eligible_from(today - dt.timedelta(days=30), "GENERAL")
    assert status == 422 and body["field"] == "decision_no", body
    assert f"from {eligible.isoformat()} (earliest eligible date)" in body["reason"]
    before = http.get(aggregates, key["bank"])[1]
    assert before["penalties_in_publicity"] == 1 and before["eval_points"]["P1"] == 4
    status, applied = http.send("POST", "/v1/me/repairs", key["e1"], {"decision_no": "P1", "pledge": "守信承诺",
                                                                      "statement": "已缴清罚款并整改"})
    assert status == 201 and applied["state"] == "APPLIED", applied
    assert http.send("POST", f"/v1/repairs/{applied['application_id']}/decide", key["e1"],
                     {"outcome": "APPROVED", "note": "x"})[0] == 403
    status, decided = http.send("POST", f"/v1/repairs/{applied['application_id']}/decide", key["op"],
                                {"outcome": "APPROVED", "note": "整改到位"})
    assert status == 200 and decided["state"] == "APPROVED", decided
    wait_for(lambda: http.get(aggregates, key["bank"])[1]["penalties_in_publicity"] == 0, 60, "the repair to apply")
    after = http.get(aggregates, key["bank"])[1]
    assert after["eval_points"]["P1"] == 12 and after["eval_score"] == before["eval_score"] + 8

    # revocation, then: who looked me up, and everything held, free
    assert http.send("DELETE", "/v1/me/consents/bank-1", key["e1"])[0] == 202
    revoked = time.monotonic()
    wait_for(lambda: http.get(aggregates, key["bank"])[1]["consented_scopes"] == [], 10, "the revocation")
    assert time.monotonic() - revoked <= 2.0
    assert "was revoked at" in http.get(aggregates, key["bank"])[1]["withheld"]["TAX"]
    wait_for(lambda: any(item["principal_id"] == "bank-1" for item in
                         http.send("GET", "/v1/me/lookups", key["e1"])[1]["items"]), 60, "the lender's look-ups")
    status, mine = http.send("GET", "/v1/me", key["e1"])
    assert status == 200 and mine["row"]["eval_points"]["P1"] == 12
    assert {r["record"] for r in mine["records"]} >= {"AdminPenalty", "CreditRepair"}
    assert [s["usage"] for s in mine["statements"]["water"]] == ["0.000"]
    assert mine["disputes"][0]["state"] == "CORRECTED" and mine["repairs"][0]["state"] == "APPROVED"
    assert all(r["provider_id"] and r["received_at"] for r in mine["records"])
    wait_for(lambda: http.send("GET", f"/v1/audit?uscc={E1}&route=me.repair.apply", key["op"])[1]["items"], 60,
             "the repair application in the operators' audit search")
