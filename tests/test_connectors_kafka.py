"""Provider connectors against the real broker: topics, publish (JSON Lines and CSV), simulate."""
import csv
import json
from collections import Counter

from confluent_kafka import KafkaException

from creditstream.kafka_admin import topic_config
from creditstream.schemas.codec import Codec
from creditstream.schemas.records import to_json
from creditstream.schemas.topics import AGGREGATES_TOPIC, ALL_TOPICS, DEAD_LETTER_TOPIC, PROVIDER_TOPICS
from tests.support.kafka import cli, read_topic, wait_for

CODEC = Codec()


def test_topics_create_is_idempotent_and_bounds_the_dead_letters_retention(kafka_settings):
    first = cli("topics", "create").stdout.splitlines()
    second = cli("topics", "create").stdout.splitlines()
    assert first[:-1] == [f"{t}: exists" for t in ALL_TOPICS]  # the fixture created them
    assert first[-1].startswith("dead letters are kept 7 days") and second == first
    def config(topic, name):  # the broker may answer a new topic's or a changed config a moment late
        try:
            return topic_config(kafka_settings.kafka, topic, name)
        except KafkaException:
            return None

    def becomes(topic, name, value):
        wait_for(lambda: config(topic, name) == value, 30, f"{topic} {name}={value}")

    week = str(7 * 24 * 3600 * 1000)
    becomes(DEAD_LETTER_TOPIC, "retention.ms", week)
    # the operator's setting reaches the existing topic, and only that topic
    cli("topics", "create", CREDITSTREAM_DEAD_LETTER_RETENTION_DAYS="1")
    becomes(DEAD_LETTER_TOPIC, "retention.ms", str(24 * 3600 * 1000))
    assert config(AGGREGATES_TOPIC, "cleanup.policy") == "compact"
    cli("topics", "create")
    becomes(DEAD_LETTER_TOPIC, "retention.ms", week)


def test_simulated_events_for_every_topic_roundtrip_through_kafka(kafka_settings, tmp_path):
    path = tmp_path / "sim.jsonl"
    cli("simulate", "--enterprises", "12", "--months", "13", "--end-month", "2025-06", "--seed", "7",
        "--invalid-share", "0", "--out", str(path))
    sent = [json.loads(line) for line in path.read_text().splitlines()]
    assert {s["topic"] for s in sent} == set(PROVIDER_TOPICS)

    result = cli("publish", str(path))
    assert f"read {len(sent)}, published {len(sent)}, rejected 0, delivery failures 0" in result.stdout

    received = []
    for topic in PROVIDER_TOPICS:
        for message in read_topic(topic):
            record, value = CODEC.decode(message.value())
            assert record == PROVIDER_TOPICS[topic]
            assert message.key().decode() == value["uscc"].strip().upper()
            received.append(json.dumps({"topic": topic, "value": to_json(value)}, sort_keys=True))
    expected = [json.dumps(s, sort_keys=True) for s in sent]
    assert Counter(received) == Counter(expected)


def test_bad_csv_line_is_rejected_with_its_line_number_and_good_lines_delivered(kafka_settings, tmp_path):
    topic = "credit.tax.arrears.v1"
    path = tmp_path / "arrears.csv"
    rows = [
        {"event_id": "a1", "provider_id": "heihe-tax", "uscc": "91350100M000100Y43", "enterprise_name": "甲",
         "occurred_at": "2025-01-01T00:00:00Z", "as_of": "2024-12-31", "in_arrears": "true", "amount": "120.50",
         "tax_types": "VAT|CIT"},
        {"event_id": "a2", "provider_id": "heihe-tax", "uscc": "91350100M000100Y43", "enterprise_name": "甲",
         "occurred_at": "2025-02-01T00:00:00Z", "as_of": "2025-01-31", "in_arrears": "maybe", "amount": "0.00",
         "tax_types": ""},
        {"event_id": "a3", "provider_id": "heihe-tax", "uscc": "91350100M000100Y43", "enterprise_name": "甲",
         "occurred_at": "2025-03-01T00:00:00Z", "as_of": "2025-02-28", "in_arrears": "false", "amount": "0.00",
         "tax_types": ""},
    ]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    result = cli("publish", "--topic", topic, str(path), check=False)
    assert result.returncode == 1
    assert f"{path}:3: rejected: does not fit TaxArrears: in_arrears: expected true or false, got 'maybe'" in result.stderr
    assert "read 3, published 2, rejected 1, delivery failures 0" in result.stdout
    delivered = [CODEC.decode(m.value())[1] for m in read_topic(topic)]
    assert sorted(v["event_id"] for v in delivered) == ["a1", "a3"]
    assert [v["tax_types"] for v in delivered if v["event_id"] == "a1"] == [["VAT", "CIT"]]


def test_publish_rejects_lines_that_do_not_fit_and_exits_non_zero(kafka_settings, tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = {"topic": "credit.tax.status.v1", "value": {
        "event_id": "s1", "provider_id": "heihe-tax", "uscc": "91350100M000100Y43", "enterprise_name": "甲",
        "occurred_at": "2025-01-01T00:00:00Z", "as_of": "2024-12-31", "abnormal": False}}
    path.write_text("\n".join([
        json.dumps(good),
        "not json",
        json.dumps({"topic": "credit.unknown.v1", "value": {}}),
        json.dumps({**good, "value": {**good["value"], "as_of": "2024-12-32"}}),
    ]) + "\n")
    result = cli("publish", str(path), check=False)
    assert result.returncode == 1
    assert f"{path}:2: rejected: not JSON" in result.stderr
    assert f"{path}:3: rejected: unknown topic 'credit.unknown.v1'" in result.stderr
    assert f"{path}:4: rejected: does not fit TaxpayerStatus: as_of: '2024-12-32' is not a date" in result.stderr
    assert "read 4, published 1, rejected 3" in result.stdout
    assert len(read_topic("credit.tax.status.v1")) == 1


def test_simulate_to_kafka_is_deterministic_and_covers_every_topic(kafka_settings, tmp_path):
    args = ["--enterprises", "5", "--months", "6", "--end-month", "2025-04", "--seed", "3"]
    cli("simulate", *args, "--out", str(tmp_path / "a.jsonl"))
    cli("simulate", *args, "--out", str(tmp_path / "b.jsonl"))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    result = cli("simulate", *args, "--kafka")
    assert f"sent {len(lines)} events, delivered {len(lines)}, failed 0" in result.stdout
    per_topic = Counter()
    for line in lines:
        try:
            per_topic[json.loads(line)["topic"]] += 1
        except ValueError:  # garbage lines stand for undecodable payloads
            per_topic[line.split('"')[3]] += 1
    assert set(per_topic) == set(PROVIDER_TOPICS)
    assert {t: len(read_topic(t)) for t in PROVIDER_TOPICS} == dict(per_topic)


def test_a_csv_byte_that_is_not_utf8_rejects_its_line_only_and_the_good_lines_are_delivered(kafka_settings, tmp_path):
    """The probe's file: 300 good rows, a row with a byte that is not UTF-8, then more good rows."""
    topic = "credit.tax.status.v1"
    path = tmp_path / "status.csv"
    header = "event_id,provider_id,uscc,enterprise_name,occurred_at,as_of,abnormal\n"
    good = "s{n},heihe-tax,91350100M000100Y43,甲,2025-01-01T00:00:00Z,2024-12-31,false\n"
    body = header + "".join(good.format(n=n) for n in range(300))
    data = body.encode() + b"bad,heihe-tax,91350100M000100Y43,\xff\xfe,2025-01-01T00:00:00Z,2024-12-31,false\n"
    data += "".join(good.format(n=n) for n in range(300, 302)).encode()
    path.write_bytes(data)
    result = cli("publish", "--topic", topic, str(path), check=False)
    assert result.returncode == 1, result.stderr
    assert f"{path}:302: rejected: column enterprise_name: byte 0xFF is not UTF-8" in result.stderr
    assert "read 303, published 302, rejected 1, delivery failures 0" in result.stdout
    assert len(read_topic(topic)) == 302
