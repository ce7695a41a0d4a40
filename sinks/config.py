"""What the ClickHouse sink needs to know; built by creditstream.settings.Settings.sink()."""
from __future__ import annotations

from dataclasses import dataclass

from creditstream.schemas.kafka import KafkaConnection


@dataclass(frozen=True)
class SinkConfig:
    kafka: KafkaConnection
    group_id: str = "creditstream-sink"  # the sink's consumer group
    clickhouse_url: str = "chdb:.local/clickhouse"
    batch_rows: int = 5000  # a batch is inserted at this many messages…
    batch_seconds: float = 0.1  # …or this long after its first message
    # …or this long while reading a backlog (the batch holds a message produced over
    # catch_up_lag_seconds ago, the worker's own threshold: streams.publishing.CATCH_UP_LAG)
    catch_up_batch_seconds: float = 1.0
    catch_up_lag_seconds: float = 5.0
    # dead letters' original bytes are kept this long in ClickHouse too (then null; the row stays)
    dead_letter_retention_seconds: int = 7 * 24 * 3600
    # a sink that stops heartbeating (killed) keeps its partitions this long before a new one gets them
    session_timeout_seconds: float = 10.0
