"""The API in the test process without a broker: its view filled by hand, its Kafka writer in
memory (api.writer.MemoryWriter), served by aiohttp's test server. What the API would write to
Kafka (audit rows, consents, disputes…) is in ``writer.messages``."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp.test_utils import TestClient, TestServer

from creditstream.api.app import create_app
from creditstream.api.config import ApiConfig
from creditstream.api.view import ServingView
from creditstream.api.writer import MemoryWriter
from creditstream.schemas import apikeys
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import AGGREGATE_FIELDS, RED_LINES, AggregateRow, ConsentState, KeyEvent
from creditstream.schemas.topics import AGGREGATES_TOPIC, API_KEYS_TOPIC, AUDIT_TOPIC, CONSENT_STATE_TOPIC

UTC = dt.timezone.utc


class ApiHarness:
    def __init__(self, tmp_path, **config):
        self.view, self.writer = ServingView(), MemoryWriter()
        self.now = dt.datetime.now(UTC)
        config.setdefault("clickhouse_url", f"chdb:{tmp_path / 'ch'}")
        self.config = ApiConfig(kafka=KafkaConnection("127.0.0.1:9"), metrics_port=0, **config)

    def key(self, kind: str, principal_id: str, topics: tuple = ()) -> str:
        """A new API key of this principal, in the view as if read from Kafka."""
        key_id, key = apikeys.new_key()
        self.view.apply(API_KEYS_TOPIC, key_id.encode(), KeyEvent(
            key_id, apikeys.key_hash(key), kind, principal_id, self.now, False, principal_id, topics).to_bytes(), 0)
        return key

    def row(self, uscc: str, **values) -> None:
        row = {"uscc": uscc, "as_of_month": "2026-10", "as_of_date": "2026-10-31",
               **{name: 0 for name in AGGREGATE_FIELDS}, RED_LINES: [], **values}
        self.view.apply(AGGREGATES_TOPIC, uscc.encode(), AggregateRow.encode(row), int(self.now.timestamp() * 1000))

    def consent(self, uscc: str, lender_id: str, scopes: tuple[str, ...]) -> None:
        state = ConsentState(uscc, lender_id, f"consent-{lender_id}", scopes, self.now - dt.timedelta(days=1),
                             self.now + dt.timedelta(days=30), False, self.now)
        self.view.apply(CONSENT_STATE_TOPIC, state.key, state.to_bytes(), 0)

    def audit(self) -> list[dict]:
        """Every audit row written so far."""
        return [json.loads(line) for group in self.writer.on(AUDIT_TOPIC) for line in group.splitlines()]

    def run(self, scenario):
        """``await scenario(client)`` against the app; its result."""
        async def main():
            async with TestClient(TestServer(create_app(self.config, view=self.view, writer=self.writer))) as client:
                return await scenario(client)
        return asyncio.run(main())


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}
