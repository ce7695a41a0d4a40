"""What the worker does with one provider message (CreditStream.handle), in-process with its
producer replaced by a recorder: Kafka itself is covered by test_stream_kafka.py."""
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.kafka import partition_for
from creditstream.schemas.models import DeadLetter
from creditstream.schemas.topics import DEAD_LETTER_TOPIC, NORMALIZED_TOPIC, REPARTITION_TOPIC
from creditstream.settings import Settings
from creditstream.streams import app as stream_app
from tests.support.builders import USCC, statement

WATER = "credit.utility.water.v1"


class Recorder:
    def __init__(self):
        self.sent = []

    def send(self, topic, key, value, timestamp_ms=0, headers=None, partition=-1):
        self.sent.append((topic, key, value))


@pytest.fixture
def stream():
    settings = Settings(personal_data_key="test-key", kafka_username="worker", kafka_password="unused")
    stream = stream_app.CreditStream(settings.stream(), clock=lambda: dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc),
                                     output=Recorder())
    stream.router.assigned({WATER: 4})
    return stream


def message(value: bytes, partition: int, offset: int = 7):
    return SimpleNamespace(topic=WATER, partition=partition, offset=offset, timestamp=1.5, key=USCC.encode(),
                           value=value)


def water_bytes(**changes) -> bytes:
    record, value = statement("water", "W1", "2025-06", "10", "41.00")
    return default_codec().encode(record, {**value, **changes})


def test_a_valid_event_on_its_ledger_partition_is_forwarded_and_folded(stream):
    stream.handle(message(water_bytes(uscc=f" {USCC.lower()} "), partition_for(USCC.encode(), 4)))
    (topic, key, value), = stream.output.sent
    assert (topic, key) == (NORMALIZED_TOPIC, USCC.encode())
    assert default_codec().decode(value)[1]["uscc"] == USCC  # normalised
    assert stream.state.unpersisted and stream.folded == 1


def test_a_valid_event_on_another_partition_is_rekeyed(stream):
    stream.handle(message(water_bytes(), (partition_for(USCC.encode(), 4) + 1) % 4))
    assert [topic for topic, _k, _v in stream.output.sent] == [NORMALIZED_TOPIC, REPARTITION_TOPIC]
    assert stream.folded == 0


def test_an_invalid_event_is_a_dead_letter_with_its_reason_and_position(stream):
    stream.handle(message(water_bytes(usage=Decimal("-1.000")), 0, offset=42))
    (topic, key, value), = stream.output.sent
    letter = DeadLetter.from_bytes(value)
    assert (topic, key) == (DEAD_LETTER_TOPIC, f"{WATER}:0:42".encode())
    assert (letter.reason, letter.source_offset) == ("NEGATIVE_USAGE", 42)


def test_a_platform_error_while_validating_is_counted_as_internal_not_as_the_providers(stream, monkeypatch):
    def broken(record, value, *args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(stream_app, "accept", broken)
    before = metrics.DEAD_LETTERS.labels("INTERNAL")._value.get()
    stream.handle(message(water_bytes(), 0))
    letter = DeadLetter.from_bytes(stream.output.sent[0][2])
    assert letter.reason == "INTERNAL" and "ZeroDivisionError" in letter.message
    assert metrics.DEAD_LETTERS.labels("INTERNAL")._value.get() == before + 1


def test_per_event_counts_reach_prometheus_exactly_at_the_flush(stream):
    consumed = metrics.EVENTS_CONSUMED.labels(WATER)
    aggregated = metrics.EVENTS_AGGREGATED
    before = (consumed._value.get(), aggregated._value.get())
    for offset in range(3):
        stream.handle(message(water_bytes(event_id=f"tally-{offset}"), partition_for(USCC.encode(), 4), offset))
    assert (consumed._value.get(), aggregated._value.get()) == before  # tallied, not yet added
    stream.tally.flush()
    assert (consumed._value.get(), aggregated._value.get()) == (before[0] + 3, before[1] + 3)
    stream.tally.flush()  # nothing counted twice
    assert consumed._value.get() == before[0] + 3


def test_a_worker_reading_a_backlog_persists_less_often(stream):
    import time
    assert stream.persist_interval() == stream.config.persist_seconds  # nothing changed: steady state
    stream.state.unpublished[USCC.encode()] = time.time() - 60  # the newest change was produced a minute ago
    assert stream.publisher.catching_up()
    assert stream.persist_interval() == max(stream.config.persist_seconds, stream.config.catch_up_persist_seconds) == 20
    stream.state.unpublished[USCC.encode()] = time.time()  # caught up: events arrive as produced
    assert not stream.publisher.catching_up() and stream.persist_interval() == stream.config.persist_seconds


def test_a_checkpoint_is_brought_forward_once_enough_ledgers_changed(stream):
    """Changed ledgers stay in memory until written: their size must bound memory, not the clock.
    While a backlog is read, reaching the bound only frees memory; the interval's round is full."""
    import time

    from creditstream.streams.config import MIB
    from creditstream.streams.ledger import Ledger, heap_estimate
    limit = stream.config.unpersisted_ledgers_mib * MIB
    assert stream.checkpoint_due(since_last=0.0) is None
    assert stream.checkpoint_due(since_last=stream.persist_interval()) == "full"
    ledger = Ledger(stored_bytes=20_000)  # as a long ledger read from the store: ~34 KB estimated
    for i in range(limit // heap_estimate(ledger)):
        stream.state.mark_changed(f"k{i}".encode(), ledger)
    assert stream.state.unpersisted_bytes < limit and stream.checkpoint_due(since_last=0.0) is None
    stream.state.mark_changed(b"one-more", ledger)
    assert stream.state.unpersisted_bytes >= limit and stream.checkpoint_due(since_last=0.0) == "full"
    stream.state.unpublished[USCC.encode()] = time.time() - 60  # catching up
    assert stream.checkpoint_due(since_last=0.0) == "free memory"
    assert stream.checkpoint_due(since_last=0.0, quiet=True) == "full"  # the backlog is read: rows now
    assert stream.checkpoint_due(since_last=stream.persist_interval()) == "full"


def test_public_records_leave_for_the_province_masked_and_consented_ones_never(stream):
    from creditstream.schemas.topics import OUTBOUND_PUBLIC_TOPIC, TOPIC_OF
    from tests.support.builders import penalty
    codec = default_codec()
    record, value = penalty("P-OUT", "2025-03-01")
    clear = value["legal_rep_id_no"]
    stream.handle(SimpleNamespace(topic=TOPIC_OF[record], partition=0, offset=1, timestamp=1.5, key=USCC.encode(),
                                  value=codec.encode(record, value)))
    outbound = [v for topic, _k, v in stream.output.sent if topic == OUTBOUND_PUBLIC_TOPIC]
    assert len(outbound) == 1
    name, sent = codec.decode(outbound[0])
    assert name == "AdminPenalty" and sent["decision_no"] == "P-OUT"
    assert clear and clear.encode() not in outbound[0] and sent["legal_rep_id_no"] != clear  # masked
    stream.output.sent.clear()
    stream.handle(message(water_bytes(), partition_for(USCC.encode(), 4)))
    assert OUTBOUND_PUBLIC_TOPIC not in [topic for topic, _k, _v in stream.output.sent]  # UTILITY: consent-scoped
