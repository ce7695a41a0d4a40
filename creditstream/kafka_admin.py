"""``creditstream topics create``: every contract topic plus the platform's own; idempotent."""
from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import ALL_TOPICS, DEAD_LETTER_TOPIC, SINGLE_PARTITION_TOPICS, TOPIC_CONFIG

DEAD_LETTER_RETENTION_MS = 7 * 24 * 3600 * 1000  # the default: a week to look into a rejected record


def broker_answers(kafka: KafkaConnection, timeout: float = 3.0) -> bool:
    """True when a Kafka broker answers a metadata request."""
    try:
        # log_level 0: a probe that finds no broker is an answer, not an error to print
        AdminClient({**kafka.client(), "log_level": 0}).list_topics(timeout=timeout)
        return True
    except KafkaException:
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
                  dead_letter_retention_ms: int = DEAD_LETTER_RETENTION_MS) -> dict[str, str]:
    """Create missing topics; return {topic: "created" | "exists"}. Raises on any other error.
    The dead-letter topic's retention is set on an existing topic too: its records keep original
    bytes, which may carry personal data, so how long they stay is the operator's setting."""
    admin = AdminClient(kafka.client())
    configs = {**TOPIC_CONFIG, DEAD_LETTER_TOPIC: {"retention.ms": str(dead_letter_retention_ms)}}
    wanted = [NewTopic(name, 1 if name in SINGLE_PARTITION_TOPICS else partitions, replication_factor,
                       config=configs.get(name, {})) for name in ALL_TOPICS]
    outcome = {}
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"creating topic {name} failed: {exc.args[0].str()}") from None
            outcome[name] = "exists"
    if outcome.get(DEAD_LETTER_TOPIC) == "exists":
        resource = ConfigResource(ConfigResource.Type.TOPIC, DEAD_LETTER_TOPIC, incremental_configs=[
            ConfigEntry("retention.ms", str(dead_letter_retention_ms),
                        incremental_operation=AlterConfigOpType.SET)])
        for future in admin.incremental_alter_configs([resource], request_timeout=timeout).values():
            try:
                future.result(timeout)
            except KafkaException as exc:  # e.g. the topic is being deleted: the caller may retry
                raise RuntimeError(f"setting the retention of {DEAD_LETTER_TOPIC} failed: {exc.args[0].str()}") from None
    return outcome


def topic_config(kafka: KafkaConnection, topic: str, name: str, timeout: float = 30.0) -> str:
    """One configuration value of a topic, as the broker has it."""
    admin = AdminClient(kafka.client())
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
    return entries[name].value
