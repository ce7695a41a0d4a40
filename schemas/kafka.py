"""How every process of the platform talks to Kafka: one connection description, one producer
profile per role, and the partitioning convention (a USCC lands on the same partition whoever
writes it: the provider, the worker, Faust or the Java client)."""
from __future__ import annotations

from dataclasses import dataclass

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, librdkafka murmur2, aiokafka) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str

    def client(self) -> dict:
        """What every librdkafka client (producer, consumer, admin) needs to connect."""
        return {"bootstrap.servers": self.bootstrap_servers}

    def faust_broker(self) -> str:
        return f"kafka://{self.bootstrap_servers}"

    def producer(self, **overrides) -> dict:
        """Idempotent (acks=all, no duplicates or reordering from retries), murmur2-partitioned."""
        return {**self.client(), "enable.idempotence": True, "acks": "all",
                "partitioner": "murmur2_random", **overrides}

    def provider_producer(self) -> dict:
        """Providers' bulk traffic (publish, simulate): batched and compressed."""
        return self.producer(**{"linger.ms": 20, "compression.type": "lz4", "delivery.timeout.ms": 30000})

    def worker_producer(self, linger_ms: int, on_delivery) -> dict:
        """The worker's hot path: a large local queue, and a Python callback only for failures."""
        return self.producer(**{"linger.ms": linger_ms, "queue.buffering.max.messages": 1_000_000,
                                "delivery.report.only.error": True, "on_delivery": on_delivery})

    def consumer(self, group_id: str, **overrides) -> dict:
        return {**self.client(), "group.id": group_id, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", **overrides}
