"""The city node's link to the provincial node (docs/provincial-node.md): MirrorMaker 2's
configuration, as plain data. The city replicates only its outbound public topic and the whitelist
changes, under its own prefix (``heihe.credit.out.public.v1``); MM2 reads the city as a principal
that may read those two topics (and write its offset-sync bookkeeping there), and writes the
province as a principal that may touch only topics and groups under the city's prefix
(``kafka_access.mirror_source_grants`` / ``mirror_target_grants``)."""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterable, Mapping

from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import NODE_ALIAS, OUTBOUND_PUBLIC_TOPIC, OUTBOUND_STATISTICS_TOPIC, WHITELIST_TOPIC

log = logging.getLogger("creditstream.province")
MIRROR_SCRIPT = Path(__file__).resolve().parent.parent / "broker" / "mirror.sh"
LAG_EVERY_SECONDS = 10.0
PROVINCE = "province"  # the target cluster's alias (offset syncs: mm2-offset-syncs.province.internal)
MIRROR_USER = "mirror-province"  # MirrorMaker 2's principal at the city
# what leaves the city, and nothing else: public records, whitelist changes, public loan statistics
REPLICATED_TOPICS = (OUTBOUND_PUBLIC_TOPIC, WHITELIST_TOPIC, OUTBOUND_STATISTICS_TOPIC)


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
        # where MM2 has read to is committed every 5 s (Connect's default is 60): a link that drops
        # re-sends at most the records after the last commit (at least once; the provincial
        # aggregator folds a record once however often it arrives, by provider and event id)
        "offset.flush.interval.ms = 5000",
        # a record waits for the province however long the link is down, instead of failing the
        # task after the default two minutes (a failed task stays failed until restarted by hand)
        f"{PROVINCE}.producer.delivery.timeout.ms = 2147483647",
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


def replication_lag(city_ends: Mapping[tuple[str, int], int], province_ends: Mapping[tuple[str, int], int],
                    city: str) -> dict[str, int]:
    """Records per replicated topic in the city not yet at the province: the city's end offsets
    minus the province's, per partition (MM2 keeps partitions, and the outbound topics are neither
    compacted nor transactional, so an offset is a record), never below 0."""
    lag: dict[str, int] = {}
    for (topic, partition), end in city_ends.items():
        arrived = province_ends.get((f"{city}.{topic}", partition), 0)
        lag[topic] = lag.get(topic, 0) + max(0, end - arrived)
    return lag


def end_offsets(kafka: KafkaConnection, topics: Iterable[str], timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """(topic, partition) → end offset, for the topics that exist (a replicated topic appears at the
    province only once MM2 has created it)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(kafka.consumer(f"{kafka.username or 'creditstream'}-offsets", **{"log_level": 0}))
    try:
        ends = {}
        for topic in topics:
            described = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if described is None or described.error is not None:
                continue
            for partition in described.partitions:
                ends[(topic, partition)] = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                          timeout=timeout)[1]
        return ends
    finally:
        consumer.close()


class Mirror:
    """``creditstream province mirror``: MirrorMaker 2 for this city (broker/mirror.sh, its
    properties written with mode 600 under ``home``), and every LAG_EVERY_SECONDS the replication
    lag per topic on the metrics registry ``monitoring.metrics.MIRROR``. MM2 restarts when it exits;
    the lag keeps being measured while the province is unreachable (its last end offsets stand)."""

    def __init__(self, city: str, city_kafka: KafkaConnection, province_kafka: KafkaConnection, home: Path,
                 ends: Callable = end_offsets):
        from creditstream.monitoring import metrics

        self.metrics = metrics
        self.city, self.city_kafka, self.province_kafka, self.ends = city, city_kafka, province_kafka, ends
        self.home = home
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.province_ends: dict[tuple[str, int], int] = {}

    def write_properties(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "mm2.properties"
        path.touch(mode=0o600)
        path.chmod(0o600)  # it holds both passwords
        path.write_text(mirror_properties(self.city, self.city_kafka, self.province_kafka))
        return path

    def start_mirror_maker(self, properties: Path) -> None:
        log_file = (self.home / "mirror-maker.log").open("ab")
        self.process = subprocess.Popen([str(MIRROR_SCRIPT), "run", str(properties)], stdout=log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.info("MirrorMaker 2 started (pid %d); its log: %s", self.process.pid, self.home / "mirror-maker.log")

    def measure(self) -> dict[str, int]:
        city_ends = self.ends(self.city_kafka, REPLICATED_TOPICS)
        try:
            self.province_ends = self.ends(self.province_kafka, [f"{self.city}.{t}" for t in REPLICATED_TOPICS])
            self.metrics.PROVINCE_REACHABLE.set(1)
        except Exception as exc:  # the link down: the city's side still moves, the lag shows it
            log.warning("the provincial cluster does not answer: %s", exc)
            self.metrics.PROVINCE_REACHABLE.set(0)
        lag = replication_lag(city_ends, self.province_ends, self.city)
        for topic, records in lag.items():
            self.metrics.REPLICATION_LAG.labels(topic).set(records)
            arrived = sum(end for (name, _), end in self.province_ends.items() if name == f"{self.city}.{topic}")
            self.metrics.REPLICATED_RECORDS.labels(topic).set(arrived)
        return lag

    def run(self) -> int:
        properties = self.write_properties()
        self.start_mirror_maker(properties)
        while not self.stopping.is_set():
            running = self.process.poll() is None
            self.metrics.MIRROR_RUNNING.set(1 if running else 0)
            if not running:
                log.error("MirrorMaker 2 exited with status %s; starting it again", self.process.returncode)
                self.start_mirror_maker(properties)
            try:
                self.measure()
            except Exception as exc:
                log.warning("replication lag not measured: %s", exc)
            self.stopping.wait(LAG_EVERY_SECONDS)
        return 0

    def stop(self) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
