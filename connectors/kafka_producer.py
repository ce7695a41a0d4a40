"""The provider producer: idempotent, acks=all, keyed by USCC, delivery failures counted."""
from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import Producer

from creditstream.settings import Settings


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


def provider_producer(settings: Settings) -> Producer:
    return Producer({
        "bootstrap.servers": settings.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        # murmur2 like the Java client and aiokafka, so a USCC lands on the same partition everywhere
        "partitioner": "murmur2_random",
        "delivery.timeout.ms": 30000,
    })


def produce(producer: Producer, report: DeliveryReport, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=report)
            return
        except BufferError:  # local queue full: let deliveries drain, then retry
            producer.poll(0.5)
