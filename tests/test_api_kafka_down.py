"""With Kafka unreachable, the API accepts nothing it could then lose: a write is answered 503 with
Retry-After, and so is a look-up, whose audit record cannot be made durable. No broker is needed
(that is the point): the API's Kafka address leads nowhere."""
import asyncio
import datetime as dt

from aiohttp.test_utils import TestClient, TestServer

from creditstream.api.app import create_app
from creditstream.api.config import ApiConfig
from creditstream.api.view import ServingView
from creditstream.schemas import apikeys
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import KeyEvent
from creditstream.schemas.records import to_json
from creditstream.schemas.topics import API_KEYS_TOPIC
from tests.support import builders


def enterprise_and_lender() -> tuple[ServingView, str]:
    """A view knowing an enterprise (whose key is returned) and the lender bank-1."""
    view = ServingView()
    key_id, key = apikeys.new_key()
    now = dt.datetime.now(dt.timezone.utc)
    view.apply(API_KEYS_TOPIC, key_id.encode(), KeyEvent(key_id, apikeys.key_hash(key), "enterprise", builders.USCC,
                                                        now, False).to_bytes(), 0)
    view.apply(API_KEYS_TOPIC, b"k2", KeyEvent("k2", "0" * 64, "lender", "bank-1", now, False).to_bytes(), 0)
    return view, key


def test_writes_and_lookups_are_refused_503_while_kafka_cannot_acknowledge(tmp_path):
    view, key = enterprise_and_lender()
    config = ApiConfig(kafka=KafkaConnection("127.0.0.1:9"), clickhouse_url=f"chdb:{tmp_path / 'ch'}",
                       audit_timeout_seconds=1.0)

    async def scenario():
        async with TestClient(TestServer(create_app(config, view=view))) as client:
            headers = {"Authorization": f"Bearer {key}"}
            grant = await client.post("/v1/me/consents", headers=headers, json={
                "lender_id": "bank-1", "scopes": ["TAX"], "expires_at": "2030-01-01T00:00:00Z"})
            lookup = await client.get(f"/v1/enterprises/{builders.USCC}/aggregates", headers=headers)
            return [(r.status, r.headers.get("Retry-After"), await r.json()) for r in (grant, lookup)]

    for status, retry_after, body in asyncio.run(scenario()):
        assert status == 503 and int(retry_after) >= 1 and body["error"] == "unavailable", body


def test_the_gateway_answers_503_while_kafka_cannot_acknowledge_and_accepts_nothing(tmp_path):
    view = ServingView()
    key_id, key = apikeys.new_key()
    now = dt.datetime.now(dt.timezone.utc)
    view.apply(API_KEYS_TOPIC, key_id.encode(), KeyEvent(key_id, apikeys.key_hash(key), "provider", "gw-water", now,
                                                        False, "gw-water", ("credit.utility.water.v1",)).to_bytes(), 0)
    config = ApiConfig(kafka=KafkaConnection("127.0.0.1:9"), clickhouse_url=f"chdb:{tmp_path / 'ch'}",
                       audit_timeout_seconds=1.0)
    _record, value = builders.statement("water", "W1", "2025-06", "12.000", "48.00", provider="gw-water")
    batch = {"records": [{"topic": "credit.utility.water.v1", "value": to_json(value)}]}

    async def scenario():
        async with TestClient(TestServer(create_app(config, view=view))) as client:
            response = await client.post("/v1/providers/events", json=batch, headers={"Authorization": f"Bearer {key}"})
            return response.status, response.headers.get("Retry-After"), await response.json()

    status, retry_after, body = asyncio.run(scenario())
    assert status == 503 and int(retry_after) >= 1 and body["error"] == "unavailable", body
    assert "accepted" not in body  # no record is reported as taken


def test_with_the_audit_journal_a_lookup_is_answered_and_its_record_kept_until_kafka_returns(tmp_path):
    """With the rows on disk the audit is durable in the local journal (api/audit_journal.py):
    a look-up is answered with Kafka away and its record waits on disk; a write still is not."""
    view, key = enterprise_and_lender()
    config = ApiConfig(kafka=KafkaConnection("127.0.0.1:9"), clickhouse_url=f"chdb:{tmp_path / 'ch'}",
                       audit_timeout_seconds=1.0, view_dir=str(tmp_path / "view"), audit_journal=True)

    async def scenario():
        async with TestClient(TestServer(create_app(config, view=view))) as client:
            headers = {"Authorization": f"Bearer {key}"}
            lookup = await client.get(f"/v1/enterprises/{builders.USCC}/aggregates", headers=headers)
            grant = await client.post("/v1/me/consents", headers=headers, json={
                "lender_id": "bank-1", "scopes": ["TAX"], "expires_at": "2030-01-01T00:00:00Z"})
            return lookup.status, lookup.headers["X-Request-Id"], grant.status

    lookup_status, request_id, grant_status = asyncio.run(scenario())
    assert lookup_status in (200, 404) and grant_status == 503
    journal = b"".join(p.read_bytes() for p in (tmp_path / "view" / "audit-journal").glob("*.log"))
    assert request_id.encode() in journal
    assert not (tmp_path / "view" / "audit-journal" / "shipped").exists()  # no position: nothing in Kafka yet
