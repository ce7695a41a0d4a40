"""The worker's parts that hold no I/O, with in-memory stand-ins: the checkpoint (persist, then
acknowledge), routing and publishing."""
import asyncio
import datetime as dt
import json

import pytest

from creditstream.schemas.kafka import partition_for
from creditstream.schemas.topics import AGGREGATES_TOPIC, SOURCE_PRODUCED_HEADER
from creditstream.streams.checkpoint import Checkpoint
from creditstream.streams.ledger import Ledger, heap_estimate
from creditstream.streams.publishing import CATCH_UP_LAG, LIVE_LAG, Publisher
from creditstream.streams.routing import Router
from creditstream.streams.state import LedgerState
from tests.support.builders import statement

K1, K2 = b"91350100M000100Y43", b"91110000MA01ABCD8Q"
WATER_0 = ("credit.utility.water.v1", 0)  # a partition, as the worker names it (Faust's TP)


class Acks:
    """The positions acknowledged, in order; each is logged as "ack"."""

    def __init__(self, log):
        self.log, self.positions = log, []

    def __call__(self, partition, offset):
        self.positions.append((partition, offset))
        self.log.append("ack")


class Output:
    """Records what is sent and the order of flushes; a flush may be made to fail."""

    def __init__(self, log, fail=False):
        self.log, self.fail, self.sent = log, fail, []

    def send(self, topic, key, value, timestamp_ms=0, headers=None, partition=-1):
        self.sent.append((topic, key, value, headers))
        self.log.append(f"send {topic}")

    async def flush(self):
        self.log.append("flush")
        if self.fail:
            raise RuntimeError("broker gone")


class Fatal(Exception):
    pass


def fatal(reason):
    raise Fatal(reason)


def parts(fail=False):
    log, table = [], {}
    state = LedgerState(table, cache_bytes=10 * 20_000)
    output = Output(log, fail)
    publisher = Publisher(state, output, lambda: (24305, dt.date(2025, 6, 30)), publish_seconds=0.2)  # as of 2025-06

    def write(key, value):
        table[key] = value
        log.append("write")

    checkpoint = Checkpoint(state, write, output, publisher.publish_changed, fatal, Acks(log),
                            delivered=lambda: log.append("offsets recorded"))
    return log, table, state, output, checkpoint


def test_events_are_acknowledged_only_after_writes_rows_and_a_flush():
    log, table, state, output, checkpoint = parts()
    for offset, month in ((7, "2025-05"), (8, "2025-06")):
        checkpoint.handled(WATER_0, offset)
        state.fold(K1, *statement("water", "W", month, "10", "1.00"), produced=5.0)
    assert asyncio.run(checkpoint.persist()) is True
    assert log == ["write", f"send {AGGREGATES_TOPIC}", "flush", "offsets recorded", "ack", "ack"]
    assert checkpoint.acknowledge.positions == [(WATER_0, 7), (WATER_0, 8)] and len(checkpoint.pending) == 0
    assert Ledger.from_bytes(table[K1]).statements["water"]["W"]  # the ledger itself was written
    row = json.loads(output.sent[0][2])
    assert row["uscc"] == K1.decode() and row["water_months_3m"] == 2
    assert output.sent[0][3] == [(SOURCE_PRODUCED_HEADER, b"5000")]


def test_freeing_memory_writes_ledgers_but_leaves_rows_and_acknowledgements_to_the_next_full_round():
    log, table, state, output, checkpoint = parts()
    checkpoint.handled(WATER_0, 1)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=5.0)
    asyncio.run(checkpoint.free_memory())
    assert log == ["write"] and state.pinned_bytes == 0  # written and let go, nothing sent or acknowledged
    assert K1 in state.unpublished  # its row is still owed
    checkpoint.handled(WATER_0, 2)
    state.fold(K2, *statement("water", "W", "2025-06", "10", "1.00"), produced=6.0)
    assert asyncio.run(checkpoint.persist()) is True
    assert log[1:] == ["write", f"send {AGGREGATES_TOPIC}", f"send {AGGREGATES_TOPIC}", "flush",
                       "offsets recorded", "ack", "ack"]
    assert {json.loads(sent[2])["uscc"] for sent in output.sent} == {K1.decode(), K2.decode()}


def test_a_failed_flush_is_fatal_and_acknowledges_nothing():
    log, table, state, output, checkpoint = parts(fail=True)
    checkpoint.handled(WATER_0, 1)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    with pytest.raises(Fatal, match="broker gone"):
        asyncio.run(checkpoint.persist())
    assert "ack" not in log
    assert "offsets recorded" not in log  # the local store must not claim undelivered changelog records


def test_a_rebalance_during_the_round_acknowledges_nothing():
    log, table, state, output, checkpoint = parts()
    checkpoint.handled(WATER_0, 1)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)

    async def flush_with_rebalance():
        checkpoint.rebalanced()  # partitions moved while the producer was flushing
        log.append("flush")

    output.flush = flush_with_rebalance
    assert asyncio.run(checkpoint.persist()) is False
    assert "ack" not in log
    assert state.unpersisted == {} and len(checkpoint.pending) == 0  # re-read from the table / the topic


def test_a_folder_held_back_goes_on_once_the_round_has_written_its_ledgers():
    """Backpressure: while too many changed ledgers are pinned, an agent awaits ``released()``;
    the round's writes (before its flush) release it, and so does a rebalance."""
    log, table, state, output, checkpoint = parts()
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)

    async def held_back_then_round():
        waiting = asyncio.ensure_future(checkpoint.released())
        await asyncio.sleep(0)
        assert not waiting.done() and state.pinned_bytes == heap_estimate(Ledger())
        await checkpoint.persist()
        await asyncio.wait_for(waiting, timeout=1)  # released: a TimeoutError otherwise
        assert state.pinned_bytes == 0 and K1 in table
        again = asyncio.ensure_future(checkpoint.released())
        await asyncio.sleep(0)
        assert not again.done()
        checkpoint.rebalanced()
        await asyncio.wait_for(again, timeout=1)

    asyncio.run(held_back_then_round())


def test_router_folds_only_events_on_their_ledger_partition_of_a_copartitioned_topic():
    router = Router(partitions=4)
    router.assigned({"credit.utility.water.v1": 4, "credit.tax.payment.v1": 8, "credit.consent.v1": None})
    here = partition_for(K1, 4)
    assert router.ledger_is_here("credit.utility.water.v1", here, K1)
    assert not router.ledger_is_here("credit.utility.water.v1", (here + 1) % 4, K1)
    assert not router.ledger_is_here("credit.tax.payment.v1", here, K1)  # 8 partitions: not co-partitioned
    assert router.ledger_is_here("credit.consent.v1", here, K1)  # count unknown yet: the configured one


def test_publisher_sends_a_row_once_per_change_backs_off_only_when_behind_and_waits_while_catching_up():
    log, table, state, output, _ = parts()
    publisher = Publisher(state, output, lambda: (24305, dt.date(2025, 6, 30)), publish_seconds=0.2)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=100.0)
    assert publisher.due(since_last_round=0.3, busy=0.0, now=100.0 + CATCH_UP_LAG - 1)
    assert not publisher.due(since_last_round=0.3, busy=0.0, now=100.0 + CATCH_UP_LAG + 1)  # catching up
    assert publisher.due(since_last_round=0.3, busy=0.1, now=100.0 + LIVE_LAG)  # keeping up: no back-off
    assert not publisher.due(since_last_round=0.3, busy=0.1, now=100.0 + LIVE_LAG + 0.5)  # behind: backing off
    assert publisher.due(since_last_round=0.9, busy=0.1, now=100.0 + LIVE_LAG + 0.5)  # … to 9× the round's cost
    assert not publisher.due(since_last_round=0.1, busy=0.0, now=100.0)  # never sooner than publish_seconds
    asyncio.run(publisher.publish_changed())
    state.unpublished[K1] = 101.0
    asyncio.run(publisher.publish_changed())  # the same row again: not re-sent
    assert [key for _topic, key, _value, _headers in output.sent] == [K1]
