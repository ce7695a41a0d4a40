"""Lender look-ups end to end: real broker → worker → sink → embedded ClickHouse → HTTP API.

The Faust worker runs as its own process; the sink and the API run in the test process, so the
test can read the embedded ClickHouse directly (chdb allows one process per data directory —
the same split as a deployment with a ClickHouse server)."""
import datetime as dt
import io
import json
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Producer

from creditstream import apikeys
from creditstream.api.app import ApiThread
from creditstream.schemas.codec import default_codec
from creditstream.schemas.models import SCOPES, field_scope
from creditstream.schemas.months import parse_month
from creditstream.schemas.personal import mask_id
from creditstream.schemas.records import to_json
from creditstream.schemas.uscc import uscc_check_char
from creditstream.sinks.rows import SINK_TOPICS
from creditstream.sinks.sink import ClickHouseSink
from creditstream.streams.replay import aggregate_rows, fold_lines
from tests.support import builders
from tests.support.api import Http
from tests.support.kafka import WorkerProcess, admin_kafka, free_port, group_caught_up, platform_settings, wait_for

CODEC = default_codec()
AS_OF = "2025-06"
UTC = dt.timezone.utc
E1 = builders.USCC
E2 = "91110000MA01ABCD8" + uscc_check_char("91110000MA01ABCD8")
E3 = "91440300MA5DC1234" + uscc_check_char("91440300MA5DC1234")  # consent, but no data


def grant(uscc, lender, scopes, start, end, revoked=False, occurred=None, event_id=None):
    return "credit.consent.v1", {
        "event_id": event_id or f"consent-{lender}-{uscc}-{time.time_ns()}", "provider_id": "credit-platform",
        "uscc": uscc, "enterprise_name": "甲", "occurred_at": occurred or start, "lender_id": lender,
        "scopes": scopes, "granted_at": start, "expires_at": end, "revoked": revoked}


def dataset(now):
    day = dt.timedelta(days=1)
    facts = [
        ("credit.utility.water.v1", builders.statement("water", "W1", "2025-05", "10.000", "41.00")[1]),
        ("credit.utility.water.v1", builders.statement("water", "W1", "2025-06", "12.000", "49.20", arrears="49.20")[1]),
        ("credit.utility.water.v1", builders.statement("water", "W1", "2025-06", "11.000", "45.10", arrears="45.10",
                                                       revision=1)[1]),
        ("credit.tax.payment.v1", builders.payment("VAT", "2025-04-01", "2025-06-30", "300.00", "300.00",
                                                   "2025-07-15", "2025-07-01")[1]),
        ("credit.utility.gas.v1", {**builders.statement("gas", "G1", "2025-06", "5.000", "14.00")[1], "uscc": E2}),
        grant(E1, "lender-a", ["UTILITY", "TAX"], now - day, now + 30 * day),
        grant(E1, "lender-b", ["UTILITY"], now - day, now + 30 * day),
        grant(E1, "lender-c", ["UTILITY", "TAX"], now - 40 * day, now - 10 * day),
        grant(E1, "lender-d", ["UTILITY", "TAX"], now - 5 * day, now + 30 * day, event_id="consent-d-1"),
        grant(E1, "lender-d", ["UTILITY", "TAX"], now - 5 * day, now + 30 * day, revoked=True,
              occurred=now - 2 * day, event_id="consent-d-2"),
        grant(E3, "lender-a", ["UTILITY", "TAX"], now - day, now + 30 * day),
        # v1.1: public registers, and the new consent scopes
        ("credit.admin.penalty.v1", builders.penalty("P1", "2025-06-01")[1]),
        ("credit.realestate.right.v1", builders.real_estate("C1", "ACTIVE", "2020-01-01", "350.00")[1]),
        ("credit.rd.recognition.v1", builders.rd("HIGH_TECH_ENTERPRISE", "H1", 2024, "2026-12-31")[1]),
        ("credit.agri.operator.v1", builders.agri_operator("COOPERATIVE")[1]),
        grant(E1, "lender-f", ["REAL_ESTATE", "RD", "AGRI"], now - day, now + 30 * day),
    ]
    return facts


def send_events(facts):
    producer = Producer(admin_kafka().producer())
    from creditstream.schemas.topics import PROVIDER_TOPICS
    for topic, value in facts:
        producer.produce(topic, key=value["uscc"].encode(), value=CODEC.encode(PROVIDER_TOPICS[topic], value))
    assert producer.flush(30) == 0


def expected_rows(facts):
    lines = [json.dumps({"topic": t, "value": to_json(v)}) for t, v in facts]
    return {r["uscc"]: r for r in aggregate_rows(fold_lines(lines, CODEC, io.StringIO()), parse_month(AS_OF))}


def wait_rows(client, sql, count, timeout=120):
    return wait_for(lambda: client.query(sql).result_rows[0][0] >= count, timeout, f"{count} rows: {sql}")


def test_consent_keys_and_audit_end_to_end(platform):
    settings, sink, http, client, worker = platform
    now = dt.datetime.now(UTC)
    facts = dataset(now)
    send_events(facts)
    keys = {name: apikeys.issue(settings.kafka, "lender", name) for name in
            ("lender-a", "lender-b", "lender-c", "lender-d", "lender-e", "lender-f")}
    revoked_id, revoked_key = apikeys.issue(settings.kafka, "lender", "lender-a")
    apikeys.revoke(settings.kafka, revoked_id, "lender", "")
    own = apikeys.issue(settings.kafka, "enterprise", E1)[1]
    own_e3 = apikeys.issue(settings.kafka, "enterprise", E3)[1]
    key = {name: k for name, (_, k) in keys.items()}
    expected = expected_rows(facts)
    wait_rows(client, "SELECT count() FROM enterprise_aggregates FINAL", 2)
    wait_rows(client, "SELECT count() FROM api_keys FINAL", 9)
    wait_rows(client, "SELECT count() FROM api_keys FINAL WHERE revoked", 1)
    wait_rows(client, "SELECT count() FROM consent_grants FINAL", 6)
    wait_rows(client, "SELECT count() FROM register_records FINAL", 4)
    wait_for(lambda: client.query("SELECT row_json FROM enterprise_aggregates FINAL WHERE uscc = {u:String}",
                                  parameters={"u": E1}).result_rows == [(json.dumps(expected[E1], ensure_ascii=False,
                                                                                    separators=(",", ":")),)],
             60, "E1's final aggregate row")
    calls = {}

    def call(name, path, k, status):
        code, body, request_id = http.get(path, k)
        assert code == status, (name, body)
        calls[name] = (request_id, body)
        return body

    agg = f"/v1/enterprises/{E1}/aggregates"
    body = call("granted", agg, key["lender-a"], 200)
    shown = {k: v for k, v in body.items() if k not in ("updated_at", "consented_scopes", "withheld", "consent")}
    assert shown == visible(expected[E1], ("UTILITY", "TAX"))
    assert body["consented_scopes"] == ["UTILITY", "TAX"] and body["updated_at"].endswith("Z")
    assert body["consent"]["scopes"] == ["UTILITY", "TAX"] and body["consent"]["expires_at"] > body["consent"]["granted_at"]
    assert set(body["withheld"]) == {"REAL_ESTATE", "RD", "AGRI", "SOCIAL", "TRADE"} and "high_tech_enterprise" not in body
    assert body["water_avg_usage_3m"] == "10.500" and body["vat_paid_3m"] == "300.00"  # revision 1 won
    assert body["eval_score"] == expected[E1]["eval_score"] and body["eval_points"]["T1"] == 8

    body = call("wrong-scope", agg, key["lender-b"], 200)
    assert body["consented_scopes"] == ["UTILITY"] and "water_months_3m" in body and "vat_paid_3m" not in body
    assert "eval_score" not in body and "eval_points" not in body and body["eval_grade"] == expected[E1]["eval_grade"]
    assert "does not cover TAX" in body["withheld"]["TAX"]
    body = call("wrong-scope-history", f"/v1/enterprises/{E1}/history/vat", key["lender-b"], 403)
    assert "does not cover TAX" in body["reason"]

    def public_only(body):  # no consent in force: public credit information, nothing else
        return {k for k in body if k in expected[E1]} == {k for k in expected[E1] if field_scope(k) == "PUBLIC"} | {
            "uscc", "as_of_month", "as_of_date"} and body["consented_scopes"] == []

    body = call("expired", agg, key["lender-c"], 200)
    assert public_only(body) and "expired at" in body["withheld"]["UTILITY"]
    body = call("revoked", agg, key["lender-d"], 200)
    assert public_only(body) and "consent-d-2 was revoked" in body["withheld"]["TAX"]
    body = call("wrong-lender", agg, key["lender-e"], 200)
    assert public_only(body) and f"no consent from {E1} for lender lender-e" in body["withheld"]["UTILITY"]
    assert call("no-key", agg, None, 401)["reason"].startswith("no API key")
    assert f"API key {revoked_id} was revoked" == call("revoked-key", agg, revoked_key, 401)["reason"]
    assert call("bad-key", agg, "cs_nosuchkey_x", 401)["reason"] == "unknown API key"
    body = call("own", f"/v1/enterprises/{E1.lower()}/aggregates", own, 200)
    assert body["vat_paid_3m"] == "300.00" and body["consented_scopes"] == list(SCOPES) and body["withheld"] == {}
    assert {k: v for k, v in body.items() if k not in ("updated_at", "consented_scopes", "withheld", "consent")} == expected[E1]
    assert "own data" in call("other-enterprise", f"/v1/enterprises/{E2}/aggregates", own, 403)["reason"]
    assert "check character" in call("invalid-uscc", f"/v1/enterprises/{E1[:17]}X/aggregates", key["lender-a"],
                                     400)["reason"]
    call("unknown-enterprise", f"/v1/enterprises/{E3}/aggregates", key["lender-a"], 404)
    call("unknown-enterprise-own", f"/v1/enterprises/{E3}/aggregates", own_e3, 404)
    # v1.1: public registers for every lender, the new scopes under their own consent
    assert body["real_estate_rights_active"] == 1 and body["agri_operator_category"] == "COOPERATIVE"  # own row
    body = call("new-scopes", agg, key["lender-f"], 200)
    assert body["consented_scopes"] == ["REAL_ESTATE", "RD", "AGRI"]
    assert (body["real_estate_rights_active"], body["real_estate_area_m2"], body["high_tech_enterprise"],
            body["agri_operator_category"]) == (1, "350.00", True, "COOPERATIVE")
    assert "eval_score" not in body and "water_months_3m" not in body and body["penalties_in_publicity"] == 1
    penalties = call("records-public", f"/v1/enterprises/{E1}/records/penalties", key["lender-e"], 200)["items"]
    assert [(p["record"], p["decision_no"], p["provider_id"]) for p in penalties] == [("AdminPenalty", "P1", "p")]
    assert penalties[0]["legal_rep_id_no"] == mask_id(builders.LEGAL_REP_ID) and "legal_rep_id_hmac" not in penalties[0]
    assert penalties[0]["received_at"].endswith("Z") and penalties[0]["fine_amount"] == "1000.00"
    assert "does not cover REAL_ESTATE" in call("records-refused", f"/v1/enterprises/{E1}/records/real_estate",
                                                key["lender-a"], 403)["reason"]
    estate = call("records-consented", f"/v1/enterprises/{E1}/records/real_estate", key["lender-f"], 200)["items"]
    assert [(r["record"], r["certificate_no"], r["area_m2"]) for r in estate] == [("RealEstateRight", "C1", "350.00")]
    call("records-own", f"/v1/enterprises/{E1}/records/agri", own, 200)
    call("records-other-enterprise", f"/v1/enterprises/{E1}/records/penalties", own_e3, 403)
    assert call("records-bad-category", f"/v1/enterprises/{E1}/records/coal", key["lender-a"], 400)["reason"].startswith(
        "unknown record category")
    history = call("history", f"/v1/enterprises/{E1}/history/water?from=2025-06", key["lender-a"], 200)
    assert [(i["billing_month"], i["usage"], i["revision"]) for i in history["items"]] == [("2025-06", "11.000", 1)]
    assert call("bad-kind", f"/v1/enterprises/{E1}/history/coal", key["lender-a"], 400)["reason"].startswith(
        "unknown history kind")

    def audit_rows():  # written to credit.audit.v1 before each answer; the sink stores them
        return {row["request_id"]: row for row in client.query(
            "SELECT request_id, principal_kind, principal_id, route, uscc, decision, status, reason, consent_event_id "
            "FROM lookup_audit FINAL").named_results()}

    wait_for(lambda: len(audit_rows()) >= len(calls), 60, "every look-up's audit row")
    audit = audit_rows()
    assert len(audit) == len(calls)
    expectations = {
        "granted": ("lender", "lender-a", "allow", 200), "wrong-scope": ("lender", "lender-b", "allow", 200),
        "wrong-scope-history": ("lender", "lender-b", "deny", 403), "expired": ("lender", "lender-c", "allow", 200),
        "revoked": ("lender", "lender-d", "allow", 200), "wrong-lender": ("lender", "lender-e", "allow", 200),
        "no-key": ("anonymous", "", "deny", 401), "revoked-key": ("anonymous", "", "deny", 401),
        "bad-key": ("anonymous", "", "deny", 401), "own": ("enterprise", E1, "allow", 200),
        "other-enterprise": ("enterprise", E1, "deny", 403), "invalid-uscc": ("lender", "lender-a", "deny", 400),
        "unknown-enterprise": ("lender", "lender-a", "allow", 404),
        "unknown-enterprise-own": ("enterprise", E3, "allow", 404),
        "history": ("lender", "lender-a", "allow", 200), "bad-kind": ("lender", "lender-a", "deny", 400),
        "new-scopes": ("lender", "lender-f", "allow", 200), "records-public": ("lender", "lender-e", "allow", 200),
        "records-refused": ("lender", "lender-a", "deny", 403), "records-consented": ("lender", "lender-f", "allow", 200),
        "records-own": ("enterprise", E1, "allow", 200), "records-other-enterprise": ("enterprise", E3, "deny", 403),
        "records-bad-category": ("lender", "lender-a", "deny", 400),
    }
    for name, (kind, principal, decision, status) in expectations.items():
        row = audit[calls[name][0]]
        assert (row["principal_kind"], row["principal_id"], row["decision"], row["status"]) == (
            kind, principal, decision, status), name
    assert audit[calls["granted"][0]]["consent_event_id"].startswith("consent-lender-a-")
    assert audit[calls["revoked"][0]]["consent_event_id"] == "consent-d-2"
    assert audit[calls["wrong-scope"][0]]["reason"].startswith("UTILITY: consent")

    code, spec, _ = http.get("/openapi.json")
    assert code == 200 and "/v1/enterprises/{uscc}/aggregates" in spec["paths"]


def lender_visible(client):
    return {table: client.query(f"SELECT * FROM {table} FINAL ORDER BY ALL").result_rows
            for table in ("enterprise_aggregates", "utility_statements", "tax_payments", "consent_grants",
                          "register_records")}


def test_redelivered_batches_leave_lender_visible_rows_unchanged(platform):
    settings, sink, http, client, worker = platform
    facts = dataset(dt.datetime.now(UTC))
    send_events(facts)
    wait_rows(client, "SELECT count() FROM consent_grants FINAL", 5)
    wait_rows(client, "SELECT count() FROM enterprise_aggregates FINAL", 2)
    expected = expected_rows(facts)
    wait_for(lambda: {u: json.loads(r) for u, r in client.query(
        "SELECT uscc, row_json FROM enterprise_aggregates FINAL").result_rows} == expected, 120,
        "the final aggregate rows in ClickHouse")
    wait_for(lambda: group_caught_up(f"{settings.app_id}-sink", SINK_TOPICS), 120, "the sink to commit everything")
    before = lender_visible(client)
    counted_before = sink_metrics()['creditstream_sink_rows_total{table="utility_statements"}']
    # A second sink in a new consumer group re-reads every message from the start: every batch is
    # delivered again, split differently, exactly as after a crash before the offset commit.
    again_settings = settings.replace(app_id=settings.app_id + "-again", sink_batch_rows=3)
    again = ClickHouseSink(again_settings.sink())
    again.start()
    assert again.ready.wait(60)
    wait_for(lambda: group_caught_up(f"{again_settings.app_id}-sink", SINK_TOPICS), 120,
             "the second sink to re-read everything")
    again.stop()
    again.join(30)
    # the statements really were delivered and inserted again (3 of them in the dataset)
    assert sink_metrics()['creditstream_sink_rows_total{table="utility_statements"}'] >= counted_before + 3
    assert lender_visible(client) == before


def test_sink_retries_while_clickhouse_is_unavailable_and_loses_nothing(platform):
    settings, sink, http, client, worker = platform
    facts = dataset(dt.datetime.now(UTC))
    send_events(facts[:5])
    wait_rows(client, "SELECT count() FROM enterprise_aggregates FINAL", 2)
    failures = _metric(sink_metrics(), "creditstream_sink_failures_total")
    client.command("DETACH TABLE consent_grants")  # the target refuses inserts
    try:
        send_events(facts[5:])
        wait_for(lambda: _metric(sink_metrics(), "creditstream_sink_failures_total") >= failures + 2, 60,
                 "the sink to fail and retry")
        assert _metric(sink_metrics(), "creditstream_sink_target_up") == 0
    finally:
        client.command("ATTACH TABLE consent_grants")
    wait_rows(client, "SELECT count() FROM consent_grants FINAL", 6)
    assert _metric(sink_metrics(), "creditstream_sink_target_up") == 1
    expected = expected_rows(facts)

    def stored_row() -> dict:
        return json.loads(client.query("SELECT row_json FROM enterprise_aggregates FINAL WHERE uscc = {u:String}",
                                       parameters={"u": E1}).result_rows[0][0])

    # the consent rows say the sink is back, not that the worker's newer aggregate row is stored yet
    try:
        wait_for(lambda: stored_row() == expected[E1], 60, "the aggregate row of every event")
    except AssertionError:
        assert stored_row() == expected[E1]


def visible(row: dict, scopes) -> dict:
    """What a lender with consent for ``scopes`` sees of a row (the API adds updated_at and the rest)."""
    shown = {"PUBLIC", *scopes} | ({"UTILITY+TAX"} if {"UTILITY", "TAX"} <= set(scopes) else set())
    return {k: v for k, v in row.items() if k in ("uscc", "as_of_month", "as_of_date") or field_scope(k) in shown}


def sink_metrics():
    """This process's sink and API metrics (the sinks run here), keyed like the exposition format."""
    from creditstream.monitoring.metrics import SERVICE

    def name(sample):
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
        return f"{sample.name}{{{labels}}}" if labels else sample.name
    return {name(s): s.value for m in SERVICE.collect() for s in m.samples}


def _metric(samples, name):
    return samples.get(name, 0)


def test_worker_serves_lookups_from_its_embedded_clickhouse(kafka_settings, tmp_path):
    """Production wiring: the worker runs Faust and starts its sink service (sink and API) on embedded
    ClickHouse."""
    port, metrics_port = free_port(), free_port()
    settings = platform_settings()
    worker = WorkerProcess(tmp_path, f"embedded-{time.time_ns()}", CREDITSTREAM_AS_OF=AS_OF,
                           CREDITSTREAM_CLICKHOUSE_URL=f"chdb:{tmp_path / 'ch'}", CREDITSTREAM_API_PORT=str(port),
                           CREDITSTREAM_API_METRICS_PORT=str(metrics_port),
                           CREDITSTREAM_SINK_BATCH_SECONDS="0.2").start()
    try:
        facts = dataset(dt.datetime.now(UTC))
        send_events(facts)
        key = apikeys.issue(settings.kafka, "lender", "lender-a")[1]
        expected = expected_rows(facts)[E1]
        http = Http(port)

        def looked_up():
            code, body, _ = http.get(f"/v1/enterprises/{E1}/aggregates", key)
            head = ("updated_at", "consented_scopes", "withheld", "consent")
            return code == 200 and {k: v for k, v in body.items() if k not in head} == visible(expected, ("UTILITY", "TAX"))

        wait_for(looked_up, 120, "the worker's API to serve E1's aggregates")
        metrics_page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        assert 'creditstream_api_requests_total{route="aggregates",status="200"}' in metrics_page
        # not on the lenders' port: it names every lender and provider with their counts
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except AssertionError:
        raise AssertionError(worker.tail()) from None
    finally:
        worker.stop()


def raw_request(port: int, head: bytes) -> tuple[int, dict, dict]:
    """Send raw request bytes (whatever they are); return (status, JSON body, headers)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), json.loads(body), headers


def test_hostile_requests_are_answered_4xx_as_json_and_audited(platform):
    settings, sink, http, client, worker = platform
    send_events(dataset(dt.datetime.now(UTC))[:1])
    lender_key = apikeys.issue(settings.kafka, "lender", "lender-a")[1]
    wait_for(lambda: http.get(f"/v1/enterprises/{E1}/aggregates", lender_key)[0] == 200, 60, "E1's row")
    port, path = settings.api_port, f"/v1/enterprises/{E1}/aggregates".encode()
    cases = {
        "non-ascii-x-api-key": (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nX-API-Key: cs_\xff\xfe_x\r\n", 401),
        "non-ascii-bearer": (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer cs_\xe4\xb8\xad\r\n", 401),
        "long-uscc": (b"GET /v1/enterprises/" + b"9" * 8192 + b"/aggregates HTTP/1.1\r\nHost: t\r\n", 414),
        "long-header": (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nX-Padding: " + b"x" * 10000 + b"\r\n", 431),
        "month-with-newline": (b"GET /v1/enterprises/" + E1.encode() + b"/history/water?from=2025-06%0A HTTP/1.1\r\n"
                               b"Host: t\r\nAuthorization: Bearer " + lender_key.encode() + b"\r\n", 400),
    }
    request_ids = {}
    for name, (head, status) in cases.items():
        got, body, headers = raw_request(port, head)
        assert got == status and set(body) == {"error", "reason"}, (name, got, body)
        request_ids[name] = headers["x-request-id"]
    assert "printable ASCII" in raw_request(port, cases["non-ascii-bearer"][0])[1]["reason"]

    def stored():
        return {row[0]: row[1:] for row in client.query(
            "SELECT request_id, status, uscc FROM lookup_audit FINAL WHERE request_id IN {ids:Array(String)}",
            parameters={"ids": list(request_ids.values())}).result_rows}
    wait_for(lambda: len(stored()) == len(request_ids), 60, "an audit row for every hostile request")
    rows = stored()
    for name, (head, status) in cases.items():
        assert rows[request_ids[name]][0] == status, name
    assert len(rows[request_ids["long-uscc"]][1]) < 80  # 8 kB USCCs are not stored whole

    limited = ApiThread(settings.replace(api_port=free_port(), api_metrics_port=0, api_rate_per_second=1.0,
                                         api_rate_burst=2).api())
    limited.start_and_wait()
    try:
        limited_http = Http(limited.config.port)
        wait_for(lambda: limited_http.get("/healthz")[0] == 200, 60, "the second API's view")
        answers = [limited_http.get(f"/v1/enterprises/{E1}/aggregates", lender_key)[0] for _ in range(3)]
        assert answers == [200, 200, 429]
        status, body, headers = raw_request(limited.config.port, b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n"
                                            b"Authorization: Bearer " + lender_key.encode() + b"\r\n")
        assert status == 429 and int(headers["retry-after"]) >= 1 and "requests per second" in body["reason"]
    finally:
        limited.stop()


def test_the_consent_in_force_is_the_last_in_topic_order_and_future_stamps_are_dead_lettered(platform):
    """The probe's irrevocable consent: a grant stamped ahead of the revocation no longer wins; a
    grant (or a penalty) stamped years ahead is refused as FUTURE_TIMESTAMP."""
    settings, sink, http, client, worker = platform
    now = dt.datetime.now(UTC)
    day = dt.timedelta(days=1)
    send_events(dataset(now)[:1])
    key = apikeys.issue(settings.kafka, "lender", "lender-z")[1]
    send_events([grant(E1, "lender-z", ["UTILITY", "TAX"], now - day, now + 30 * day,
                       occurred=now + dt.timedelta(minutes=4), event_id="z-grant-ahead")])
    wait_for(lambda: http.get(f"/v1/enterprises/{E1}/aggregates", key)[1].get("consented_scopes") == ["UTILITY", "TAX"],
             60, "the grant to take effect")
    send_events([grant(E1, "lender-z", ["UTILITY", "TAX"], now - day, now + 30 * day, revoked=True,
                       occurred=now - dt.timedelta(hours=1), event_id="z-revoked-slow-clock")])
    wait_for(lambda: "z-revoked-slow-clock was revoked" in http.get(f"/v1/enterprises/{E1}/aggregates",
                                                                   key)[1].get("withheld", {}).get("TAX", ""),
             60, "the later revocation to win over the earlier grant stamped ahead")
    future = now + dt.timedelta(days=3650)
    send_events([grant(E1, "lender-z", ["UTILITY", "TAX"], now - day, now + 30 * day, occurred=future,
                       event_id="z-grant-ten-years-ahead"),
                 ("credit.admin.penalty.v1", {**builders.penalty("P9", "2025-06-01")[1], "occurred_at": future})])

    def future_letters():
        from creditstream.schemas.models import DeadLetter
        from tests.support.kafka import read_topic
        return [DeadLetter.from_bytes(m.value()) for m in read_topic("credit.deadletter.v1")
                if DeadLetter.from_bytes(m.value()).reason == "FUTURE_TIMESTAMP"]
    wait_for(lambda: len(future_letters()) == 2, 60, "both future-stamped events in the dead-letter topic")
    assert {letter.source_topic for letter in future_letters()} == {"credit.consent.v1", "credit.admin.penalty.v1"}
    body = http.get(f"/v1/enterprises/{E1}/aggregates", key)[1]
    assert body["consented_scopes"] == [] and "z-revoked-slow-clock was revoked" in body["withheld"]["UTILITY"]


def test_the_served_openapi_document_holds_under_schemathesis(platform, tmp_path):
    """Property-based requests generated from /openapi.json (bounded examples, fixed seed): no 5xx,
    and every answer's status, content type, headers and body match what the document says."""
    import subprocess
    import sys
    from pathlib import Path

    settings, sink, http, client, worker = platform
    send_events(dataset(dt.datetime.now(UTC)))
    key = apikeys.issue(settings.kafka, "lender", "lender-a")[1]
    wait_for(lambda: http.get(f"/v1/enterprises/{E1}/aggregates", key)[0] == 200, 60, "E1's row")
    checks = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
              "response_schema_conformance,negative_data_rejection")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{http.base}/openapi.json",
         "--header", f"Authorization: Bearer {key}", "--checks", checks, "--max-examples", "30", "--seed", "7",
         "--request-timeout", "10", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
