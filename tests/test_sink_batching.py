"""When the sink inserts a batch: at batch_rows messages, or batch_seconds after the first; while it
reads a backlog (a message produced over catch_up_lag_seconds ago), catch_up_batch_seconds."""
from creditstream.schemas.kafka import KafkaConnection
from creditstream.sinks.config import SinkConfig
from creditstream.sinks.sink import Batch

CONFIG = SinkConfig(KafkaConnection("127.0.0.1:1", "PLAINTEXT"), batch_rows=3, batch_seconds=0.1,
                    catch_up_batch_seconds=1.0, catch_up_lag_seconds=5.0)
NOW = 1_800_000_000.0  # wall clock, seconds since the epoch


def batch_of(*produced_seconds_ago: float) -> Batch:
    batch = Batch()
    for offset, ago in enumerate(produced_seconds_ago):
        batch.add("credit.normalized.v1", 0, offset, int((NOW - ago) * 1000) if ago is not None else 0)
    # a round start, so that start + 0.1 - start is 0.1 exactly: from time.monotonic()'s value it
    # may come out a rounding error short (it did, depending on the machine's uptime)
    batch.started = 0.0
    return batch


def due_after(batch: Batch, seconds: float, config: SinkConfig = CONFIG) -> bool:
    return batch.due(config, batch.started + seconds, NOW)


def test_fresh_messages_are_inserted_after_batch_seconds():
    batch = batch_of(0.3, 0.2)
    assert not due_after(batch, 0.05)
    assert due_after(batch, 0.1)


def test_a_backlog_is_inserted_after_the_catch_up_window():
    batch = batch_of(0.3, 60.0)  # one message a minute old: the sink is behind
    assert not due_after(batch, 0.1)
    assert not due_after(batch, 0.99)
    assert due_after(batch, 1.0)


def test_a_full_batch_is_inserted_at_once_even_when_behind():
    assert due_after(batch_of(60.0, 60.0, 60.0), 0.0)


def test_catching_up_never_makes_a_batch_shorter():
    slow = SinkConfig(CONFIG.kafka, batch_rows=3, batch_seconds=5.0, catch_up_batch_seconds=1.0)
    batch = batch_of(60.0)
    assert not due_after(batch, 1.0, slow)
    assert due_after(batch, 5.0, slow)


def test_messages_without_a_timestamp_do_not_count_as_a_backlog():
    batch = batch_of(None, None)
    assert due_after(batch, 0.1)


def test_an_empty_batch_is_never_due():
    assert not Batch().due(CONFIG, 1e9, NOW)
