"""Every offset of an input partition reaches the worker's handlers (streams.continuity): the
bookkeeping, the agent's order with a hole read back, and the broker reads against the real broker."""
import asyncio
import datetime as dt
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from faust.types import TP, Message

from creditstream.schemas.topics import FINANCE_TOPICS
from creditstream.settings import Settings
from creditstream.streams import app as stream_app
from creditstream.streams.continuity import Continuity, partition_heads, read_back
from tests.support.kafka import TEST_APP_PREFIX, read_topic, service_kafka
from tests.support.stream import produce_all

WATER = "credit.utility.water.v1"
TP0 = TP(WATER, 0)


def test_consecutive_offsets_owe_nothing_and_a_skip_names_exactly_the_offsets_passed_over():
    continuity = Continuity()
    assert [continuity.missing(TP0, offset) for offset in (7, 8, 9)] == [None, None, None]
    assert continuity.missing(TP0, 12) == range(10, 12)
    assert continuity.missing(TP0, 13) is None  # the expectation moved past the hole


def test_an_offset_read_again_after_a_seek_owes_nothing_and_keeps_the_expectation():
    continuity = Continuity()
    for offset in range(5):
        continuity.missing(TP0, offset)
    assert continuity.missing(TP0, 2) is None
    assert continuity.missing(TP0, 6) == range(5, 6)


def test_a_first_message_past_the_partitions_head_is_a_hole_too_and_heads_do_not_move_a_partition_being_read():
    continuity = Continuity()
    continuity.missing(TP(WATER, 1), 40)  # read before the heads came back
    continuity.start({TP0: 100, TP(WATER, 1): 30})
    assert continuity.missing(TP0, 101) == range(100, 101)  # the head itself never arrived
    assert continuity.missing(TP(WATER, 1), 41) is None
    continuity.reset()
    assert continuity.missing(TP0, 500) is None  # after a rebalance: no expectation until told


def faust_message(offset: int, topic: str = WATER, partition: int = 0, generation: int = 0) -> Message:
    """As Faust's consumer makes it: stamped with the consumer group generation it was fetched in
    (the app's before any rebalance is 0)."""
    return Message(topic, partition, offset, 1.5, 0, [], b"k", b"v%d" % offset, None, generation_id=generation)


class Event:
    def __init__(self, message):
        self.message, self.acked = message, False

    def ack(self):
        self.acked = True
        return True


class Delivered:
    """What the agent iterates: Faust's manual-ack stream, delivering ``offsets`` in order, in
    batches of ``batch`` (``noack_take``); ``generations``: offset -> the generation it was fetched in."""

    def __init__(self, offsets, batch: int = 2, generations: dict | None = None):
        self.events = [Event(faust_message(offset, generation=(generations or {}).get(offset, 0)))
                       for offset in offsets]
        self.batch = batch

    async def noack_take(self, max_: int, within: float):
        assert max_ >= 1 and within > 0
        for start in range(0, len(self.events), self.batch):
            yield self.events[start:start + self.batch]


@pytest.fixture
def worker():
    settings = Settings(personal_data_key="test-key", kafka_username="worker", kafka_password="unused")
    return stream_app.CreditStream(settings.stream(), clock=lambda: dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc))


def test_the_agent_hands_the_offsets_read_back_before_the_one_after_the_hole(worker, monkeypatch):
    asked = []

    def broker(kafka, group, tp, offsets):
        asked.append((tp, offsets))
        return [faust_message(offset) for offset in offsets]

    monkeypatch.setattr(stream_app, "read_back", broker)
    handled = []
    agent = worker.acknowledged_by_checkpoint(lambda message: handled.append(message.offset))
    asyncio.run(agent(Delivered([0, 1, 2, 5, 6])))
    assert asked == [(TP0, range(3, 5))]
    assert handled == [0, 1, 2, 3, 4, 5, 6]
    assert list(worker.checkpoint.pending.offsets[TP0]) == handled  # acknowledged in order once persisted


def test_a_rebalance_while_reading_back_leaves_the_event_after_the_hole_unhandled(worker, monkeypatch):
    def broker(kafka, group, tp, offsets):
        worker.checkpoint.rebalanced()  # the partitions moved meanwhile
        return [faust_message(offset) for offset in offsets]

    monkeypatch.setattr(stream_app, "read_back", broker)
    handled = []
    agent = worker.acknowledged_by_checkpoint(lambda message: handled.append(message.offset))
    asyncio.run(agent(Delivered([0, 3])))
    assert handled == [0] and len(worker.checkpoint.pending) == 0


def test_a_broker_that_cannot_read_the_hole_back_stops_the_worker(worker, monkeypatch):
    def broker(kafka, group, tp, offsets):
        raise TimeoutError("no broker")

    fatal = []
    monkeypatch.setattr(stream_app, "read_back", broker)
    monkeypatch.setattr(worker, "on_fatal", fatal.append)
    handled = []
    asyncio.run(worker.acknowledged_by_checkpoint(lambda message: handled.append(message.offset))(Delivered([0, 2])))
    assert handled == [0]
    assert "credit.utility.water.v1[0] offsets 1-1 never reached" in fatal[0] and "no broker" in fatal[0]


def test_an_event_fetched_before_a_rebalance_is_left_to_be_read_again(worker):
    """A batch can hold events buffered before the group rebalanced: as Faust's own stream does,
    the agent passes over those of an older generation (they were never acknowledged, so they are
    read again from their committed offset), and handles the rest."""
    worker.app.consumer_generation_id = 3
    handled = []
    agent = worker.acknowledged_by_checkpoint(lambda message: handled.append(message.offset))
    asyncio.run(agent(Delivered([0, 1, 2, 3], batch=4, generations={0: 2, 1: 2, 2: 3, 3: 3})))
    assert handled == [2, 3]
    assert list(worker.checkpoint.pending.offsets[TP0]) == [2, 3]


def test_the_loan_loops_agent_is_checked_too(worker):
    assert set(FINANCE_TOPICS) <= worker.checked_topics


# -- against the broker ----------------------------------------------------------------------------
def test_read_back_returns_the_records_of_the_hole_as_faust_messages(kafka_settings):
    produce_all([(WATER, b"same-key", b"record-%d" % n) for n in range(6)])
    partition = next(m.partition() for m in read_topic(WATER))
    kafka = service_kafka("worker")
    messages = read_back(kafka, f"{TEST_APP_PREFIX}read-back", TP(WATER, partition), range(2, 5))
    assert [(m.offset, m.value, m.key) for m in messages] == [(n, b"record-%d" % n, b"same-key") for n in (2, 3, 4)]
    assert all(m.tp == TP(WATER, partition) and m.timestamp > 0 for m in messages)
    # a hole reaching the end of the log returns what there is, without waiting for more
    started = time.monotonic()
    assert [m.offset for m in read_back(kafka, f"{TEST_APP_PREFIX}read-back", TP(WATER, partition), range(5, 9))] \
        == [5]
    assert time.monotonic() - started < 10


def test_partition_heads_are_the_committed_offsets_or_the_log_start(kafka_settings):
    produce_all([(WATER, b"same-key", b"record-%d" % n) for n in range(4)])
    partition = next(m.partition() for m in read_topic(WATER))
    group = f"{TEST_APP_PREFIX}heads-{time.time_ns()}"
    kafka = service_kafka("worker")
    tps = [TP(WATER, p) for p in range(4)]
    assert partition_heads(kafka, group, tps) == {TP(WATER, partition): 0}  # nothing committed: the log start
    committer = Consumer(kafka.consumer(group))
    committer.commit(offsets=[TopicPartition(WATER, partition, 3)], asynchronous=False)
    committer.close()
    assert partition_heads(kafka, group, tps) == {TP(WATER, partition): 3}



def test_faust_s_consumer_thread_hears_that_each_partition_s_stream_takes_events(worker):
    """Faust's consumer thread logs "Stream has not started processing" at ERROR for a partition
    whose stream, by its Monitor sensor's ``stream_inbound_time``, never took an event, once the
    worker has been behind for ``stream_processing_timeout``. The app drops that sensor, so the
    agent tells it each batch's partitions (before, a worker catching up logged it every few seconds)."""
    worker.app.on_init_dependencies()  # where Faust adds its sensors as the app starts
    assert worker.app.monitor not in list(worker.app.sensors)
    agent = worker.acknowledged_by_checkpoint(lambda message: None)
    before = time.monotonic()
    asyncio.run(agent(Delivered([0, 1, 2])))
    assert worker.app.monitor.stream_inbound_time[TP0] >= before


def test_the_finance_agent_tells_faust_s_consumer_thread_too(worker, monkeypatch):
    finance = next(iter(FINANCE_TOPICS))
    folded = []

    async def fold_finance(message):
        folded.append(message.offset)

    class Stream:  # Faust's stream as the finance agent iterates it, event by event
        async def events(self):
            for offset in (0, 1):
                yield Event(faust_message(offset, topic=finance))

    monkeypatch.setattr(worker, "fold_finance", fold_finance)
    before = time.monotonic()
    asyncio.run(worker.finance_agent(Stream()))
    assert folded == [0, 1]
    assert worker.app.monitor.stream_inbound_time[TP(finance, 0)] >= before


def test_a_rebalance_is_timed_and_warns_of_no_missing_sensor_state(worker, caplog):
    """Faust's app warns "Missing sensor state" at every rebalance when no sensor returns a state;
    the worker's RebalanceSensor returns one and times the rebalance."""
    from creditstream.monitoring import metrics

    def rebalances() -> float:
        return metrics.REGISTRY.get_sample_value("creditstream_worker_rebalance_seconds_count") or 0.0

    worker.app.on_init_dependencies()  # where Faust adds its sensors as the app starts
    before = rebalances()
    with caplog.at_level("WARNING"):
        worker.app.on_rebalance_start()
        worker.app.on_rebalance_return()
        worker.app.on_rebalance_end()
    assert "Missing sensor state" not in caplog.text
    assert rebalances() == before + 1
