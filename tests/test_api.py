"""The API's behaviour in the fast suite: the real app and pipeline on aiohttp's test server, its
view filled by hand and its Kafka writer in memory (tests/support/api_app.py). The broker tests
(test_*_kafka.py) keep the real wiring: the feed, Kafka's acknowledgements, ClickHouse."""
import json

from creditstream.api.app import ROUTES, create_app
from creditstream.api.config import ApiConfig
from creditstream.api.http.pipeline import KINDS
from creditstream.api.view import ServingView
from creditstream.api.writer import MemoryWriter
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import CONSENT_STATE_TOPIC, TOPIC_OF
from tests.support import builders
from tests.support.api_app import ApiHarness, bearer

E1 = builders.USCC


def test_every_route_is_in_the_table_and_the_document_and_nothing_else(tmp_path):
    app = create_app(ApiConfig(kafka=KafkaConnection("127.0.0.1:9"), clickhouse_url=f"chdb:{tmp_path / 'ch'}"),
                     view=ServingView(), writer=MemoryWriter())
    table = {(r.method, r.path) for r in app[ROUTES]}
    served = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.method != "HEAD" and not route.resource.canonical.startswith("/portal")}
    harness = ApiHarness(tmp_path)
    document = harness.run(lambda client: _json(client.get("/openapi.json")))
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert served == table == documented
    assert len(table) == len(app[ROUTES])  # each route once
    for route in app[ROUTES]:
        assert route.summary and set(route.kinds) <= set(KINDS), route.path


async def _json(request):
    response = await request
    return await response.json()


def test_a_key_of_the_wrong_kind_is_refused_by_the_route_table_and_audited(tmp_path):
    harness = ApiHarness(tmp_path)
    harness.row(E1)
    keys = {kind: harness.key(kind, E1 if kind == "enterprise" else f"{kind}-1") for kind in KINDS}

    async def scenario(client):
        return {(kind, path): (await client.request(method, path, headers=bearer(keys[kind]))).status
                for kind in KINDS for method, path in (("GET", f"/v1/enterprises/{E1}/aggregates"), ("GET", "/v1/me"),
                                                       ("GET", "/v1/repairs"), ("GET", "/v1/webhooks"))}
    statuses = harness.run(scenario)
    allowed = {"/v1/me": {"enterprise"}, "/v1/repairs": {"operator"}, "/v1/webhooks": {"lender"},
               f"/v1/enterprises/{E1}/aggregates": {"lender", "enterprise"}}
    for (kind, path), status in statuses.items():
        assert (status != 403) == (kind in allowed[path]), (kind, path, status)
    refused = [row for row in harness.audit() if row["status"] == 403]
    assert len(refused) == sum(len(KINDS) - len(kinds) for kinds in allowed.values())
    assert all(row["decision"] == "deny" and row["principal_kind"] in KINDS for row in refused)


def test_a_lender_sees_public_fields_and_only_the_consented_scopes(tmp_path):
    harness = ApiHarness(tmp_path)
    harness.row(E1, water_months_3m=3, vat_paid_12m="120.00", licences_valid=2)
    with_consent, without = harness.key("lender", "bank-1"), harness.key("lender", "bank-2")
    harness.consent(E1, "bank-1", ("UTILITY",))

    async def scenario(client):
        answers = []
        for key in (with_consent, without):
            response = await client.get(f"/v1/enterprises/{E1}/aggregates", headers=bearer(key))
            answers.append((response.status, response.headers["Content-Type"], await response.json()))
        return answers
    (status, content_type, consented), (_, _, public) = harness.run(scenario)
    assert status == 200 and content_type == "application/json; charset=utf-8"
    assert consented["updated_at"]  # and its age in X-Row-Age (test_the_row_age_is_in_a_header)
    assert consented["water_months_3m"] == 3 and "vat_paid_12m" not in consented and consented["licences_valid"] == 2
    assert consented["consented_scopes"] == ["UTILITY"] and "TAX" in consented["withheld"]
    assert "water_months_3m" not in public and public["licences_valid"] == 2 and public["consented_scopes"] == []
    audited = {row["principal_id"]: row for row in harness.audit()}
    assert audited["bank-1"]["consent_event_id"] == "consent-bank-1" and audited["bank-1"]["decision"] == "allow"


def test_red_lines_are_shown_to_every_lender_but_x3_only_under_social_consent(tmp_path):
    """platform-services.md, v1.2 addendum: eval_red_lines always, less X3 (consent data) without
    SOCIAL; the enterprise sees all of it."""
    harness = ApiHarness(tmp_path)
    harness.row(E1, eval_grade="C", eval_red_lines=["X1", "X3"], social_arrears_months_3m=3)
    social, public = harness.key("lender", "bank-1"), harness.key("lender", "bank-2")
    own = harness.key("enterprise", E1)
    harness.consent(E1, "bank-1", ("SOCIAL",))

    async def scenario(client):
        return [await (await client.get(f"/v1/enterprises/{E1}/aggregates", headers=bearer(key))).json()
                for key in (social, public, own)]
    with_social, without, itself = harness.run(scenario)
    assert with_social["eval_red_lines"] == ["X1", "X3"] and with_social["social_arrears_months_3m"] == 3
    assert without["eval_red_lines"] == ["X1"] and "social_arrears_months_3m" not in without
    assert without["eval_grade"] == "C"
    assert itself["eval_red_lines"] == ["X1", "X3"]


def test_a_write_is_acknowledged_once_and_a_repeat_with_its_key_gets_the_first_answer(tmp_path):
    harness = ApiHarness(tmp_path)
    enterprise = harness.key("enterprise", E1)
    harness.key("lender", "bank-1")
    body = {"lender_id": "bank-1", "scopes": ["TAX"], "expires_at": "2030-01-01T00:00:00Z"}

    async def scenario(client):
        headers = {**bearer(enterprise), "Idempotency-Key": "grant-1"}
        first = await client.post("/v1/me/consents", headers=headers, json=body)
        again = await client.post("/v1/me/consents", headers=headers, json=body)
        return (first.status, await first.json()), (again.status, await again.json())
    (status, first), (status_again, again) = harness.run(scenario)
    assert status == status_again == 202 and first == again
    grants = harness.writer.on(TOPIC_OF["ConsentGrant"])
    assert len(grants) == 1  # one ConsentGrant on the consent topic, not two
    assert harness.writer.on(CONSENT_STATE_TOPIC) == []  # the worker accepts it, not the API


def test_refusals_name_the_field_and_kafka_trouble_changes_nothing(tmp_path):
    harness = ApiHarness(tmp_path)
    enterprise = harness.key("enterprise", E1)

    async def scenario(client):
        bad = await client.post("/v1/me/consents", headers=bearer(enterprise), json={"lender_id": "nobody",
                                                                                    "scopes": ["TAX"]})
        deep = await client.post("/v1/me/consents", headers=bearer(enterprise), data=b"[" * 100_000)
        harness.writer.unavailable = True
        down = await client.get("/v1/me", headers=bearer(enterprise))
        return [(r.status, r.headers.get("Retry-After"), await r.json()) for r in (bad, deep, down)]
    (bad_status, _, bad), (deep_status, _, deep), (down_status, retry_after, down) = harness.run(scenario)
    assert bad_status == 400 and bad["field"] in ("expires_at", "lender_id")
    assert deep_status == 400 and deep["field"] == "body"
    assert down_status == 503 and int(retry_after) >= 1 and down["error"] == "unavailable"


def test_the_rate_limit_and_the_failure_throttle_answer_429_with_retry_after(tmp_path):
    harness = ApiHarness(tmp_path, rate_per_second=0.5, rate_burst=2, auth_failures_limit=3)
    lender = harness.key("lender", "bank-1")

    async def scenario(client):
        limited = [(await client.get("/v1/whoami", headers=bearer(lender))).status for _ in range(3)]
        wrong = [(await client.get("/v1/whoami", headers=bearer(f"cs_x{i}.y"))).status for i in range(4)]
        return limited, wrong
    limited, wrong = harness.run(scenario)
    assert limited == [200, 200, 429] and wrong == [401, 401, 401, 429]


def test_answers_carry_their_audit_rows_request_id(tmp_path):
    harness = ApiHarness(tmp_path)
    lender = harness.key("lender", "bank-1")

    async def scenario(client):
        answers = []
        for path in ("/v1/whoami", f"/v1/enterprises/{E1}/aggregates", "/healthz", "/openapi.json"):
            response = await client.get(path, headers=bearer(lender))
            answers.append((path, response.status, response.headers.get("X-Request-Id")))
        return answers
    answers = harness.run(scenario)
    audited = {row["request_id"]: row["route"] for row in harness.audit()}
    for path, status, request_id in answers:
        assert request_id, path
    assert audited[answers[0][2]] == "whoami" and audited[answers[1][2]] == "aggregates"
    assert answers[1][1] == 404  # no row for E1: the answer is audited all the same
    assert json.dumps(sorted(audited.values())) == json.dumps(["aggregates", "whoami"])


def test_only_the_pipeline_decides_which_kinds_may_call_a_route():
    """A room decides what a principal may see (consent, its own data), never which kinds may call
    it: that is the route table's, enforced in one place. (The portal guards its own pages.)"""
    import re
    from pathlib import Path

    api = Path(__file__).resolve().parents[1] / "api"
    deciding = sorted(str(path.relative_to(api)) for path in api.rglob("*.py")
                      if re.search(r"\.kind (not in|!=) ", path.read_text()))
    assert deciding == ["http/pipeline.py", "portal/pages.py"]


def test_the_row_age_is_in_a_header(tmp_path):
    """Issue 27, item 17: while the worker is down rows age; the answer says how old its row is."""
    import datetime as dt

    harness = ApiHarness(tmp_path)
    harness.now -= dt.timedelta(minutes=5)  # the row was computed five minutes ago
    harness.row(E1)
    lender = harness.key("lender", "bank-1")

    async def scenario(client):
        response = await client.get(f"/v1/enterprises/{E1}/aggregates", headers=bearer(lender))
        return response.status, response.headers.get("X-Row-Age")
    status, age = harness.run(scenario)
    assert status == 200 and 299 <= int(age) <= 330
