"""The look-up audit: one record per request on credit.audit.v1, acknowledged by Kafka (acks=all,
idempotent) before the answer leaves. Records of concurrent look-ups travel in the same produce
request (librdkafka batches them for ``linger.ms``), which is the group commit: an audit costs a
share of one round trip instead of a ClickHouse insert each. The sink stores the records in
``lookup_audit``; a re-delivered record has the same request id, so it is stored once.

If Kafka cannot acknowledge within the timeout, the look-up is answered 503 and nothing else: an
answer whose audit record could be lost is never sent.
"""
from __future__ import annotations

import asyncio
import logging
import threading

from confluent_kafka import KafkaError, Producer

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import AUDIT_TOPIC

log = logging.getLogger("creditstream.api.audit")


class AuditUnavailable(RuntimeError):
    """The audit record was not acknowledged: the answer must not leave."""


class AuditLog:
    def __init__(self, kafka: KafkaConnection, timeout_seconds: float, linger_ms: int = 1):
        self.producer = Producer(kafka.producer(**{
            "linger.ms": linger_ms, "message.timeout.ms": int(timeout_seconds * 1000),
            "queue.buffering.max.messages": 200_000, "log_level": 3}))
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="api-audit-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Serve delivery reports as they arrive (poll returns as soon as one is served)."""
        while not self._stopping.is_set():
            self.producer.poll(0.05)

    async def write(self, row: LookupAuditRow) -> None:
        """Return once Kafka has acknowledged the record; raise AuditUnavailable otherwise."""
        loop = asyncio.get_running_loop()
        settled = loop.create_future()

        def delivered(err: KafkaError | None, _message) -> None:  # on the poll thread
            loop.call_soon_threadsafe(_settle, settled, err)

        try:
            self.producer.produce(AUDIT_TOPIC, row.to_bytes(), row.uscc.encode(), on_delivery=delivered)
        except (BufferError, Exception) as exc:  # queue full, or the producer is gone
            raise AuditUnavailable(f"audit record not queued: {exc}") from None
        await settled

    def close(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._poller.join(5)
        self.producer.flush(timeout)


def _settle(future: asyncio.Future, err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(AuditUnavailable(f"audit record not acknowledged: {err.str()}"))
