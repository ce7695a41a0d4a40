"""The provider producer: idempotent, acks=all, keyed by USCC, delivery failures counted and
explained (a refused credential or a topic the principal may not write is named as such)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from confluent_kafka import KafkaError, Producer

from creditstream.schemas.kafka import KafkaConnection

ERRORS_SHOWN = 20  # undelivered records named one by one; the rest are counted


@dataclass
class DeliveryReport:
    principal: str = "User:ANONYMOUS"  # whom Kafka sees: named when it refuses
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first ERRORS_SHOWN failures, each with where it came from
    refused: Optional[str] = None  # the broker refused the credentials: nothing will be delivered

    def __call__(self, err, msg, where: str = "") -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            if len(self.errors) < ERRORS_SHOWN:
                self.errors.append(f"{where}{': ' if where else ''}{self.explain(msg.topic(), err)}")

    def unshown(self) -> int:
        """Failures counted but not named in ``errors`` (the first ERRORS_SHOWN are named)."""
        return max(0, self.failed - ERRORS_SHOWN)

    def explain(self, topic: str, err: KafkaError) -> str:
        if err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            return f"{topic}: not authorised: {self.principal} may not write this topic (TOPIC_AUTHORIZATION_FAILED)"
        return f"{topic}: {err.str()}"

    def on_client_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION and self.refused is None:
            self.refused = f"Kafka refused {self.principal}: {err.str().split(': ', 1)[-1]}"


def provider_producer(kafka: KafkaConnection, report: DeliveryReport) -> Producer:
    report.principal = kafka.principal
    # log_level 2: a refused credential is reported once by settle(), not retried on stderr
    return Producer({**kafka.provider_producer(), "error_cb": report.on_client_error, "log_level": 2})


def produce(producer: Producer, report: DeliveryReport, topic: str, key: bytes, value: bytes, where: str = "") -> None:
    """Send one record; ``where`` (``file:line``) names it if it is not delivered."""
    callback = (lambda err, msg: report(err, msg, where)) if where else report
    while report.refused is None:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=callback)
            return
        except BufferError:  # local queue full: let deliveries drain, then retry
            producer.poll(0.5)


def settle(producer: Producer, report: DeliveryReport, timeout: float = 60.0) -> None:
    """Wait until every message is delivered or failed, the credentials are refused, or the
    timeout passes; count what is left as failed, and say why."""
    deadline = time.monotonic() + timeout
    remaining = producer.flush(0)
    while remaining and report.refused is None and time.monotonic() < deadline:
        remaining = producer.flush(0.5)
    if remaining:  # purged records get their delivery reports (failed, named) from the flush
        producer.purge()
        producer.flush(5)
        report.errors.append(f"({report.refused or f'{remaining} records still undelivered after {timeout:.0f} s'})")
