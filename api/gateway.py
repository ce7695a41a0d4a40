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

``POST /v1/providers/files`` takes a whole export instead: CSV (``?topic=``) or JSON Lines, read
by the same reader as ``creditstream publish`` (schemas.exports). The body is streamed to a
spool file (memory up to 8 MiB, then disk), read FILE_CHUNK records at a time, and each chunk is
acknowledged by Kafka before the next is read; the answer names every rejected line.

The stream's own rules (USCC check character, periods, amounts…) still run in the worker:
a record the schema accepts but a rule refuses goes to the dead-letter topic with the reason,
exactly as if it came through Kafka.
"""
from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from typing import Optional

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import json_body
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaUnavailable, KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.exports import check_topic, read_export
from creditstream.schemas.records import RecordError, record_from_json
from creditstream.schemas.topics import PROVIDER_TOPICS, PUSHABLE_TOPICS
from creditstream.schemas.uscc import normalise_uscc

MAX_RECORDS = 1000  # per request: more is 413
MAX_BYTES = 8 * 1024 * 1024  # a request body larger than this is 413 before it is read
MAX_FILE_BYTES = 256 * 1024 * 1024  # an uploaded export larger than this is 413
FILE_CHUNK = 1000  # export records parsed, sent and acknowledged at a time
MAX_REJECTIONS_LISTED = 10_000  # an answer lists at most this many rejected lines (and says so)
FILE_FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                "application/json-lines": "jsonl", "application/x-jsonlines": "jsonl"}


class Gateway:
    def __init__(self, view: ServingView, writer: KafkaWriter):
        self.view, self.writer = view, writer
        self.codec = default_codec()

    def allowed_topics(self, principal: Principal) -> set[str]:
        """The topics a provider's key may push to."""
        key = self.view.key(principal.key_id)
        return set(key.topics) if key is not None else set()

    @staticmethod
    async def acknowledged(provider_id: str, sent: list[asyncio.Future]) -> list[tuple[int, int]]:
        """(partition, offset) of each sent record once Kafka acknowledged them all; if it could
        not acknowledge one, KafkaUnavailable (503), and the records count as unavailable."""
        done = await asyncio.gather(*sent, return_exceptions=True)
        failed = [r for r in done if isinstance(r, BaseException)]
        if failed:
            metrics.GATEWAY_RECORDS.labels(provider_id, "unavailable").inc(len(sent))
            raise failed[0] if isinstance(failed[0], KafkaUnavailable) else KafkaUnavailable(str(failed[0]))
        return done

    async def events(self, principal: Principal, request: web.Request, audit: dict):
        allowed = self.allowed_topics(principal)
        started = time.perf_counter()
        if (request.content_length or 0) > MAX_BYTES:
            raise ApiError(413, "too_large", f"the body has {request.content_length} bytes; at most {MAX_BYTES}", "body")
        records = (await json_body(request)).get("records")
        if not isinstance(records, list) or not records:
            raise ApiError(400, "bad_request", 'a JSON object {"records": [{"topic": …, "value": {…}}, …]}', "records")
        if len(records) > MAX_RECORDS:
            raise ApiError(413, "too_large", f"{len(records)} records; at most {MAX_RECORDS} per request", "records")
        results, pending = [], []
        loop = asyncio.get_running_loop()
        for index, item in enumerate(records):
            outcome = self.check(index, item, principal.id, allowed)
            results.append(outcome)
            if outcome["status"] == "accepted":
                settled = loop.create_future()
                self.writer.send_soon(loop, outcome["topic"], outcome.pop("_key"), outcome.pop("_value"), settled)
                pending.append((outcome, settled))
        accepted = len(pending)
        rejected = len(results) - accepted
        metrics.GATEWAY_RECORDS.labels(principal.id, "rejected").inc(rejected)
        done = await self.acknowledged(principal.id, [settled for _o, settled in pending])
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
        refused = refusal(topic, item["value"].get("provider_id"), provider_id, allowed)
        if refused:
            return rejected(403, f"records[{index}].{refused[0]}", refused[1])
        try:
            typed = record_from_json(self.codec.current(record).raw, item["value"])
        except RecordError as exc:
            return rejected(400, f"records[{index}].value", f"does not fit {record}: {exc}")
        return {"index": index, "status": "accepted", "topic": topic, "event_id": typed["event_id"],
                "_key": normalise_uscc(str(typed["uscc"])).encode(), "_value": self.codec.encode(record, typed)}


    async def files(self, principal: Principal, request: web.Request, audit: dict):
        """A provider export (CSV or JSON Lines), streamed; every rejected line named by number."""
        allowed = self.allowed_topics(principal)
        started = time.perf_counter()
        csv_format = self.file_format(request)
        topic = request.query.get("topic") or None
        try:
            check_topic(topic, csv_format)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc), "topic") from None
        if (request.content_length or 0) > MAX_FILE_BYTES:
            raise ApiError(413, "too_large", f"the file has {request.content_length} bytes; at most {MAX_FILE_BYTES}",
                           "body")
        with await self.receive(request) as spool:
            upload = FileUpload(principal.id, allowed)
            records = read_export(spool, self.codec, topic, csv_format, "the file")
            loop = asyncio.get_running_loop()
            while chunk := await loop.run_in_executor(None, next_chunk, records):
                await self.send_chunk(loop, upload, chunk)
        metrics.GATEWAY_RECORDS.labels(principal.id, "rejected").inc(len(upload.rejections))
        metrics.GATEWAY_RECORDS.labels(principal.id, "accepted").inc(upload.accepted)
        metrics.GATEWAY_SECONDS.labels(principal.id).observe(time.perf_counter() - started)
        audit.update(scope="PUBLISH", reason=f"file: {upload.accepted} records accepted, "
                                             f"{len(upload.rejections)} rejected")
        return (202 if upload.accepted else 422), upload.answer()

    @staticmethod
    def file_format(request: web.Request) -> bool:
        """True for CSV, False for JSON Lines: ``?format=csv|jsonl``, else the Content-Type."""
        chosen = request.query.get("format") or FILE_FORMATS.get(request.content_type)
        if chosen not in ("csv", "jsonl"):
            raise ApiError(400, "bad_request", "say the format: ?format=csv or ?format=jsonl, or Content-Type "
                                              "text/csv or application/x-ndjson", "format")
        return chosen == "csv"

    @staticmethod
    async def receive(request: web.Request) -> tempfile.SpooledTemporaryFile:
        """The body into a spool file as it arrives (413 once it exceeds MAX_FILE_BYTES)."""
        spool = tempfile.SpooledTemporaryFile(max_size=MAX_BYTES)
        received = 0
        async for block in request.content.iter_chunked(1 << 16):
            received += len(block)
            if received > MAX_FILE_BYTES:
                spool.close()
                raise ApiError(413, "too_large", f"the file exceeds {MAX_FILE_BYTES} bytes", "body")
            spool.write(block)
        spool.seek(0)
        return spool

    async def send_chunk(self, loop, upload: "FileUpload", chunk: list) -> None:
        """Check, send, and wait until Kafka acknowledged this chunk's records (503 if it cannot)."""
        pending = []
        for item in chunk:
            if isinstance(item, ApiError):  # the file itself cannot be read on (a CSV header)
                raise item
            if item.error:
                upload.reject(item.line, 400, "value" if item.topic else "line", item.error)
                continue
            refused = refusal(item.topic, item.value["provider_id"], upload.provider_id, upload.allowed)
            if refused:
                upload.reject(item.line, 403, refused[0], refused[1])
                continue
            settled = loop.create_future()
            self.writer.send_soon(loop, item.topic, normalise_uscc(str(item.value["uscc"])).encode(),
                                  self.codec.encode(item.record, item.value), settled)
            pending.append((item.topic, settled))
        done = await self.acknowledged(upload.provider_id, [settled for _t, settled in pending])
        for (topic, _settled), (partition, offset) in zip(pending, done):
            upload.landed(topic, partition, offset)


def refusal(topic: str, record_provider, provider_id: str, allowed: set[str]) -> Optional[tuple[str, str]]:
    """(field, reason) when a provider's key may not push this record: a topic it was not given, or
    a record in another provider's name."""
    if topic not in allowed or topic not in PUSHABLE_TOPICS:  # a key made before consent was excluded
        return "topic", (f"provider {provider_id} may not publish to {topic}"
                         + ("" if allowed else " (this key was given no topics)"))
    if record_provider != provider_id:
        return "value.provider_id", f"must be this key's provider, {provider_id!r}"
    return None


def next_chunk(records) -> list:
    """The next FILE_CHUNK records of an export (in a worker thread: parsing is CPU work); a file
    that cannot be read on ends with an ApiError instead."""
    try:
        return list(itertools.islice(records, FILE_CHUNK))
    except ValueError as exc:
        return [ApiError(400, "bad_request", str(exc), "body")]


class FileUpload:
    """What became of an uploaded export so far."""

    def __init__(self, provider_id: str, allowed: set[str]):
        self.provider_id, self.allowed = provider_id, allowed
        self.accepted = 0
        self.rejections: list[dict] = []
        self.spans: dict[tuple[str, int], list[int]] = {}  # (topic, partition) -> [first, last offset, count]

    def reject(self, line: int, code: int, field: str, reason: str) -> None:
        self.rejections.append({"line": line, "code": code, "field": field, "reason": reason})

    def landed(self, topic: str, partition: int, offset: int) -> None:
        self.accepted += 1
        span = self.spans.setdefault((topic, partition), [offset, offset, 0])
        span[0], span[1], span[2] = min(span[0], offset), max(span[1], offset), span[2] + 1

    def answer(self) -> dict:
        return {"accepted": self.accepted, "rejected": len(self.rejections),
                "rejections": self.rejections[:MAX_REJECTIONS_LISTED],
                "rejections_truncated": len(self.rejections) > MAX_REJECTIONS_LISTED,
                "partitions": [{"topic": t, "partition": p, "first_offset": first, "last_offset": last, "records": n}
                               for (t, p), (first, last, n) in sorted(self.spans.items())]}
