"""The worker's producer against the real broker: a local queue bounded in bytes fills and drains
without losing a message (streams.output)."""
import asyncio

from prometheus_client import REGISTRY

from creditstream.monitoring import metrics
from creditstream.schemas.topics import AGGREGATES_TOPIC
from creditstream.streams.output import Output
from tests.support.kafka import read_topic


def queued() -> float:
    return REGISTRY.get_sample_value("creditstream_output_queued_messages")


def test_a_full_local_queue_makes_the_worker_wait_and_every_message_arrives(kafka_settings):
    output = Output(kafka_settings.stream().kafka, linger_ms=10, queue_mib=1)
    waited = metrics.OUTPUT_QUEUE_FULL._value.get()
    value = b"x" * 20_000
    for n in range(200):  # 4 MB through a 1 MiB queue
        output.send(AGGREGATES_TOPIC, b"%018d" % n, value)
    assert queued() > 0
    asyncio.run(output.flush())
    assert metrics.OUTPUT_QUEUE_FULL._value.get() > waited  # the queue did fill
    assert queued() == 0
    arrived = {m.key() for m in read_topic(AGGREGATES_TOPIC) if m.value() == value}
    assert arrived == {b"%018d" % n for n in range(200)}
