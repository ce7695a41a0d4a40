"""Personal data never leaves the validator in clear (credit-events.md v1.1 "Personal data"): after
a run with simulated register traffic, no clear identity number is in any ClickHouse table, the
normalised or aggregates topic, or the worker's log; the masked form and the keyed hash are."""
import hashlib
import hmac
import json
import os
import subprocess
import sys

from confluent_kafka import OFFSET_END, TopicPartition
from confluent_kafka.admin import AdminClient

from creditstream.connectors.simulate import Simulator
from creditstream.kafka_admin import DEAD_LETTER_RETENTION_MS, create_topics, topic_config
from creditstream.schemas.months import parse_month
from creditstream.schemas.personal import mask_id
from creditstream.schemas.tables import TABLES
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    MASKED_TOPIC,
    NORMALIZED_TOPIC,
    OUTBOUND_PUBLIC_TOPIC,
    PERSONAL_TOPICS,
)
from creditstream.sinks.rows import SINK_TOPICS
from tests.support.kafka import (
    PERSONAL_DATA_KEY,
    ROOT,
    STREAM_AS_OF,
    admin_kafka,
    group_caught_up,
    read_topic,
    wait_for,
)
from tests.support.stream import assert_aggregates, publish, replay_rows


def dump(url: str, table: str) -> str:
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", "sql", f"SELECT * FROM {table}"], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "CREDITSTREAM_CLICKHOUSE_URL": url},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_no_clear_identity_number_reaches_clickhouse_the_topics_or_the_log(kafka_settings, workers, tmp_path):
    events = list(Simulator(40, 8, parse_month(STREAM_AS_OF), seed=77, invalid_share=0.0).events())
    numbers = {e.value["legal_rep_id_no"] for e in events if e.value.get("legal_rep_id_no")}
    assert len(numbers) >= 10
    publish(events)
    url = f"chdb:{tmp_path / 'personal'}"
    worker = workers("personal", CREDITSTREAM_CLICKHOUSE_URL=url, CREDITSTREAM_API_ENABLED="false",
                     CREDITSTREAM_LOG_LEVEL="debug")
    assert_aggregates(replay_rows(events), worker, timeout=240)
    wait_for(lambda: group_caught_up(f"{worker.app_id}-sink", SINK_TOPICS), 120, "the sink to store everything")
    worker.stop()

    tables = {table: dump(url, table) for table in TABLES}
    assert tables["register_records"].count("\n") >= len({e.value["event_id"] for e in events if "decision_no" in e.value})
    topics = {topic: b"".join(m.value() for m in read_topic(topic))
              for topic in (NORMALIZED_TOPIC, AGGREGATES_TOPIC, MASKED_TOPIC, OUTBOUND_PUBLIC_TOPIC)}
    assert topics[OUTBOUND_PUBLIC_TOPIC]  # what leaves for the provincial node: public records, masked
    log = worker.log_path.read_text(errors="replace")
    for number in numbers:
        for table, text in tables.items():
            assert number not in text and number.lower() not in text, table
        for topic, data in topics.items():
            assert number.encode() not in data, topic
        assert number not in log
    # what is kept instead: the masked form for display, the keyed hash for verification
    number = sorted(numbers)[0]
    stored = [json.loads(line) for line in tables["register_records"].splitlines()]
    kept = [json.loads(r["fields_json"]) for r in stored if mask_id(number) in r["fields_json"]]
    assert kept and {f["legal_rep_id_hmac"] for f in kept} == {
        hmac.new(PERSONAL_DATA_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()}


def test_clear_identity_numbers_leave_the_broker_with_the_dead_letter_window_and_rows_rebuild_exactly(
        kafka_settings, workers):
    """Issue 27, item 6: the provider topics that carry legal representatives keep records only the
    dead-letter window; the worker folds their masked copy (credit.masked.v1, kept forever), so a
    new worker rebuilds exact rows after those topics have let every record go."""
    for topic in PERSONAL_TOPICS:
        assert topic_config(kafka_settings.kafka, topic, "retention.ms") == str(DEAD_LETTER_RETENTION_MS)
    assert topic_config(kafka_settings.kafka, MASKED_TOPIC, "retention.ms") == "-1"
    events = list(Simulator(30, 8, parse_month(STREAM_AS_OF), seed=78, invalid_share=0.0).events())
    numbers = {e.value["legal_rep_id_no"] for e in events if e.value.get("legal_rep_id_no")}
    assert len(numbers) >= 5
    publish(events)
    expected = replay_rows(events)
    first = workers("masked-first")
    assert_aggregates(expected, first, timeout=240)
    first.stop()

    masked = b"".join(m.value() for m in read_topic(MASKED_TOPIC))
    assert all(number.encode() not in masked and mask_id(number).encode() in masked for number in numbers)

    # the retention window passes: every record of the personal topics is gone from the broker
    admin = AdminClient(admin_kafka().client())
    ends = [TopicPartition(t, p, OFFSET_END) for t in PERSONAL_TOPICS
            for p in admin.list_topics(t, timeout=10).topics[t].partitions]
    for future in admin.delete_records(ends, request_timeout=30).values():
        future.result(30)
    assert not any(number.encode() in m.value() for t in PERSONAL_TOPICS for m in read_topic(t) for number in numbers)

    # a new worker (new group, new changelog) on fresh aggregates rebuilds every row exactly
    for future in admin.delete_topics([AGGREGATES_TOPIC], operation_timeout=30).values():
        future.result(30)
    wait_for(lambda: recreated(kafka_settings), 60, "the aggregates topic recreated")
    assert_aggregates(expected, workers("masked-rebuild"), timeout=240)


def recreated(settings) -> bool:
    try:
        return create_topics(settings.kafka, settings.partitions, settings.replication_factor)[AGGREGATES_TOPIC] \
            == "created"
    except RuntimeError:  # still being deleted
        return False
