"""The city node's link to the provincial node (docs/provincial-node.md): MirrorMaker 2's
configuration, as plain data. The city replicates only its outbound public topic and the whitelist
changes, under its own prefix (``heihe.credit.out.public.v1``); MM2 reads the city as a principal
that may read those two topics (and write its offset-sync bookkeeping there), and writes the
province as a principal that may touch only topics and groups under the city's prefix
(``kafka_access.mirror_source_grants`` / ``mirror_target_grants``)."""
from __future__ import annotations

import re

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import NODE_ALIAS, OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC

PROVINCE = "province"  # the target cluster's alias (offset syncs: mm2-offset-syncs.province.internal)
REPLICATED_TOPICS = (OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC)  # what leaves the city, and nothing else


def offset_syncs_topic(target: str = PROVINCE) -> str:
    return f"mm2-offset-syncs.{target}.internal"


def _client(alias: str, kafka: KafkaConnection) -> list[str]:
    lines = [f"{alias}.bootstrap.servers = {kafka.bootstrap_servers}"]
    if kafka.sasl:
        lines += [f"{alias}.security.protocol = {kafka.security_protocol}",
                  f"{alias}.sasl.mechanism = {kafka.sasl_mechanism}",
                  f'{alias}.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required '
                  f'username="{kafka.username}" password="{kafka.password}";']
    return lines


def mirror_properties(city: str, city_kafka: KafkaConnection, province_kafka: KafkaConnection,
                      replication_factor: int = 1) -> str:
    """mm2.properties for one city → the province (dedicated mode, ``--clusters province`` not
    needed: only this flow is enabled). Holds the two passwords: write it with mode 600."""
    if not NODE_ALIAS.fullmatch(city) or city == PROVINCE:
        raise ValueError(f"city alias {city!r}: lower-case letters and digits, 2-31, not {PROVINCE!r}")
    topics = "|".join(re.escape(t) for t in REPLICATED_TOPICS)
    lines = [
        f"clusters = {city}, {PROVINCE}",
        *_client(city, city_kafka), *_client(PROVINCE, province_kafka),
        f"{city}->{PROVINCE}.enabled = true",
        f"{PROVINCE}->{city}.enabled = false",
        f"{city}->{PROVINCE}.topics = {topics}",
        "topics.exclude = ",  # the defaults exclude nothing we replicate; nothing else matches anyway
        # no heartbeats (they go to an unprefixed topic), no group checkpoints (the province reads
        # from the start), no ACL or config syncing (each cluster's are its own)
        "emit.heartbeats.enabled = false",
        "emit.checkpoints.enabled = false",
        "sync.group.offsets.enabled = false",
        "sync.topic.acls.enabled = false",
        "sync.topic.configs.enabled = false",
        "offset-syncs.topic.location = source",  # on the city: the province principal stays in its prefix
        "refresh.topics.interval.seconds = 10",
        # the Connect worker's own topics on the province, under the city's prefix
        f"{PROVINCE}.config.storage.topic = {city}.mm2-configs",
        f"{PROVINCE}.offset.storage.topic = {city}.mm2-offsets",
        f"{PROVINCE}.status.storage.topic = {city}.mm2-status",
        f"{PROVINCE}.group.id = {city}.mm2",
        "dedicated.mode.enable.internal.rest = false",
        *(f"{name}.replication.factor = {replication_factor}" for name in (
            "offset-syncs.topic", "checkpoints.topic", "heartbeats.topic", "config.storage", "offset.storage",
            "status.storage")),
        f"replication.factor = {replication_factor}",
    ]
    return "\n".join(lines) + "\n"
