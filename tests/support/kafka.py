"""Helpers for tests against the real broker (started by .ci/run with broker/kafka.sh)."""
from __future__ import annotations

import functools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from creditstream import kafka_admin
from creditstream.broker import admin_credential
from creditstream.kafka_access import SERVICES
from creditstream.kafka_admin import broker_answers, create_topics, setup_services
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import ALL_TOPICS
from creditstream.settings import Settings, connection_env, credential_env

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("CREDITSTREAM_TEST_BOOTSTRAP", "127.0.0.1:19092")
STREAM_AS_OF = "2025-06"  # the as-of month stream tests pin their workers to
PERSONAL_DATA_KEY = "test-personal-data-key"  # the workers' HMAC key over identity numbers
KAFKA_HOME = Path(os.environ.get("KAFKA_HOME_DIR") or ROOT / ".local" / "kafka")  # the test broker's (kafka.sh)
TEST_APP_PREFIX = "t-"  # every test app id begins with it: the service principals are granted that prefix
# PLAINTEXT: a broker started with KAFKA_SECURITY=plaintext, for benchmarks that measure what
# security costs (the security tests themselves need the secured broker)
SECURITY = os.environ.get("CREDITSTREAM_TEST_KAFKA_SECURITY", "SASL_PLAINTEXT")


@functools.lru_cache(maxsize=None)
def admin_kafka() -> KafkaConnection:
    """The test broker as its administrator: what the tests themselves use to set up and look."""
    if SECURITY == "PLAINTEXT":
        return KafkaConnection(BOOTSTRAP)
    user, password = admin_credential(KAFKA_HOME)
    return KafkaConnection(BOOTSTRAP, SECURITY, "SCRAM-SHA-512", user, password)


def as_user(user: str, password: str) -> KafkaConnection:
    return admin_kafka().as_user(user, password)


def service_kafka(role: str) -> KafkaConnection:
    """The test broker as a platform service (worker, sink, api, operator)."""
    return as_user(*service_principals()[role])


@functools.lru_cache(maxsize=None)
def service_principals() -> dict[str, tuple[str, str]]:
    """The platform's service principals (worker, sink, api, operator), made once per test process
    with their production ACLs for every app id beginning with TEST_APP_PREFIX."""
    if SECURITY == "PLAINTEXT":
        return {role: ("", "") for role in SERVICES}
    return setup_services(admin_kafka(), TEST_APP_PREFIX, app_id_prefix=True)


def admin_env() -> dict[str, str]:
    """CREDITSTREAM_* variables of a command run as the test broker's administrator."""
    return connection_env(admin_kafka())


def credential_settings() -> dict:
    """Settings fields for a test platform: the test acts as administrator, the sink and the API
    it runs as their own principals."""
    made = service_principals()
    return {"bootstrap_servers": BOOTSTRAP, "kafka_security_protocol": SECURITY,
            "kafka_username": admin_kafka().username, "kafka_password": admin_kafka().password,
            "sink_kafka_username": made["sink"][0], "sink_kafka_password": made["sink"][1],
            "api_kafka_username": made["api"][0], "api_kafka_password": made["api"][1]}


def worker_env() -> dict[str, str]:
    """A worker process's Kafka settings: its own principal, and its sink's and API's."""
    made = service_principals()
    worker = admin_kafka().as_user(*made["worker"])
    return {**connection_env(worker), **credential_env(*made["sink"], "sink"), **credential_env(*made["api"], "api")}


def platform_settings(**overrides) -> Settings:
    """Settings of a test platform on the test broker (see credential_settings)."""
    return Settings(**{**credential_settings(), **overrides})


def broker_reachable(timeout: float = 5.0) -> bool:
    return broker_answers(admin_kafka(), timeout)


def reset_topics(settings: Settings, keep: Iterable[str] = ()) -> None:
    """Delete every platform topic (but those in ``keep``) and create it anew, so each test starts
    from empty topics."""
    admin = AdminClient(admin_kafka().client())
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in ALL_TOPICS if t in existing and t not in keep]
    for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else []:
        future.result()
    deadline = time.monotonic() + 60
    while True:
        try:
            create_topics(settings.kafka, settings.partitions, settings.replication_factor)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # deletion still in progress
    # wait until every partition of the new topics has a leader
    while not _all_led(admin.list_topics(timeout=10).topics):
        time.sleep(0.2)


def _all_led(topics: dict) -> bool:
    return all(name in topics and topics[name].partitions
               and all(p.leader >= 0 and p.error is None for p in topics[name].partitions.values())
               for name in ALL_TOPICS)


# errors a partition gives while a newly created topic's leadership settles
SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}


def _high_watermark(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """End offset of a partition; retried while leadership is still settling after a topic was created."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)[1]
        except KafkaException as exc:
            if exc.args[0].code() not in SETTLING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_topic(topic: str, idle_seconds: float = 2.0, timeout: float = 60.0) -> list:
    """Every message currently in ``topic`` (all partitions, from the beginning)."""
    return list(each_message(topic, timeout))


def each_message(topic: str, timeout: float = 60.0):
    """Yield every message currently in ``topic`` (all partitions, from the beginning), one at a
    time, so that a reader of a million rows need not hold them all."""
    consumer = Consumer(admin_kafka().consumer(f"test-reader-{time.time_ns()}"))
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    partitions = [TopicPartition(topic, p) for p in metadata.partitions]
    ends = {}
    for tp in partitions:
        ends[tp.partition] = _high_watermark(consumer, tp)
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    done = {p for p, high in ends.items() if high == 0}
    deadline = time.monotonic() + timeout
    try:
        while len(done) < len(ends) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            yield msg
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
    finally:
        consumer.close()


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port not handed out before in this test process (two calls in a row may
    otherwise get the same port, both still free until the first is bound), taken below the
    kernel's ephemeral range like the broker's (broker/kafka.sh): a port the kernel picked for
    ``bind(0)`` can be handed to a client's outgoing connection before the service binds it
    (seen in CI: the lender API failed with "address already in use")."""
    low, high = FIXED_PORTS_ABOVE, _ephemeral_range_start()
    while True:
        port = random.randrange(low, high)
        if port in _HANDED_OUT:
            continue
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _HANDED_OUT.add(port)
        return port


FIXED_PORTS_ABOVE = 20_000  # the brokers' fixed ports (19092-19193) lie below


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def scrape_metrics(port: int) -> dict[str, float]:
    """A /metrics page as {"name{labels}": value}; {} when nothing answers."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class WorkerProcess:
    """``creditstream worker`` as a real OS process, so it can be SIGKILLed."""

    def __init__(self, tmp: Path, app_id: str, command: str = "worker", **env: str):
        self.command = command  # or another process of the platform: "sink" (the worker's sink service alone)
        app_id = env.pop("CREDITSTREAM_APP_ID", app_id)
        if not app_id.startswith(TEST_APP_PREFIX):
            app_id = TEST_APP_PREFIX + app_id
        self.app_id = app_id
        self.port = free_port()
        self.log_path = tmp / f"worker-{app_id}-{time.time_ns()}.log"
        self.env = {**os.environ, **worker_env(), "CREDITSTREAM_APP_ID": app_id,
                    "CREDITSTREAM_WEB_PORT": str(self.port), "CREDITSTREAM_DATA_DIR": str(tmp / f"data-{app_id}"),
                    "CREDITSTREAM_CLICKHOUSE_URL": f"chdb:{tmp / f'clickhouse-{app_id}'}",
                    "CREDITSTREAM_API_PORT": str(free_port()), "CREDITSTREAM_API_METRICS_PORT": str(free_port()),
                    "CREDITSTREAM_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY,
                    **env}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "creditstream.cli", self.command], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.port)

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(60)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def group_members(group: str) -> int:
    """How many consumers the group has now (0 for a group that is empty or unknown)."""
    admin = AdminClient(admin_kafka().client())
    description = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return len(description.members)


def latest_by_key(messages) -> dict[str, dict]:
    return {m.key().decode(): json.loads(m.value()) for m in messages}


def group_caught_up(group: str, topics) -> bool:
    """The consumer group has committed the end of every non-empty partition of ``topics``."""
    return kafka_admin.group_caught_up(admin_kafka(), group, topics)


def cli(*args, check=True, timeout=300, **env_overrides) -> subprocess.CompletedProcess:
    """``creditstream ARGS`` as the test broker's administrator (``env_overrides`` win)."""
    env = {**os.environ, **admin_env(), **env_overrides}
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"creditstream {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def read_error(kafka: KafkaConnection, topic: str) -> KafkaError | None:
    """The error a consumer of ``kafka`` meets reading ``topic`` (not empty) from its start; None
    when it reads a message."""
    consumer = Consumer({**kafka.consumer(f"{TEST_APP_PREFIX}probe-{time.time_ns()}"), "log_level": 0})
    try:
        described = consumer.list_topics(topic, timeout=10).topics[topic]
        if described.error is not None:  # not even allowed to describe it
            return described.error
        consumer.assign([TopicPartition(topic, partition, 0) for partition in described.partitions])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            # a principal without a group is refused the coordinator too; the topic is the question
            if message is None or (message.error() and
                                   message.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED):
                continue
            return message.error()
        raise AssertionError(f"no answer reading {topic} as {kafka.principal}")
    finally:
        consumer.close()
