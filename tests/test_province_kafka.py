"""The city node's link to the provincial node (docs/provincial-node.md) between two real secured
KRaft brokers — the city's (the session's broker) and a province's started here on its own ports
and credentials — with MirrorMaker 2 from the same Kafka release: what leaves the city arrives
under the city's prefix, nothing else does, each side's principal can do only its part, and a
provincial broker down for a while loses nothing."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from creditstream.broker import admin_credential
from creditstream.kafka_access import service_grants
from creditstream.kafka_admin import make_principal
from creditstream.schemas.codec import default_codec
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import AggregateRow
from creditstream.schemas.months import parse_month
from creditstream.schemas.personal import protect
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    DEAD_LETTER_TOPIC,
    OUTBOUND_PUBLIC_TOPIC,
    OUTBOUND_STATISTICS_TOPIC,
    PROVIDER_TOPICS,
    PUBLIC_RECORDS,
    TOPIC_OF,
    UTILITY_TOPICS,
    WHITELIST_TOPIC,
    replicated_topic,
)
from creditstream.settings import connection_env
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support import builders
from tests.support.kafka import (
    STREAM_AS_OF,
    admin_kafka,
    cli,
    free_port,
    latest_by_key,
    read_error,
    read_topic,
    scrape_metrics,
    wait_for,
)
from tests.support.stream import publish, simulated

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]
PROVINCE_PORT, PROVINCE_CONTROLLER_PORT = 19192, 19193  # below the ephemeral range, like the city's
CITY = "heihe"


def province_broker(home: Path, action: str) -> None:
    env = {**os.environ, "KAFKA_PORT": str(PROVINCE_PORT), "KAFKA_CONTROLLER_PORT": str(PROVINCE_CONTROLLER_PORT),
           "KAFKA_HOME_DIR": str(home)}
    result = subprocess.run([str(ROOT / "broker" / "kafka.sh"), action], env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def province(tmp_path):
    home = tmp_path / "province-kafka"
    province_broker(home, "start")
    try:
        user, password = admin_credential(home)
        yield home, KafkaConnection(f"127.0.0.1:{PROVINCE_PORT}", "SASL_PLAINTEXT", "SCRAM-SHA-512", user, password)
    finally:
        province_broker(home, "stop")


def produce(kafka: KafkaConnection, *messages) -> None:
    """Send and wait for every acknowledgement; a refused delivery raises KafkaException."""
    producer = Producer({**kafka.producer(), "message.timeout.ms": 15_000})
    failures = []
    for topic, key, value in messages:
        producer.produce(topic, value, key, on_delivery=lambda err, _msg: err and failures.append(err))
    assert producer.flush(30) == 0
    if failures:
        raise KafkaException(failures[0])


def read_all(kafka: KafkaConnection, topic: str) -> list[bytes]:
    consumer = Consumer(kafka.consumer(f"reader-{time.time_ns()}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        values = []
        for partition in metadata.partitions:
            try:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            except KafkaException:  # a topic MirrorMaker 2 has just created: its leaders are being elected
                return []
            if high:
                consumer.assign([TopicPartition(topic, partition, 0)])
                while len(values) < 10_000:
                    message = consumer.poll(2)
                    if message is None:
                        break
                    if not message.error():
                        values.append(message.value())
                    if message.offset() + 1 >= high:
                        break
        return values
    finally:
        consumer.close()


def credentials(printed: str) -> dict[str, str]:
    """The VARIABLE=value lines a `creditstream province` command printed."""
    return dict(line.split("=", 1) for line in printed.splitlines() if line and not line.startswith("#"))


def test_only_what_leaves_the_city_arrives_at_the_province_under_its_prefix(kafka_settings, province, workers,
                                                                            tmp_path):
    home, province_admin = province
    city_admin = admin_kafka()
    codec = default_codec()
    # the city as it runs: simulated providers of every category (legal representatives' identity
    # numbers in clear on the personal topics) and its worker, which sends the public records out
    events, _rows = simulated(enterprises=20, months=6, seed=26)
    clear_ids = {e.value["legal_rep_id_no"].encode() for e in events
                 if isinstance(e.value, dict) and e.value.get("legal_rep_id_no")}
    assert clear_ids and {e.topic for e in events} == set(PROVIDER_TOPICS)
    publish(events)
    workers("city")
    record, penalty = builders.penalty("P-PROV", "2025-03-01")
    clear_id = penalty["legal_rep_id_no"]
    masked = {**penalty, "legal_rep_id_no": clear_id[:4] + "*" * 10 + clear_id[-4:], "legal_rep_id_hmac": "ab" * 32}
    water = builders.statement("water", "W-PROV", "2025-06", "10.000", "40.00")
    produce(city_admin, (OUTBOUND_PUBLIC_TOPIC, builders.USCC.encode(), codec.encode(record, masked)),
            (WHITELIST_TOPIC, builders.USCC.encode(), b'{"change_id":"x"}'),
            (OUTBOUND_STATISTICS_TOPIC, b"2026-11/*", b'{"month":"2026-11","lender_id":null,"applications":23}'),
            (UTILITY_TOPICS["water"], builders.USCC.encode(), codec.encode(*water)),
            (TOPIC_OF[record], builders.USCC.encode(), codec.encode(record, penalty)))  # clear: must never leave

    # each side's principal, with exactly its part, made by our commands as each side's administrator
    at_province = credentials(cli("province", "admit", CITY, **connection_env(province_admin)).stdout)
    at_city = credentials(cli("province", "mirror-user").stdout)
    metrics_port = free_port()
    log = (tmp_path / "mirror.log").open("wb")
    mirror = subprocess.Popen(
        [sys.executable, "-m", "creditstream.cli", "province", "mirror"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **connection_env(city_admin), **at_city, **at_province, "CREDITSTREAM_CITY_ALIAS": CITY,
             "CREDITSTREAM_PROVINCE_BOOTSTRAP_SERVERS": province_admin.bootstrap_servers,
             "CREDITSTREAM_HOME": str(tmp_path / "city"), "CREDITSTREAM_MIRROR_METRICS_PORT": str(metrics_port)})

    def lag(topic=OUTBOUND_PUBLIC_TOPIC):
        return scrape_metrics(metrics_port).get(f'creditstream_replication_lag_records{{topic="{topic}"}}')
    try:
        replicated = f"{CITY}.{OUTBOUND_PUBLIC_TOPIC}"
        wait_for(lambda: read_all(province_admin, replicated), 120, f"{replicated} at the province")
        assert (tmp_path / "city" / "mirror" / "mm2.properties").stat().st_mode & 0o077 == 0  # it holds passwords
        wait_for(lambda: read_all(province_admin, f"{CITY}.{WHITELIST_TOPIC}"), 60, "the whitelist at the province")
        wait_for(lambda: read_all(province_admin, f"{CITY}.{OUTBOUND_STATISTICS_TOPIC}"), 60, "the statistics too")
        assert "P-PROV" in {codec.decode(v)[1].get("decision_no") for v in read_all(province_admin, replicated)}
        assert partitions_of(province_admin, replicated) == partitions_of(city_admin, OUTBOUND_PUBLIC_TOPIC) == 4
        wait_for(lambda: lag() == lag(WHITELIST_TOPIC) == lag(OUTBOUND_STATISTICS_TOPIC) == 0, 60, "the lag metric at 0")

        # every public record the city's worker sent out arrives (and the one produced by hand)
        wait_for(lambda: len(read_all(city_admin, OUTBOUND_PUBLIC_TOPIC)) > 1, 120, "the city's worker sending out")
        wait_for(lambda: len(read_all(province_admin, replicated)) >= len(read_all(city_admin, OUTBOUND_PUBLIC_TOPIC)),
                 120, "every outbound record at the province")
        gathered = [codec.decode(value) for value in read_all(province_admin, replicated)]
        assert {name for name, _ in gathered} <= PUBLIC_RECORDS and len({name for name, _ in gathered}) > 3
        assert any(value.get("legal_rep_id_no") for _, value in gathered)  # personal records went out: masked

        # nothing else left the city: every provincial topic is under the city's prefix, none is a
        # consent-scoped or provider topic, and no clear identity number is anywhere
        topics = set(province_admin_topics(province_admin))
        assert topics and all(t.startswith(f"{CITY}.") for t in topics), topics
        assert not any(t.split(".", 1)[1] in PROVIDER_TOPICS for t in topics), topics
        for topic in topics:
            for value in read_all(province_admin, topic):
                assert clear_id.encode() not in value and not any(n in value for n in clear_ids), topic

        # a city writes only its prefix at the province; MM2 reads only what leaves the city
        as_city = province_admin.as_user(at_province["CREDITSTREAM_PROVINCE_KAFKA_USERNAME"],
                                         at_province["CREDITSTREAM_PROVINCE_KAFKA_PASSWORD"])
        with pytest.raises(KafkaException, match="AUTHORIZATION"):
            produce(as_city, ("qiqihar.credit.out.public.v1", b"k", b"v"))
        mirror_user = city_admin.as_user(at_city["CREDITSTREAM_KAFKA_USERNAME"], at_city["CREDITSTREAM_KAFKA_PASSWORD"])
        assert read_error(mirror_user, UTILITY_TOPICS["water"]).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert read_error(mirror_user, OUTBOUND_PUBLIC_TOPIC) is None

        # the provincial broker down for a while: the lag shows what waits, and what the city
        # published meanwhile arrives after, once
        province_broker(home, "stop")
        later = {**masked, "decision_no": "P-LATER", "event_id": "e-later"}
        produce(city_admin, (OUTBOUND_PUBLIC_TOPIC, builders.USCC.encode(), codec.encode(record, later)))
        wait_for(lambda: lag() == 1, 60, "the lag metric counting the record that waits")
        assert scrape_metrics(metrics_port)["creditstream_replication_province_reachable"] == 0
        province_broker(home, "start")
        # at least once: a record read before the link dropped may come again after it (MM2 commits
        # where it read every 5 s); the provincial aggregator folds each event once
        wait_for(lambda: {"P-LATER", "P-PROV"} <= {codec.decode(v)[1].get("decision_no")
                                                   for v in read_all(province_admin, replicated)},
                 180, "the record published while down")
        wait_for(lambda: lag() == 0, 60, "the lag back at 0")
        assert scrape_metrics(metrics_port)["creditstream_replication_mirror_running"] == 1
    finally:
        os.killpg(mirror.pid, signal.SIGTERM)
        mirror.wait(60)
        log.close()
    assert not subprocess.run(["pgrep", "-f", str(tmp_path / "city")], capture_output=True).stdout  # MM2 stopped too


def partitions_of(kafka: KafkaConnection, topic: str) -> int:
    consumer = Consumer(kafka.consumer(f"lister-{time.time_ns()}"))
    try:
        return len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        consumer.close()


def province_admin_topics(kafka: KafkaConnection) -> list[str]:
    consumer = Consumer(kafka.consumer(f"lister-{time.time_ns()}"))
    try:
        return [t for t in consumer.list_topics(timeout=10).topics if not t.startswith("__")]
    finally:
        consumer.close()


OTHER = "91350100MA0GWY001J"  # an enterprise only the second city knows


def test_the_provincial_worker_gathers_each_citys_public_records_once_with_their_sources(kafka_settings, workers,
                                                                                          tmp_path):
    """The same worker with CREDITSTREAM_PROVINCE_CITIES reads each city's replicated outbound topic
    (here written directly: MirrorMaker 2 is the test above): an enterprise both cities know has one
    row gathering both cities' records, naming both; a record from a city is validated again, and
    one with a clear identity number or of a consent-scoped kind is a dead letter at the province."""
    run = time.time_ns()
    first, second = f"a{run}", f"b{run}"  # this run's own city aliases: their topics are new
    admin = admin_kafka()
    topics = [replicated_topic(first), replicated_topic(second)]
    client = AdminClient(admin.client())  # kept: a collected client cancels its futures
    for future in client.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
        future.result(30)
    user = f"t-province-worker-{run}"
    password = make_principal(admin, user, service_grants("worker", "t-", True, (first, second)))

    codec = default_codec()
    secret = b"the-city-key"
    record, penalty_a = builders.penalty("P-A", "2025-05-10", occurred="2025-06-03T00:00:00", provider="env-bureau")
    _, penalty_b = builders.penalty("P-B", "2025-06-02", occurred="2025-06-03T00:00:00", provider="env-bureau")
    licence_record, licence = builders.licence("L-B", "VALID", "2025-01-01", provider="market")
    licence = protect({**licence, "uscc": OTHER}, secret)
    water = builders.statement("water", "W-1", "2025-06", "10.000", "40.00")
    produce(admin,
            (topics[0], builders.USCC.encode(), codec.encode(record, protect(penalty_a, secret))),
            (topics[1], builders.USCC.encode(), codec.encode(record, protect(penalty_b, secret))),
            (topics[1], OTHER.encode(), codec.encode(licence_record, licence)),
            (topics[0], builders.USCC.encode(), codec.encode(record, {**penalty_a, "decision_no": "P-CLEAR",
                                                                      "event_id": "e-clear"})),
            (topics[0], builders.USCC.encode(), codec.encode(*water)))

    worker = workers("province", CREDITSTREAM_PROVINCE_CITIES=f"{first},{second}", CREDITSTREAM_KAFKA_USERNAME=user,
                     CREDITSTREAM_KAFKA_PASSWORD=password)
    rows = {}

    def gathered():
        rows.update(latest_by_key(read_topic(AGGREGATES_TOPIC, idle_seconds=1)))
        return builders.USCC in rows and OTHER in rows and rows[builders.USCC]["penalties_in_publicity"] == 2
    wait_for(gathered, 120, "both cities' records gathered at the province")

    both, other = rows[builders.USCC], rows[OTHER]
    assert both["sources"] == sorted([first, second]) and other["sources"] == [second]
    # exactly the row the contract's functions give for the two penalties, each city's provider id qualified
    ledger = Ledger()
    for city, value in ((first, penalty_a), (second, penalty_b)):
        ledger.apply(record, {**protect(value, secret), "provider_id": f"{city}/env-bureau"})
    ledger.sources = {first, second}
    expected = json.loads(AggregateRow.encode(compute(builders.USCC, ledger, parse_month(STREAM_AS_OF))))
    assert both == expected
    letters = {(json.loads(m.value())["source_topic"], json.loads(m.value())["reason"])
               for m in read_topic(DEAD_LETTER_TOPIC, idle_seconds=1)}
    assert letters == {(topics[0], "INVALID_ID_NO"), (topics[0], "UNDECODABLE")}
    assert not read_topic(WHITELIST_TOPIC, idle_seconds=1)  # the whitelist is each city's, not the province's
    worker.stop()
