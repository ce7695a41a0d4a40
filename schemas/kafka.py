"""How every process of the platform talks to Kafka: one connection description (where, and as
whom), one producer profile per role, and the partitioning convention (a USCC lands on the same
partition whoever writes it: the provider, the worker, Faust or the Java client)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

from aiokafka.partitioner import murmur2

LIBRDKAFKA_LOG = logging.getLogger("creditstream.librdkafka")


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, librdkafka murmur2, aiokafka) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SECURITY_PROTOCOLS = (*SASL_PROTOCOLS, "PLAINTEXT")  # PLAINTEXT: the explicit, logged opt-out
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


class KafkaCredentialsMissing(ValueError):
    """A SASL connection without a user name or password; the message says what to set."""


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and as whom to connect. Without a security protocol given it is
    PLAINTEXT (what a bare ``KafkaConnection(servers)`` means); settings always give one."""
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    ssl_ca_location: Optional[str] = None  # SASL_SSL: the CA that signed the brokers' certificates

    @property
    def sasl(self) -> bool:
        return self.security_protocol in SASL_PROTOCOLS

    @property
    def principal(self) -> str:
        """Kafka's name for whom this connects as (what ACLs name)."""
        return f"User:{self.username}" if self.sasl else "User:ANONYMOUS"

    def as_user(self, username: Optional[str], password: Optional[str]) -> "KafkaConnection":
        """The same brokers as another principal; None keeps this one's."""
        if not username:
            return self
        return KafkaConnection(self.bootstrap_servers, self.security_protocol, self.sasl_mechanism, username, password,
                               self.ssl_ca_location)

    def _require_credentials(self) -> None:
        if self.sasl and not (self.username and self.password):
            raise KafkaCredentialsMissing(
                f"Kafka at {self.bootstrap_servers} needs {self.sasl_mechanism} credentials: set "
                "CREDITSTREAM_KAFKA_USERNAME and CREDITSTREAM_KAFKA_PASSWORD (docs/kafka-security.md), or "
                "CREDITSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT for a broker without authentication")

    def client(self) -> dict:
        """What every librdkafka client (producer, consumer, admin) needs to connect."""
        # librdkafka's own lines go through Python logging (creditstream.librdkafka), where a process
        # says a repeated failure once per interval, and tests keep them with the test's output
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol,
                  "logger": LIBRDKAFKA_LOG}
        if self.sasl:
            self._require_credentials()
            config.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.username,
                           "sasl.password": self.password})
        if self.ssl_ca_location and self.security_protocol == "SASL_SSL":
            config["ssl.ca.location"] = self.ssl_ca_location
        return config

    def aiokafka_auth(self) -> dict:
        """The same for aiokafka (Faust): keyword arguments of ``faust.SASLCredentials``, or {}."""
        if not self.sasl:
            return {}
        self._require_credentials()
        auth = {"username": self.username, "password": self.password, "mechanism": self.sasl_mechanism}
        if self.security_protocol == "SASL_SSL":
            import ssl

            auth["ssl_context"] = ssl.create_default_context(cafile=self.ssl_ca_location)
        return auth

    def faust_broker(self) -> str:
        return f"kafka://{self.bootstrap_servers}"

    def producer(self, **overrides) -> dict:
        """Idempotent (acks=all, no duplicates or reordering from retries), murmur2-partitioned."""
        return {**self.client(), "enable.idempotence": True, "acks": "all",
                "partitioner": "murmur2_random", **overrides}

    def provider_producer(self) -> dict:
        """Providers' bulk traffic (publish, simulate): batched and compressed."""
        return self.producer(**{"linger.ms": 20, "compression.type": "lz4", "delivery.timeout.ms": 30000})

    def worker_producer(self, linger_ms: int, on_delivery, queue_mib: int, **overrides) -> dict:
        """The worker's hot path: a local queue bounded in bytes (librdkafka's default, 1 GiB, would
        be the worker's whole memory), and a Python callback only for failures."""
        return self.producer(**{"linger.ms": linger_ms, "queue.buffering.max.messages": 1_000_000,
                                "queue.buffering.max.kbytes": queue_mib * 1024,
                                "delivery.report.only.error": True, "on_delivery": on_delivery, **overrides})

    def consumer(self, group_id: str, **overrides) -> dict:
        return {**self.client(), "group.id": group_id, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", **overrides}
