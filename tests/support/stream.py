"""Stream tests' helpers: publishing simulated traffic to the real broker and comparing the
aggregates topic with what ``creditstream replay`` computes from the same events."""
import io

from confluent_kafka import Producer

from creditstream.connectors.simulate import Simulator, event_bytes, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import AGGREGATES_TOPIC
from creditstream.streams.replay import aggregate_rows, fold_lines
from tests.support.kafka import STREAM_AS_OF as AS_OF
from tests.support.kafka import admin_kafka, latest_by_key, read_topic, wait_for

CODEC = default_codec()


def produce_all(items) -> list[tuple[str, int, int, bytes]]:
    """Send (topic, key, value) synchronously in order; return (topic, partition, offset, value)."""
    producer = Producer(admin_kafka().producer(**{"linger.ms": 5}))
    positions = []

    def delivered(err, msg):
        assert err is None, err
        positions.append((msg.topic(), msg.partition(), msg.offset(), msg.value()))

    for topic, key, value in items:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.5)
        producer.poll(0)
    assert producer.flush(60) == 0
    return positions


def replay_rows(events) -> dict[str, dict]:
    """What `creditstream replay` computes from these events, by USCC."""
    lines = [event_line(e) for e in events]
    return {r["uscc"]: r for r in aggregate_rows(fold_lines(lines, CODEC, io.StringIO()), parse_month(AS_OF))}


def simulated(enterprises, months, seed, invalid_share=0.02):
    events = list(Simulator(enterprises, months, parse_month(AS_OF), seed=seed, invalid_share=invalid_share).events())
    return events, replay_rows(events)


def publish(events):
    return produce_all([(e.topic, *event_bytes(CODEC, e)) for e in events])


def aggregates_equal(expected):
    def check():
        return latest_by_key(read_topic(AGGREGATES_TOPIC, timeout=20)) == expected
    return check


def assert_aggregates(expected, worker, timeout=180):
    try:
        wait_for(aggregates_equal(expected), timeout, "aggregates topic to equal replay", interval=2)
    except AssertionError:
        actual = latest_by_key(read_topic(AGGREGATES_TOPIC))
        missing = sorted(set(expected) - set(actual))
        wrong = [k for k in expected if k in actual and actual[k] != expected[k]]
        raise AssertionError(f"{len(missing)} missing, {len(wrong)} differ, {len(set(actual) - set(expected))} extra; "
                             f"first differing: {wrong[:1] and (expected[wrong[0]], actual[wrong[0]])}\n"
                             f"worker log:\n{worker.tail()}") from None
