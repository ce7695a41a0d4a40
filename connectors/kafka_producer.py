"""The provider producer: idempotent, acks=all, keyed by USCC, delivery failures counted."""
from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import Producer

from creditstream.schemas.kafka import KafkaConnection


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            if len(self.errors) < 20:
                self.errors.append(f"{msg.topic()}: {err.str()}")


def provider_producer(kafka: KafkaConnection) -> Producer:
    return Producer(kafka.provider_producer())


def produce(producer: Producer, report: DeliveryReport, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=report)
            return
        except BufferError:  # local queue full: let deliveries drain, then retry
            producer.poll(0.5)
