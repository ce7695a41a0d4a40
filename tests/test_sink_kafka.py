"""The ClickHouse sink loses nothing, against the real broker: a message it cannot convert becomes
a dead letter, and a rebalance while ClickHouse is failing cannot slip messages past it. Stopped,
the sink service leaves its group, so a restarted one stores at once."""
import base64
import signal
import time

from confluent_kafka.admin import AdminClient

from creditstream.schemas.models import AggregateRow, DeadLetter
from creditstream.schemas.topics import AGGREGATES_TOPIC, API_KEYS_TOPIC, DEAD_LETTER_TOPIC
from creditstream.schemas.uscc import uscc_check_char
from creditstream.sinks.config import SinkConfig
from creditstream.sinks.rows import SINK_TOPICS
from creditstream.sinks.sink import ClickHouseSink
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support.kafka import (
    TEST_APP_PREFIX,
    WorkerProcess,
    admin_kafka,
    free_port,
    group_caught_up,
    group_members,
    read_topic,
    service_kafka,
    wait_for,
)
from tests.support.stream import produce_all

AS_OF = 24305  # 2025-06


def uscc(i: int) -> str:
    body = f"9135010{i:010d}"
    return body + uscc_check_char(body)


def aggregate_message(i: int) -> tuple[str, bytes, bytes]:
    key = uscc(i)
    return AGGREGATES_TOPIC, key.encode(), AggregateRow.encode(compute(key, Ledger(), AS_OF))


def start_sink(chdb_url: str, group: str) -> ClickHouseSink:
    config = SinkConfig(service_kafka("sink"), group_id=group, clickhouse_url=chdb_url, batch_seconds=0.1)
    sink = ClickHouseSink(config)
    sink.start()
    assert sink.ready.wait(60), sink.error
    return sink


def test_a_message_the_sink_cannot_convert_becomes_a_dead_letter(kafka_settings, clickhouse, chdb_url):
    bad_row = b'{"uscc": "91350100M000100Y43", "as_of_month": "2025-06"}'  # the aggregate fields are missing
    positions = produce_all([aggregate_message(1), (AGGREGATES_TOPIC, b"x", bad_row),
                             (API_KEYS_TOPIC, b"k", b"not json")])
    # by value: delivery reports of different partitions come in no set order
    bad = {(t, p, o): v for t, p, o, v in positions if v in (bad_row, b"not json")}
    group = f"{TEST_APP_PREFIX}sink-dead-letter-{time.time_ns()}"
    sink = start_sink(chdb_url, group)
    try:
        letters = wait_for(lambda: [DeadLetter.from_bytes(m.value()) for m in read_topic(DEAD_LETTER_TOPIC)
                                    if m.value()] if len(read_topic(DEAD_LETTER_TOPIC)) >= 2 else None,
                           60, "the sink's dead letters")
        assert {(d.source_topic, d.source_partition, d.source_offset) for d in letters} == set(bad)
        for letter in letters:
            assert letter.reason == "SINK_UNCONVERTIBLE"
            where = (letter.source_topic, letter.source_partition, letter.source_offset)
            assert base64.b64decode(letter.value_base64) == bad[where]  # the original bytes, kept
        assert "missing" in next(d.message for d in letters if d.source_topic == AGGREGATES_TOPIC)
        rows = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(clickhouse.query(
            "SELECT source_topic, source_offset, reason FROM dead_letters FINAL").result_rows), 60,
            "dead-letter rows in ClickHouse")
        assert {(t, o) for t, o, _ in rows} == {(t, o) for t, _, o in bad}
        assert clickhouse.query("SELECT count() FROM enterprise_aggregates FINAL").result_rows[0][0] == 1
        wait_for(lambda: group_caught_up(group, SINK_TOPICS), 60, "offsets committed past the bad messages")
    finally:
        sink.stop()
        sink.join(30)
    assert sink.error is None


def test_a_rebalance_while_clickhouse_fails_loses_no_message(kafka_settings, clickhouse, chdb_url):
    """Two sinks share the partitions; ClickHouse fails; one sink leaves the group, so the other is
    assigned partitions it never paused, in the middle of its retry. What arrives on them meanwhile
    must wait for the retry, not be swallowed by the keep-alive poll."""
    from creditstream.monitoring import metrics

    def failures():
        return metrics.SERVICE.get_sample_value("creditstream_sink_failures_total") or 0

    group = f"{TEST_APP_PREFIX}sink-rebalance-{time.time_ns()}"
    clickhouse.command("DETACH TABLE enterprise_aggregates")  # ClickHouse refuses every aggregate insert
    staying = leaving = None
    try:
        staying, leaving = start_sink(chdb_url, group), start_sink(chdb_url, group)
        total = sum(len(topic.partitions) for name, topic in AdminClient(admin_kafka().client()).list_topics(
            timeout=10).topics.items() if name in SINK_TOPICS)
        wait_for(lambda: staying.assigned and leaving.assigned and len(staying.assigned) + len(leaving.assigned) == total,
                 60, "the two sinks to share the partitions", interval=0.05)
        first_batch = [aggregate_message(i) for i in range(40)]
        produce_all(first_batch)  # each sink reads its half, fails to insert it and retries
        wait_for(lambda: staying.retrying and leaving.retrying, 60, "both sinks to be retrying", interval=0.05)
        leaving.stop()  # leaves the group: its partitions go to the sink that stays, mid-retry
        leaving.join(60)
        wait_for(lambda: len(staying.assigned) == total, 60,
                 "the remaining sink to be assigned every partition")
        second_batch = [aggregate_message(i) for i in range(40, 120)]
        produce_all(second_batch)  # lands on every partition while the retry keeps polling
        seen = failures()
        wait_for(lambda: failures() >= seen + 3, 120, "three more failed attempts after the new messages")
    finally:
        clickhouse.command("ATTACH TABLE enterprise_aggregates")
    try:
        expected = {key.decode() for _t, key, _v in first_batch + second_batch}
        stored = wait_for(lambda: (lambda r: r if len(r) == len(expected) else None)({
            row[0] for row in clickhouse.query("SELECT uscc FROM enterprise_aggregates FINAL").result_rows}),
            120, "every aggregate row in ClickHouse")
        assert stored == expected
        wait_for(lambda: group_caught_up(group, [AGGREGATES_TOPIC]), 60, "every offset committed")
    finally:
        staying.stop()
        staying.join(30)
    assert staying.error is None


def test_a_stopped_sink_service_leaves_its_group_at_once(kafka_settings, tmp_path):
    """SIGTERM (the worker stopping its sink service) and SIGINT (Ctrl-C) stop the sink cleanly:
    its consumer leaves the group at once. Killed by the signal's default action it stayed a member
    until its session timed out, and a restarted sink stored nothing meanwhile."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        service = WorkerProcess(tmp_path, f"sink-leaves-{time.time_ns()}", command="sink",
                                CREDITSTREAM_SINK_METRICS_PORT=str(free_port())).start()
        group = f"{service.app_id}-sink"
        try:
            wait_for(lambda: group_members(group) == 1, 90, f"the sink service to join its group:\n{service.tail()}")
            stopped = time.monotonic()
            service.kill(sig)
            assert service.proc.returncode == 0, service.tail()
            wait_for(lambda: group_members(group) == 0, 30, "the stopped sink to leave its group", interval=0.2)
            assert time.monotonic() - stopped < 5, "the sink's member timed out (10 s) instead of leaving"
        finally:
            service.stop()
