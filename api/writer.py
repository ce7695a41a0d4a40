"""Writing to Kafka from the API's event loop: a message counts as written once Kafka has
acknowledged it (acks=all, idempotent producer), and a request that needs it waits for that.

Delivery reports are served on the event loop, polled every POLL_SECONDS while anything is in
flight: a poll thread would need the GIL to hand each report over, and while the loop is busy
that waits for Python's switch interval (5 ms), which showed as a 20 ms p99 at 1,000 look-ups/s.
If Kafka cannot acknowledge within the timeout, ``send`` raises KafkaUnavailable and the request
is answered 503 with Retry-After: nothing is accepted that could then be lost.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from confluent_kafka import KafkaError, Producer

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import AUDIT_TOPIC

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge a message in time: the request that needed it must fail."""


class KafkaWriter:
    POLL_SECONDS = 0.0002

    def __init__(self, kafka: KafkaConnection, timeout_seconds: float, linger_ms: int = 0):
        self.producer = Producer(kafka.producer(**{
            "linger.ms": linger_ms, "message.timeout.ms": int(timeout_seconds * 1000), "log_level": 3}))
        self.principal = kafka.principal
        self._in_flight = 0
        self._polling = False

    def send_soon(self, loop: asyncio.AbstractEventLoop, topic: str, key: Optional[bytes], value: bytes,
                  settled: asyncio.Future) -> None:
        """Produce now; ``settled`` gets (partition, offset) once acknowledged, or KafkaUnavailable."""
        def delivered(err: KafkaError | None, message) -> None:  # inside producer.poll, on the loop
            self._in_flight -= 1
            if settled.done():
                return
            if err is None:
                settled.set_result((message.partition(), message.offset()))
            else:
                if err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:  # a deployment fault, not a busy broker
                    log.error("%s may not write %s: give it its ACLs (`creditstream kafka setup`)", self.principal,
                              topic)
                settled.set_exception(KafkaUnavailable(f"{topic}: not acknowledged: {err.str()}"))

        try:
            self.producer.produce(topic, value, key, on_delivery=delivered)
        except Exception as exc:  # local queue full, or the producer is gone
            settled.set_exception(KafkaUnavailable(f"{topic}: not queued: {exc}"))
            return
        self._in_flight += 1
        if not self._polling:
            self._polling = True
            loop.call_later(self.POLL_SECONDS, self._poll, loop)

    async def send(self, topic: str, key: Optional[bytes], value: bytes) -> tuple[int, int]:
        """(partition, offset) once Kafka acknowledged the message; KafkaUnavailable otherwise."""
        loop = asyncio.get_running_loop()
        settled = loop.create_future()
        self.send_soon(loop, topic, key, value, settled)
        return await settled

    def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        self.producer.poll(0)
        if self._in_flight:
            loop.call_later(self.POLL_SECONDS, self._poll, loop)
        else:
            self._polling = False

    def connect(self, topic: str = AUDIT_TOPIC, timeout: float = 10.0) -> None:
        """Open the connection and learn the topic's leaders now (blocking: run it off the event
        loop), so the first look-up does not wait for them: measured, the first acknowledged send
        of a fresh producer took 1.6 s, the next ones ~1 ms (benchmarks/audit_ack.py)."""
        try:
            self.producer.list_topics(topic, timeout=timeout)
        except Exception as exc:  # the broker away: the first send will connect, or fail with 503
            log.warning("the Kafka writer could not connect ahead of its first send: %s", exc)

    def close(self, timeout: float = 10.0) -> None:
        self.producer.flush(timeout)


class MemoryWriter:
    """KafkaWriter's contract without Kafka, for the API's behaviour tests: every message is
    "acknowledged" on the next turn of the loop at the next offset of its topic (one partition),
    and kept in ``messages``; ``unavailable = True`` makes every send fail as Kafka's would."""

    def __init__(self):
        self.messages: list[tuple[str, Optional[bytes], bytes]] = []
        self.unavailable = False

    def send_soon(self, loop: asyncio.AbstractEventLoop, topic: str, key: Optional[bytes], value: bytes,
                  settled: asyncio.Future) -> None:
        if self.unavailable:
            loop.call_soon(settled.set_exception, KafkaUnavailable(f"{topic}: not acknowledged (no Kafka)"))
            return
        offset = sum(1 for t, _, _ in self.messages if t == topic)
        self.messages.append((topic, key, value))
        loop.call_soon(lambda: settled.done() or settled.set_result((0, offset)))

    async def send(self, topic: str, key: Optional[bytes], value: bytes) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        settled = loop.create_future()
        self.send_soon(loop, topic, key, value, settled)
        return await settled

    def on(self, topic: str) -> list[bytes]:
        """The values sent to ``topic``, in order."""
        return [value for t, _, value in self.messages if t == topic]

    def connect(self, topic: str = "", timeout: float = 0.0) -> None:
        pass

    def close(self, timeout: float = 10.0) -> None:
        pass
