"""The worker's hot-path producer: normalised events, re-keyed events, aggregate rows and dead
letters go through librdkafka (confluent-kafka), a few µs per message where Faust's own producer
costs tens of µs in Python.

Nothing upstream is acknowledged until ``flush()`` has confirmed every message produced before
it (see streams.checkpoint): a message that cannot be delivered makes the worker
exit, and its source events are processed again from the last committed offset.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

from confluent_kafka import KafkaError, Producer

from creditstream.monitoring import metrics
from creditstream.schemas.kafka import KafkaConnection

log = logging.getLogger("creditstream.output")


class DeliveryFailed(RuntimeError):
    pass


class Output:
    """Two producers: the hot path, which reports failures only (a Python callback per message
    measurably costs throughput), and one for the ledger changelog, which reports every delivery
    with its offset, so the local table store can record how far the changelog it holds goes."""

    def __init__(self, kafka: KafkaConnection, linger_ms: int, queue_mib: int):
        """``queue_mib``: the most each producer holds not yet acknowledged (``_produce`` waits)."""
        self.failures: list[str] = []
        self.producer = Producer(kafka.worker_producer(linger_ms, self._on_delivery, queue_mib))
        self.tracked = Producer(kafka.worker_producer(linger_ms, self._on_delivery, queue_mib,
                                                      **{"delivery.report.only.error": False}))
        metrics.OUTPUT_QUEUED.set_function(lambda: len(self.producer) + len(self.tracked))

    def send(self, topic: str, key: bytes, value: bytes, timestamp_ms: int = 0, headers=None,
             partition: int = -1, delivered: Optional[Callable[[int, int], None]] = None) -> None:
        """Queue one message; partition -1 lets the murmur2 partitioner place it by key.
        ``delivered(partition, offset)`` is called once the broker has it (from ``poll``/``flush``)."""
        if delivered is None:
            self._produce(self.producer, topic, value, key, partition, timestamp=timestamp_ms, headers=headers)
            return

        def on_delivery(err: KafkaError | None, message) -> None:
            if err is not None:
                self._on_delivery(err, message)
            else:
                delivered(message.partition(), message.offset())
        self._produce(self.tracked, topic, value, key, partition, timestamp=timestamp_ms, headers=headers,
                      on_delivery=on_delivery)

    @staticmethod
    def _produce(producer: Producer, *args, **kwargs) -> None:
        while True:
            try:
                producer.produce(*args, **kwargs)
                return
            except BufferError:  # local queue full: let librdkafka drain it
                metrics.OUTPUT_QUEUE_FULL.inc()
                producer.poll(0.05)

    def _on_delivery(self, err: KafkaError | None, message) -> None:
        if err is not None:
            self.failures.append(f"{message.topic()}: {err.str()}")

    def poll(self) -> None:
        self.producer.poll(0)
        self.tracked.poll(0)

    async def flush(self, timeout: float = 60.0) -> None:
        """Wait until every message produced so far is acknowledged by the broker; raise
        DeliveryFailed if one of them was not."""
        loop = asyncio.get_running_loop()
        remaining = sum(await asyncio.gather(loop.run_in_executor(None, self.producer.flush, timeout),
                                             loop.run_in_executor(None, self.tracked.flush, timeout)))
        if remaining or self.failures:
            raise DeliveryFailed(f"{remaining} messages undelivered after {timeout:.0f} s; "
                                 f"failures: {self.failures[:3]}")
