"""The provincial node (docs/provincial-node.md) as data and plain functions: what MirrorMaker 2
may replicate, where its bookkeeping goes, each side's grants, and the province's path for a city's
records (validated again, never a clear identity number, sources kept)."""
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from creditstream.api.view import split_row
from creditstream.kafka_access import mirror_source_grants, mirror_target_grants
from creditstream.monitoring import metrics
from creditstream.province import (
    PROVINCE,
    REPLICATED_TOPICS,
    Mirror,
    mirror_properties,
    offset_syncs_topic,
    replication_lag,
)
from creditstream.schemas.codec import default_codec
from creditstream.schemas.finance_stats import statistics_messages
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import AggregateRow
from creditstream.schemas.months import parse_month
from creditstream.schemas.personal import protect
from creditstream.schemas.rules import Invalid
from creditstream.schemas.topics import ALL_TOPICS, OUTBOUND_PUBLIC_TOPIC, OUTBOUND_STATISTICS_TOPIC, WHITELIST_TOPIC
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept_from_city
from tests.support import builders

ROOT = Path(__file__).resolve().parents[1]
CITY = KafkaConnection("127.0.0.1:19092", "SASL_PLAINTEXT", "SCRAM-SHA-512", "mirror-province", "s3cret")
PROVINCE_KAFKA = KafkaConnection("127.0.0.1:19192", "SASL_PLAINTEXT", "SCRAM-SHA-512", "city-heihe", "0ther")


def properties(city="heihe") -> dict[str, str]:
    text = mirror_properties(city, CITY, PROVINCE_KAFKA)
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def test_only_public_records_whitelist_changes_and_public_statistics_leave_the_city():
    assert REPLICATED_TOPICS == (OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC, OUTBOUND_STATISTICS_TOPIC)
    pattern = re.compile(properties()["heihe->province.topics"])
    assert {t for t in ALL_TOPICS if pattern.fullmatch(t)} == set(REPLICATED_TOPICS)
    assert properties()["province->heihe.enabled"] == "false"


def test_the_bookkeeping_stays_under_the_city_prefix_at_the_province():
    p = properties()
    assert p["offset-syncs.topic.location"] == "source"
    assert {p[f"province.{k}.storage.topic"] for k in ("config", "offset", "status")} == {
        "heihe.mm2-configs", "heihe.mm2-offsets", "heihe.mm2-status"}
    assert p["province.group.id"] == "heihe.mm2" and p["emit.heartbeats.enabled"] == "false"
    assert 'username="city-heihe" password="0ther"' in p["province.sasl.jaas.config"]


@pytest.mark.parametrize("alias", ["Heihe", "hei.he", "hei-he", "h", PROVINCE, ""])
def test_a_city_alias_is_a_plain_prefix(alias):
    with pytest.raises(ValueError, match="city alias"):
        mirror_properties(alias, CITY, PROVINCE_KAFKA)


def test_each_side_grants_only_its_part():
    source = {(g.name, g.pattern, g.operation) for g in mirror_source_grants()}
    assert source == {*((t, "literal", operation) for t in REPLICATED_TOPICS for operation in ("read", "describe_configs")),
                      (offset_syncs_topic(), "literal", "all")}
    assert {(g.resource, g.name, g.pattern) for g in mirror_target_grants("heihe")} == {
        ("topic", "heihe.", "prefixed"), ("group", "heihe.", "prefixed")}


def test_mirror_maker_comes_from_the_brokers_kafka_release():
    version = re.compile(r"<kafka.version>([^<]+)</kafka.version>")
    assert version.search((ROOT / "broker/pom.xml").read_text()).group(1) == version.search(
        (ROOT / "broker/mirror/pom.xml").read_text()).group(1)


# -- the provincial node's path (streams.pipeline.accept_from_city) and its state --------------------
CODEC = default_codec()
NOW = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)
TOPIC = "heihe.credit.out.public.v1"


def from_city(record, value, topic=TOPIC):
    return accept_from_city(CODEC, topic, CODEC.encode(record, value), NOW)


def test_a_citys_public_record_names_its_city_and_stays_masked():
    record, penalty = builders.penalty("P-1", "2025-05-10", provider="env-bureau")
    masked = protect(penalty, b"city-key")
    name, value, data = from_city(record, masked)
    assert (name, value["provider_id"], value["legal_rep_id_no"]) == (record, "heihe/env-bureau", masked["legal_rep_id_no"])
    assert CODEC.decode(data) == (record, value)


@pytest.mark.parametrize("change, reason, where", [
    ({"legal_rep_id_no": "110101199003074477"}, "INVALID_ID_NO", "legal_rep_id_no"),  # clear: refused
    ({"legal_rep_id_hmac": None}, "INVALID_ID_NO", "legal_rep_id_hmac"),
    ({"uscc": "91350100M000100Y4X"}, "INVALID_USCC", "check character"),  # validated again
])
def test_the_province_validates_again_and_never_takes_a_clear_identity_number(change, reason, where):
    record, penalty = builders.penalty("P-1", "2025-05-10")
    with pytest.raises(Invalid) as caught:
        from_city(record, {**protect(penalty, b"k"), **change})
    assert caught.value.reason == reason and where in caught.value.message


def test_only_public_records_come_from_a_city():
    with pytest.raises(Invalid, match="carries public records only, got a WaterStatement"):
        from_city(*builders.statement("water", "W-1", "2025-06", "10.000", "40.00"))


def test_a_ledgers_sources_survive_its_changelog_and_name_the_rows_cities():
    record, penalty = builders.penalty("P-1", "2025-05-10")
    city = Ledger()
    city.apply(record, penalty)
    assert b'"o":' not in city.to_bytes()  # a city's ledger is written as before
    province = Ledger.from_bytes(city.to_bytes())
    province.sources = {"qiqihar", "heihe"}
    restored = Ledger.from_bytes(province.to_bytes())
    assert restored.sources == {"heihe", "qiqihar"}
    row = compute(builders.USCC, restored, parse_month("2025-06"))
    assert row["sources"] == ["heihe", "qiqihar"] and "sources" not in compute(builders.USCC, city, parse_month("2025-06"))
    view = split_row(AggregateRow.encode(row), 0)
    assert view.head["sources"] == ["heihe", "qiqihar"] and b"sources" not in b"".join(view.fragments.values())


def test_replication_lag_counts_per_partition_what_the_province_lacks():
    city = {(OUTBOUND_PUBLIC_TOPIC, 0): 10, (OUTBOUND_PUBLIC_TOPIC, 1): 5, (WHITELIST_TOPIC, 0): 3}
    province = {(f"heihe.{OUTBOUND_PUBLIC_TOPIC}", 0): 10, (f"heihe.{OUTBOUND_PUBLIC_TOPIC}", 1): 2,
                (f"qiqihar.{WHITELIST_TOPIC}", 0): 3}  # another city's copy is not ours
    assert replication_lag(city, province, "heihe") == {OUTBOUND_PUBLIC_TOPIC: 3, WHITELIST_TOPIC: 3}
    # a record sent twice (at least once) makes the province longer: never a negative lag
    assert replication_lag({(WHITELIST_TOPIC, 0): 3}, {(f"heihe.{WHITELIST_TOPIC}", 0): 4}, "heihe") == {
        WHITELIST_TOPIC: 0}


def test_the_lag_keeps_growing_while_the_province_is_unreachable(tmp_path):
    city_ends = {(OUTBOUND_PUBLIC_TOPIC, 0): 4, (WHITELIST_TOPIC, 0): 1}

    def ends(kafka, topics):
        if kafka is PROVINCE_KAFKA and down:
            raise RuntimeError("Failed to get metadata: Local: Broker transport failure")
        return dict(city_ends) if kafka is CITY else {(f"heihe.{t}", p): e for (t, p), e in city_ends.items()}
    down = False
    mirror = Mirror("heihe", CITY, PROVINCE_KAFKA, tmp_path, ends)
    assert mirror.measure() == {OUTBOUND_PUBLIC_TOPIC: 0, WHITELIST_TOPIC: 0}
    down = True
    city_ends[(OUTBOUND_PUBLIC_TOPIC, 0)] = 9
    assert mirror.measure() == {OUTBOUND_PUBLIC_TOPIC: 5, WHITELIST_TOPIC: 0}
    assert metrics.PROVINCE_REACHABLE._value.get() == 0
    assert metrics.REPLICATION_LAG.labels(OUTBOUND_PUBLIC_TOPIC)._value.get() == 5
    assert metrics.REPLICATED_RECORDS.labels(OUTBOUND_PUBLIC_TOPIC)._value.get() == 4
    path = mirror.write_properties()
    assert path.stat().st_mode & 0o777 == 0o600 and 'password="0ther"' in path.read_text()


def test_the_public_statistics_go_out_once_per_change():
    rows = [{"month": "2026-11", "lender_id": None, "applications": 23, "rejected": "<3"},
            {"month": "2026-11", "lender_id": "bank-a", "applications": 7, "rejected": "<3"}]
    published: dict = {}
    first = statistics_messages(rows, published)
    assert [key for key, _ in first] == [b"2026-11/*", b"2026-11/bank-a"]
    assert json.loads(first[1][1]) == rows[1]
    assert statistics_messages(rows, published) == []  # nothing new: nothing sent
    rows[1] = {**rows[1], "applications": 8}
    assert [key for key, _ in statistics_messages(rows, published)] == [b"2026-11/bank-a"]
