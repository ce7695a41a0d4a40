"""``creditstream topics create``: every contract topic plus the platform's own; idempotent."""
from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import ALL_TOPICS, SINGLE_PARTITION_TOPICS, TOPIC_CONFIG


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


def create_topics(kafka: KafkaConnection, partitions: int, replication_factor: int,
                  timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; return {topic: "created" | "exists"}. Raises on any other error."""
    admin = AdminClient(kafka.client())
    wanted = [NewTopic(name, 1 if name in SINGLE_PARTITION_TOPICS else partitions, replication_factor,
                       config=TOPIC_CONFIG.get(name, {})) for name in ALL_TOPICS]
    outcome = {}
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"creating topic {name} failed: {exc.args[0].str()}") from None
            outcome[name] = "exists"
    return outcome
