"""Kafka administration through the Admin API: topics (``creditstream topics create``, every
contract topic plus the platform's own; idempotent), consumer-group progress, and principals
(SCRAM credentials and their ACLs, ``creditstream kafka``/``providers``)."""
from __future__ import annotations

import secrets
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from creditstream.kafka_access import SERVICES, Grant, provider_grants, provider_user, service_grants, service_user
from creditstream.province import REPLICATED_TOPICS
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import (
    ALL_TOPICS,
    DEAD_LETTER_TOPIC,
    PERSONAL_TOPICS,
    SINGLE_PARTITION_TOPICS,
    TOPIC_CONFIG,
    replicated_topic,
)

DEAD_LETTER_RETENTION_MS = 7 * 24 * 3600 * 1000  # the default: a week to look into a rejected record


SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-512; each connection pays for them once


class KafkaRefused(RuntimeError):
    """The broker answered but refused the credentials; the message names the user."""


def _admin(kafka: KafkaConnection) -> AdminClient:
    # log_level 3: errors are raised to the caller; librdkafka's notices would only be noise
    return AdminClient({**kafka.client(), "log_level": 3})


def broker_answers(kafka: KafkaConnection, timeout: float = 3.0) -> bool:
    """True when a Kafka broker answers a metadata request; False when none answers. Raises
    KafkaRefused when one answers but refuses the credentials (a broker is there: starting
    another would be wrong)."""
    refusals = []

    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            refusals.append(error.str())

    # log_level 0: a probe that finds no broker is an answer, not an error to print
    admin = AdminClient({**kafka.client(), "log_level": 0, "error_cb": on_error})
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        admin.poll(0.5)  # the error callback runs only when polled
        if refusals:
            raise KafkaRefused(f"Kafka at {kafka.bootstrap_servers} refused {kafka.principal}: "
                               f"{refusals[0].split(': ', 1)[-1]}") from None
        return False


def group_lag(kafka: KafkaConnection, group: str, topics) -> int | None:
    """Messages of ``topics`` the consumer group has not committed yet (None while unknown)."""
    consumer = Consumer({**kafka.consumer(group), "log_level": 0})
    try:
        wanted = [TopicPartition(t, p) for t in topics for p in consumer.list_topics(t, timeout=10).topics[t].partitions]
        lag = 0
        for tp in consumer.committed(wanted, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    except KafkaException:
        return None
    finally:
        consumer.close()


def group_caught_up(kafka: KafkaConnection, group: str, topics) -> bool:
    """The consumer group has committed the end of every non-empty partition of ``topics`` (False
    while a partition cannot be read yet, e.g. its leadership is still settling)."""
    consumer = Consumer(kafka.consumer(group))
    try:
        wanted = [TopicPartition(t, p) for t in topics for p in consumer.list_topics(t, timeout=10).topics[t].partitions]
        for tp in consumer.committed(wanted, timeout=10):
            high = consumer.get_watermark_offsets(tp, timeout=10)[1]
            if high > 0 and tp.offset != high:
                return False
        return True
    except KafkaException:
        return False
    finally:
        consumer.close()


def create_topics(kafka: KafkaConnection, partitions: int, replication_factor: int, timeout: float = 30.0,
                  dead_letter_retention_ms: int = DEAD_LETTER_RETENTION_MS, cities: tuple[str, ...] = ()) -> dict[str, str]:
    """Create missing topics; return {topic: "created" | "exists"}. Raises on any other error.
    The dead-letter topic and the provider topics that carry clear identity numbers
    (PERSONAL_TOPICS) keep records ``dead_letter_retention_ms``, set on existing topics too: how
    long personal data stays is the operator's setting (the masked copy on MASKED_TOPIC stays).
    ``cities``: a provincial node's, whose replicated topics are made here too, so its worker
    finds them at once (MirrorMaker 2 writes into them; made by MM2 later, a worker that started
    first would wait for its next metadata refresh to be assigned them)."""
    admin = _admin(kafka)
    bounded = (DEAD_LETTER_TOPIC, *PERSONAL_TOPICS)
    configs = {**TOPIC_CONFIG, **{t: {"retention.ms": str(dead_letter_retention_ms)} for t in bounded}}
    gathered = {replicated_topic(city, topic): topic for city in cities for topic in REPLICATED_TOPICS}
    wanted = [NewTopic(name, 1 if gathered.get(name, name) in SINGLE_PARTITION_TOPICS else partitions,
                       replication_factor, config=configs.get(gathered.get(name, name), {}))
              for name in (*ALL_TOPICS, *gathered)]
    outcome = {}
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"creating topic {name} failed: {exc.args[0].str()}") from None
            outcome[name] = "exists"
    existing = [t for t in bounded if outcome.get(t) == "exists"]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", str(dead_letter_retention_ms), incremental_operation=AlterConfigOpType.SET)])
        for topic in existing]
    for resource, future in (admin.incremental_alter_configs(resources, request_timeout=timeout).items()
                             if resources else ()):
        try:
            future.result(timeout)
        except KafkaException as exc:  # e.g. the topic is being deleted: the caller may retry
            raise RuntimeError(f"setting the retention of {resource.name} failed: {exc.args[0].str()}") from None
    return outcome


def topic_config(kafka: KafkaConnection, topic: str, name: str, timeout: float = 30.0) -> str:
    """One configuration value of a topic, as the broker has it."""
    admin = _admin(kafka)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
    return entries[name].value


# -- principals ---------------------------------------------------------------------------------
_MECHANISM = {"SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512, "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256}


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _wait_all(futures: dict, what: str, timeout: float) -> None:
    for future in futures.values():
        try:
            future.result(timeout)
        except KafkaException as exc:
            raise RuntimeError(f"{what} failed: {exc.args[0].str()}") from None


def upsert_user(kafka: KafkaConnection, user: str, password: str, timeout: float = 30.0) -> None:
    """Create the SCRAM credential of ``user``, or replace its password (the broker keeps only a
    salted hash)."""
    admin = _admin(kafka)
    info = ScramCredentialInfo(_MECHANISM[kafka.sasl_mechanism], SCRAM_ITERATIONS)
    _wait_all(admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())],
                                                 request_timeout=timeout), f"creating the Kafka user {user}", timeout)


def delete_user(kafka: KafkaConnection, user: str, timeout: float = 30.0) -> bool:
    """Remove the SCRAM credential of ``user`` (of the configured mechanism); False when it had none."""
    admin = _admin(kafka)
    deletion = UserScramCredentialDeletion(user, _MECHANISM[kafka.sasl_mechanism])
    for future in admin.alter_user_scram_credentials([deletion], request_timeout=timeout).values():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.RESOURCE_NOT_FOUND:
                return False
            raise RuntimeError(f"deleting the Kafka user {user} failed: {exc.args[0].str()}") from None
    return True


def _binding(user: str, grant: Grant) -> AclBinding:
    """A grant as Kafka's ACL (a grant's words are the enums' names, lower-case)."""
    return AclBinding(ResourceType[grant.resource.upper()], grant.name, ResourcePatternType[grant.pattern.upper()],
                      f"User:{user}", "*", AclOperation[grant.operation.upper()], AclPermissionType.ALLOW)


def grant(kafka: KafkaConnection, user: str, grants: list[Grant], timeout: float = 30.0) -> None:
    """Create the ALLOW ACLs of ``user`` (creating one that exists is harmless)."""
    if grants:
        admin = _admin(kafka)
        _wait_all(admin.create_acls([_binding(user, g) for g in grants], request_timeout=timeout),
                  f"granting {user} its ACLs", timeout)


def ungrant(kafka: KafkaConnection, user: str, grants: list[Grant], timeout: float = 30.0) -> None:
    """Delete exactly these ALLOW ACLs of ``user``."""
    if grants:
        admin = _admin(kafka)
        filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                    b.permission_type) for b in (_binding(user, g) for g in grants)]
        _wait_all(admin.delete_acls(filters, request_timeout=timeout), f"removing ACLs of {user}", timeout)


def _user_filter(user: str) -> AclBindingFilter:
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None, AclOperation.ANY,
                            AclPermissionType.ANY)


def revoke_all(kafka: KafkaConnection, user: str, timeout: float = 30.0) -> int:
    """Delete every ACL that names ``user``; return how many there were."""
    admin = _admin(kafka)
    deleted = 0
    for future in admin.delete_acls([_user_filter(user)], request_timeout=timeout).values():
        deleted += len(future.result(timeout))
    return deleted


def acls_of(kafka: KafkaConnection, user: str, timeout: float = 30.0) -> list[Grant]:
    """The ALLOW ACLs that name ``user``, as grants."""
    admin = _admin(kafka)
    found = admin.describe_acls(_user_filter(user), request_timeout=timeout).result(timeout)
    return sorted(Grant(b.restype.name.lower(), b.name, b.resource_pattern_type.name.lower(), b.operation.name.lower())
                  for b in found if b.permission_type == AclPermissionType.ALLOW)


def make_principal(kafka: KafkaConnection, user: str, grants: list[Grant], password: str | None = None) -> str:
    """A principal with exactly these ACLs, and a new password; return it. The ACLs it keeps are
    never withdrawn on the way (only those it must lose are), so renewing a principal's ACLs after
    an upgrade does not refuse it for a moment; a new password does need its processes restarted."""
    password = password or new_password()
    upsert_user(kafka, user, password)
    wait_for_credential(kafka, user, password)
    wanted, held = set(grants), set(acls_of(kafka, user))
    grant(kafka, user, sorted(wanted - held))
    ungrant(kafka, user, sorted(held - wanted))
    wait_for_acls(kafka, user, wanted)
    return password


def wait_for_credential(kafka: KafkaConnection, user: str, password: str, timeout: float = 30.0) -> None:
    """Return once the broker accepts ``user`` with ``password``. Like an ACL, a new or changed
    SCRAM credential is committed before the broker applies it: a process started at once with a
    renewed password was refused (the demo's second run, its simulator)."""
    if not kafka.sasl:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            AdminClient({**kafka.as_user(user, password).client(), "log_level": 0}).list_topics(timeout=5)
            return
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not accept the new credential of {user} within {timeout:.0f} s: "
                                   f"{exc.args[0].str()}") from None
            time.sleep(0.2)


def wait_for_acls(kafka: KafkaConnection, user: str, wanted: set[Grant], timeout: float = 30.0) -> None:
    """Return once the broker enforces exactly ``wanted`` for ``user``. The controller commits an
    ACL change before the broker applies it, so without this a principal used at once could be
    refused (and a renewal that read ACLs at once would see old ones)."""
    deadline = time.monotonic() + timeout
    while set(acls_of(kafka, user)) != wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not apply the ACLs of {user} within {timeout:.0f} s")
        time.sleep(0.1)


def remove_principal(kafka: KafkaConnection, user: str) -> tuple[bool, int]:
    """Delete the credential and every ACL of ``user``: (had a credential, ACLs deleted)."""
    had, deleted = delete_user(kafka, user), revoke_all(kafka, user)
    wait_for_acls(kafka, user, set())
    return had, deleted


def setup_services(kafka: KafkaConnection, app_id: str, app_id_prefix: bool = False,
                   cities: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """The platform's service principals (worker, sink, api, operator) with their ACLs for the app
    ``app_id``, each with a new password: {service: (user, password)}. Run as an administrator.
    ``cities``: a provincial node's, whose replicated topics its worker reads."""
    made = {}
    for role in SERVICES:
        user = service_user(role, app_id)
        made[role] = user, make_principal(kafka, user, service_grants(role, app_id, app_id_prefix, cities))
    return made


def setup_provider(kafka: KafkaConnection, provider_id: str, topics) -> tuple[str, str]:
    """A provider's principal, allowed to write exactly ``topics``: (user, new password)."""
    user = provider_user(provider_id)
    return user, make_principal(kafka, user, provider_grants(topics))
