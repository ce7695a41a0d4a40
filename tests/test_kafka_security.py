"""Kafka security against the real, secured broker (SASL/SCRAM-SHA-512, StandardAuthorizer): a
provider writes only its own topics and reads nothing, nobody gets in without a credential, a
removed provider is refused, and only operators read the dead letters."""
import json
import os
import re
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, Producer

from creditstream.kafka_access import SERVICES, provider_grants, readers_of, service_grants
from creditstream.kafka_admin import KafkaRefused, acls_of, broker_answers, make_principal, remove_principal
from creditstream.schemas.kafka import KafkaConnection, KafkaCredentialsMissing
from creditstream.schemas.records import to_json
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    DEAD_LETTER_TOPIC,
    NORMALIZED_TOPIC,
    PROVIDER_TOPICS,
    TOPIC_OF,
    UTILITY_TOPICS,
)
from creditstream.settings import Settings
from tests.support import builders
from tests.support.kafka import (
    BOOTSTRAP,
    ROOT,
    TEST_APP_PREFIX,
    admin_kafka,
    as_user,
    cli,
    read_error,
    read_topic,
    service_kafka,
)

WATER = UTILITY_TOPICS["water"]
TAX = TOPIC_OF["TaxPayment"]


def jsonl(path, *built) -> None:
    """A provider export of builders' (record, value) pairs, in the contract's JSON form."""
    path.write_text("".join(json.dumps({"topic": TOPIC_OF[record], "value": to_json(value)}, ensure_ascii=False) + "\n"
                            for record, value in built), encoding="utf-8")


def a_water_statement(provider: str):
    return builders.statement("water", "W-1", "2025-05", "10.5", "35.70", provider=provider,
                              event_id=f"w-{time.time_ns()}", occurred="2025-05-31T12:00:00")


def a_tax_payment(provider: str):
    return builders.payment("VAT", "2025-05-01", "2025-05-31", "100.00", "100.00", "2025-06-15", "2025-06-10",
                            provider=provider, event_id=f"t-{time.time_ns()}", occurred="2025-06-10T12:00:00")


def seed(*topics: str) -> None:
    """One message in partition 0 of each topic (as the administrator), so a reader gets either it
    or a refusal."""
    producer = Producer(admin_kafka().producer())
    for topic in topics:
        producer.produce(topic, b"probe", partition=0)
    assert producer.flush(30) == 0


def test_a_provider_writes_its_own_topics_only_and_reads_nothing(kafka_settings, tmp_path):
    provider = f"water-{time.time_ns()}"
    added = cli("providers", "add", provider, "--topics", WATER).stdout
    user = re.search(r"^Kafka .*: user (\S+)$", added, re.M).group(1)
    password = re.search(r"^Kafka password \(shown once, store it now\): (\S+)$", added, re.M).group(1)
    assert user == f"provider-{provider}"
    water = as_user(user, password)
    as_provider = {"CREDITSTREAM_KAFKA_USERNAME": user, "CREDITSTREAM_KAFKA_PASSWORD": password}

    own = tmp_path / "water.jsonl"
    jsonl(own, a_water_statement(provider))
    assert "published 1, rejected 0, delivery failures 0" in cli("publish", str(own), **as_provider).stdout
    assert [m.value() for m in read_topic(WATER)] and len(read_topic(WATER)) == 1

    foreign = tmp_path / "tax.jsonl"
    jsonl(foreign, a_tax_payment(provider))
    refused = cli("publish", str(foreign), check=False, **as_provider)
    assert refused.returncode != 0
    assert (f"{TAX}: not authorised: User:{user} may not write this topic (TOPIC_AUTHORIZATION_FAILED)"
            in refused.stderr), refused.stderr
    assert read_topic(TAX) == []

    seed(AGGREGATES_TOPIC, NORMALIZED_TOPIC, DEAD_LETTER_TOPIC)
    for topic in (AGGREGATES_TOPIC, NORMALIZED_TOPIC, DEAD_LETTER_TOPIC, WATER):
        error = read_error(water, topic)
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, error)


def test_no_credential_no_access(kafka_settings):
    # a client without SASL does not even get metadata from the secured listener
    assert broker_answers(KafkaConnection(BOOTSTRAP), timeout=5) is False
    # a wrong password is refused, and said to be
    with pytest.raises(KafkaRefused, match="refused User:admin"):
        broker_answers(admin_kafka().as_user("admin", "not-the-password"), timeout=10)
    with pytest.raises(KafkaRefused, match="refused User:nobody"):
        broker_answers(admin_kafka().as_user("nobody", "whatever"), timeout=10)
    # settings without a credential say what to set before trying
    with pytest.raises(KafkaCredentialsMissing, match="CREDITSTREAM_KAFKA_USERNAME"):
        KafkaConnection(BOOTSTRAP, "SASL_PLAINTEXT").client()


def test_a_removed_provider_is_refused(kafka_settings, tmp_path):
    provider = f"gone-{time.time_ns()}"
    added = cli("providers", "add", provider, "--topics", WATER).stdout
    user = re.search(r"^Kafka .*: user (\S+)$", added, re.M).group(1)
    password = re.search(r"^Kafka password \(shown once, store it now\): (\S+)$", added, re.M).group(1)
    assert broker_answers(as_user(user, password), timeout=10)

    removed = cli("providers", "revoke", "--provider", provider).stdout
    assert f"revoked 1 key(s) of provider {provider}" in removed
    assert f"Kafka user {user}: credential deleted, 1 ACL(s) deleted" in removed
    with pytest.raises(KafkaRefused, match=f"refused User:{user}"):
        broker_answers(as_user(user, password), timeout=10)
    path = tmp_path / "water.jsonl"
    jsonl(path, a_water_statement(provider))
    refused = cli("publish", str(path), check=False, CREDITSTREAM_KAFKA_USERNAME=user,
                  CREDITSTREAM_KAFKA_PASSWORD=password)
    assert refused.returncode != 0 and f"Kafka refused User:{user}" in refused.stderr, refused.stderr
    assert read_topic(WATER) == []


def test_only_operators_and_the_sink_read_the_dead_letters(kafka_settings):
    seed(DEAD_LETTER_TOPIC, AGGREGATES_TOPIC)
    for role in ("worker", "api"):
        error = read_error(service_kafka(role), DEAD_LETTER_TOPIC)
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (role, error)
    for role in ("operator", "sink"):
        assert read_error(service_kafka(role), DEAD_LETTER_TOPIC) is None, role
    # an operator reads nothing else
    assert read_error(service_kafka("operator"), AGGREGATES_TOPIC).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


# -- the ACL table itself (no broker) -------------------------------------------------------------

def test_the_dead_letters_are_read_by_operators_and_the_sink_only():
    assert readers_of(DEAD_LETTER_TOPIC, "creditstream") == {"operator", "sink"}


def test_a_provider_is_granted_writes_to_its_topics_and_nothing_else():
    grants = provider_grants([WATER, WATER])
    assert [(g.resource, g.name, g.pattern, g.operation) for g in grants] == [("topic", WATER, "literal", "write")]


def test_only_the_gateways_write_provider_topics_and_prefixes_stay_in_the_platform_s_names():
    for role in SERVICES:
        writes = {g.name for g in service_grants(role, "creditstream") if g.operation in ("write", "all")}
        assert bool(writes & set(PROVIDER_TOPICS)) == (role in ("api", "gateway")), role
        # a prefix grant covers only the platform's own names, never a provider's or another app's topics
        assert all(g.pattern == "literal" or g.name.startswith("creditstream")
                   for g in service_grants(role, "creditstream")), role


def test_kafka_setup_writes_each_service_its_own_credential(kafka_settings, tmp_path):
    app_id = f"{TEST_APP_PREFIX}setup-{time.time_ns()}"
    out = cli("kafka", "setup", "--simulator", "--env-dir", str(tmp_path / "env"), CREDITSTREAM_APP_ID=app_id).stdout
    files = {path.stem: path for path in (tmp_path / "env").glob("*.env")}
    assert set(files) == {"worker", "api", "gateway", "operator", "simulator"}, out
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files.values())
    worker = dict(line.split("=", 1) for line in files["worker"].read_text().splitlines())
    assert worker["CREDITSTREAM_KAFKA_USERNAME"] == f"{app_id}-worker"
    assert worker["CREDITSTREAM_SINK_KAFKA_USERNAME"] == f"{app_id}-sink"
    assert "PASSWORD" not in out  # the passwords went to the files only
    # each credential works, and each principal has exactly its grants
    assert broker_answers(as_user(worker["CREDITSTREAM_KAFKA_USERNAME"], worker["CREDITSTREAM_KAFKA_PASSWORD"]), 10)
    listed = cli("kafka", "acls", f"{app_id}-operator").stdout.splitlines()
    assert sorted(listed) == sorted([f"ALLOW User:{app_id}-operator READ topic {DEAD_LETTER_TOPIC}",
                                     f"ALLOW User:{app_id}-operator READ group creditstream-operator-*"])
    seed(DEAD_LETTER_TOPIC)
    operator = dict(line.split("=", 1) for line in files["operator"].read_text().splitlines())
    reader = as_user(operator["CREDITSTREAM_KAFKA_USERNAME"], operator["CREDITSTREAM_KAFKA_PASSWORD"])
    assert read_error(reader, DEAD_LETTER_TOPIC) is None


@pytest.mark.kafka
def test_plaintext_is_an_explicit_opt_out_said_out_loud(tmp_path, caplog):
    """A broker started with KAFKA_SECURITY=plaintext says so, and so does every client that
    connects without authentication; without the opt-out a client refuses to try unauthenticated."""
    env = {**os.environ, "KAFKA_PORT": "19492", "KAFKA_CONTROLLER_PORT": "19493", "KAFKA_HOME_DIR": str(tmp_path),
           "KAFKA_LIB_DIR": str(ROOT / "broker" / "lib")}
    script = str(ROOT / "broker" / "kafka.sh")
    result = subprocess.run(["bash", script, "start"], capture_output=True, text=True,
                            env={**env, "KAFKA_SECURITY": "plaintext"})
    try:
        assert result.returncode == 0, result.stderr
        assert "SECURITY OFF (KAFKA_SECURITY=plaintext): no authentication and no ACLs" in result.stderr
        settings = Settings(bootstrap_servers="127.0.0.1:19492", kafka_security_protocol="PLAINTEXT")
        with caplog.at_level("WARNING", logger="creditstream.kafka"):
            assert broker_answers(settings.kafka, timeout=10)
        assert "Kafka security OFF: connecting to 127.0.0.1:19492 without authentication" in caplog.text
        with pytest.raises(KafkaCredentialsMissing):
            Settings(bootstrap_servers="127.0.0.1:19492").kafka.client()
    finally:
        subprocess.run(["bash", script, "stop"], capture_output=True, env=env)


def test_renewing_a_principal_leaves_it_exactly_its_new_grants(kafka_settings):
    user = f"{TEST_APP_PREFIX}renewed-{time.time_ns()}"
    water, tax = provider_grants([WATER]), provider_grants([TAX])
    first = make_principal(admin_kafka(), user, water + tax)
    assert acls_of(admin_kafka(), user) == sorted(water + tax)
    second = make_principal(admin_kafka(), user, tax)
    assert acls_of(admin_kafka(), user) == tax and second != first
    with pytest.raises(KafkaRefused):  # the old password is gone
        broker_answers(as_user(user, first), timeout=10)
    assert broker_answers(as_user(user, second), timeout=10)
    assert remove_principal(admin_kafka(), user) == (True, 1)
    assert remove_principal(admin_kafka(), user) == (False, 0)


def test_the_gateway_principal_cannot_write_consents():
    consent = TOPIC_OF["ConsentGrant"]
    writes = {g.name for g in service_grants("gateway", "creditstream") if g.operation == "write"}
    assert consent not in writes and writes >= set(PROVIDER_TOPICS) - {consent}
