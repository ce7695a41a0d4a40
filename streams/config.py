"""What the stream processor needs to know; built by creditstream.settings.Settings.stream()."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from creditstream.schemas.kafka import KafkaConnection

MIB = 1 << 20  # the memory bounds are set in MiB
# the agents take their stream in batches (streams.app.CreditStream.acknowledged_by_checkpoint)
BATCH_EVENTS = 500
BATCH_SECONDS = 0.05
PRODUCER_QUEUE_MIB = 64  # each librdkafka producer's local queue (streams.output)


@dataclass(frozen=True)
class StreamConfig:
    kafka: KafkaConnection
    app_id: str = "creditstream"  # consumer group and changelog prefix
    partitions: int = 4  # partitions of the ledger table and its changelog
    replication_factor: int = 1
    store: str = "disk://"
    as_of: Optional[str] = None  # YYYY-MM pins the as-of month; None follows the calendar
    as_of_date: Optional[str] = None  # YYYY-MM-DD pins R; None: the last day of a pinned month, else today
    month_check_seconds: float = 30.0
    publish_seconds: float = 0.2
    persist_seconds: float = 10.0
    catch_up_persist_seconds: float = 20.0  # persist_seconds while catching up (streams.publishing.CATCH_UP_LAG)
    ledger_cache_mib: int = 96  # clean decoded ledgers held, at their estimated heap (streams.ledger.heap_estimate)
    unpersisted_ledgers_mib: int = 96  # changed since the last checkpoint: one is brought forward
    producer_linger_ms: int = 10
    producer_queue_mib: int = PRODUCER_QUEUE_MIB
    agent_batch_events: int = BATCH_EVENTS  # events an agent takes at once at most
    agent_batch_seconds: float = BATCH_SECONDS  # or what came within this long
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = ".local/worker"
    log_level: str = "info"
    personal_data_key: Optional[bytes] = field(default=None, repr=False)  # HMAC key over identity numbers
    future_skew_seconds: float = 300.0  # occurred_at may lie this far after processing (FUTURE_TIMESTAMP)
    # a member that stops heartbeating (SIGKILL) holds its partitions this long: Faust's 60 s default
    # made a killed worker's restart wait ~61 s before it could read anything
    session_timeout_seconds: float = 10.0
    group_instance_id: Optional[str] = None  # static membership (KIP-345): a restart takes its place at once
    # the provincial node: the cities whose replicated outbound topics it gathers (empty: a city)
    province_cities: tuple[str, ...] = ()
