"""The HTTP push gateway for providers that do not speak Kafka (docs/gateway.md).

``POST /v1/providers/events`` with a provider key and ``{"records": [{"topic", "value"}, …]}``,
each record in the contract's JSON form (the replay line format). Every record is checked before
anything is sent: a known provider topic, one the key may push to (``providers add ID --topics``),
its ``provider_id`` the key's own, and its value fitting the topic's Avro schema. The valid ones
are produced like ``creditstream publish`` does (single-object Avro, keyed by the normalised
USCC) by an idempotent acks=all producer, and the answer — 202 with every record's outcome and
the accepted ones' partition and offset — leaves only once Kafka acknowledged every accepted
record. If Kafka cannot acknowledge one, the answer is 503 with Retry-After: the provider sends
the batch again, and since records are idempotent by (provider_id, event_id) in the stream,
records that did land are not counted twice.

The stream's own rules (USCC check character, periods, amounts…) still run in the worker:
a record the schema accepts but a rule refuses goes to the dead-letter topic with the reason,
exactly as if it came through Kafka.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.rights import Refused, json_body
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaUnavailable, KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.records import RecordError, record_from_json
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.schemas.uscc import normalise_uscc

MAX_RECORDS = 1000  # per request: more is 413
MAX_BYTES = 8 * 1024 * 1024  # a request body larger than this is 413 before it is read


class Gateway:
    def __init__(self, view: ServingView, writer: KafkaWriter):
        self.view, self.writer = view, writer
        self.codec = default_codec()

    async def events(self, principal: Principal, request: web.Request, audit: dict):
        if principal.kind != "provider":
            raise Refused(403, "forbidden", f"the gateway takes provider keys, not {principal.kind}")
        started = time.perf_counter()
        if (request.content_length or 0) > MAX_BYTES:
            raise Refused(413, "too_large", f"the body has {request.content_length} bytes; at most {MAX_BYTES}", "body")
        records = (await json_body(request)).get("records")
        if not isinstance(records, list) or not records:
            raise Refused(400, "bad_request", 'a JSON object {"records": [{"topic": …, "value": {…}}, …]}', "records")
        if len(records) > MAX_RECORDS:
            raise Refused(413, "too_large", f"{len(records)} records; at most {MAX_RECORDS} per request", "records")
        key = self.view.key(principal.key_id)
        allowed = set(key.topics) if key is not None else set()
        results, pending = [], []
        loop = asyncio.get_running_loop()
        for index, item in enumerate(records):
            outcome = self.check(index, item, principal.id, allowed)
            results.append(outcome)
            if outcome["status"] == "accepted":
                settled = loop.create_future()
                self.writer.send_soon(loop, outcome["topic"], outcome.pop("_key"), outcome.pop("_value"), settled)
                pending.append((outcome, settled))
        done = await asyncio.gather(*(settled for _o, settled in pending), return_exceptions=True)
        failed = [r for r in done if isinstance(r, BaseException)]
        accepted = len(pending)
        rejected = len(results) - accepted
        metrics.GATEWAY_RECORDS.labels(principal.id, "rejected").inc(rejected)
        if failed:
            metrics.GATEWAY_RECORDS.labels(principal.id, "unavailable").inc(accepted)
            error = failed[0] if isinstance(failed[0], KafkaUnavailable) else KafkaUnavailable(str(failed[0]))
            raise error
        for (outcome, _settled), (partition, offset) in zip(pending, done):
            outcome.update(partition=partition, offset=offset)
        metrics.GATEWAY_RECORDS.labels(principal.id, "accepted").inc(accepted)
        metrics.GATEWAY_SECONDS.labels(principal.id).observe(time.perf_counter() - started)
        audit.update(scope="PUBLISH", reason=f"{accepted} records accepted, {rejected} rejected")
        return (202 if accepted else 422), {"accepted": accepted, "rejected": rejected, "results": results}

    def check(self, index: int, item, provider_id: str, allowed: set[str]) -> dict:
        """One record's outcome; an accepted one carries its encoded key and value for sending."""
        def rejected(status: int, field: str, reason: str) -> dict:
            return {"index": index, "status": "rejected", "code": status, "field": field, "reason": reason}

        if not isinstance(item, dict) or not isinstance(item.get("topic"), str) or not isinstance(item.get("value"),
                                                                                                  dict):
            return rejected(400, f"records[{index}]", 'an object {"topic": …, "value": {…}}')
        topic = item["topic"]
        record = PROVIDER_TOPICS.get(topic)
        if record is None:
            return rejected(400, f"records[{index}].topic", f"unknown topic {topic[:80]!r}")
        if topic not in allowed:
            return rejected(403, f"records[{index}].topic", f"provider {provider_id} may not publish to {topic}"
                            + ("" if allowed else " (this key was given no topics)"))
        if item["value"].get("provider_id") != provider_id:
            return rejected(403, f"records[{index}].value.provider_id",
                            f"must be this key's provider, {provider_id!r}")
        try:
            typed = record_from_json(self.codec.current(record).raw, item["value"])
        except RecordError as exc:
            return rejected(400, f"records[{index}].value", f"does not fit {record}: {exc}")
        return {"index": index, "status": "accepted", "topic": topic, "event_id": typed["event_id"],
                "_key": normalise_uscc(str(typed["uscc"])).encode(), "_value": self.codec.encode(record, typed)}

