"""``creditstream topics create``: every contract topic plus the platform's own; idempotent."""
from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from creditstream.contract import AGGREGATES_TOPIC, API_KEYS_TOPIC, PLATFORM_TOPICS, PROVIDER_TOPICS
from creditstream.settings import Settings

# The aggregates topic holds the latest row per enterprise: compaction keeps exactly that.
TOPIC_CONFIG = {AGGREGATES_TOPIC: {"cleanup.policy": "compact"}, API_KEYS_TOPIC: {"cleanup.policy": "compact"}}


def broker_answers(bootstrap_servers: str, timeout: float = 3.0) -> bool:
    """True when a Kafka broker answers a metadata request at ``bootstrap_servers``."""
    try:
        AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def all_topics() -> list[str]:
    return [*PROVIDER_TOPICS, *PLATFORM_TOPICS]


def create_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; return {topic: "created" | "exists"}. Raises on any other error."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    wanted = [
        NewTopic(name, settings.partitions, settings.replication_factor, config=TOPIC_CONFIG.get(name, {}))
        for name in all_topics()
    ]
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
