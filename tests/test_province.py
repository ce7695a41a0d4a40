"""The provincial link's configuration as data (docs/provincial-node.md): what MirrorMaker 2 may
replicate, where its bookkeeping goes, and the principals' grants on each side."""
import re
from pathlib import Path

import pytest

from creditstream.kafka_access import mirror_source_grants, mirror_target_grants
from creditstream.province import PROVINCE, REPLICATED_TOPICS, mirror_properties, offset_syncs_topic
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import ALL_TOPICS, OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC

ROOT = Path(__file__).resolve().parents[1]
CITY = KafkaConnection("127.0.0.1:19092", "SASL_PLAINTEXT", "SCRAM-SHA-512", "mirror-province", "s3cret")
PROVINCE_KAFKA = KafkaConnection("127.0.0.1:19192", "SASL_PLAINTEXT", "SCRAM-SHA-512", "city-heihe", "0ther")


def properties(city="heihe") -> dict[str, str]:
    text = mirror_properties(city, CITY, PROVINCE_KAFKA)
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def test_only_the_outbound_public_topic_and_the_whitelist_leave_the_city():
    assert REPLICATED_TOPICS == (OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC)
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
    assert source == {(OUTBOUND_PUBLIC_TOPIC, "literal", "read"), (WHITELIST_TOPIC, "literal", "read"),
                      (offset_syncs_topic(), "literal", "all")}
    assert {(g.resource, g.name, g.pattern) for g in mirror_target_grants("heihe")} == {
        ("topic", "heihe.", "prefixed"), ("group", "heihe.", "prefixed")}


def test_mirror_maker_comes_from_the_brokers_kafka_release():
    version = re.compile(r"<kafka.version>([^<]+)</kafka.version>")
    assert version.search((ROOT / "broker/pom.xml").read_text()).group(1) == version.search(
        (ROOT / "broker/mirror/pom.xml").read_text()).group(1)
