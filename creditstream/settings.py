"""One typed settings object, read from CREDITSTREAM_* environment variables and CLI flags."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import Optional, get_type_hints

ENV_PREFIX = "CREDITSTREAM_"


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:19092"  # Kafka; the local broker from broker/kafka.sh
    partitions: int = 4  # partitions of every topic `topics create` makes
    replication_factor: int = 1
    app_id: str = "creditstream"  # Faust app id = consumer group and changelog prefix
    store: str = "memory://"  # Faust table store; state is rebuilt from the changelog on start
    as_of: Optional[str] = None  # YYYY-MM: pin the live as-of month (tests, backfills)
    month_check_seconds: float = 30.0  # how often the worker checks for a month roll-over
    publish_seconds: float = 0.2  # changed aggregates are published this often (freshness)
    persist_seconds: float = 10.0  # changed ledgers are written to the changelog, and events acknowledged, this often
    ledger_cache_size: int = 50_000  # decoded, unchanged enterprise ledgers kept in memory
    producer_linger_ms: int = 10
    web_host: str = "127.0.0.1"  # worker's HTTP (/metrics); loopback unless configured
    web_port: int = 6066
    data_dir: str = ".local/worker"  # Faust data directory
    log_level: str = "info"
    clickhouse_url: str = "chdb:.local/clickhouse"  # chdb:<dir> / chdb:///<abs dir> (embedded) or http(s)://user:pw@host:port/db
    sink_enabled: bool = True  # run the ClickHouse sink (a process the worker starts)
    sink_metrics_port: int = 0  # the sink service's /metrics (merged into the worker's); 0 = any free port
    sink_batch_rows: int = 5000  # a sink batch is inserted at this many messages…
    sink_batch_seconds: float = 0.1  # …or this long after its first message
    api_enabled: bool = True  # serve the lender API from the worker's sink service (required with embedded ClickHouse)
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_threads: int = 4  # query threads, one ClickHouse client each

    @classmethod
    def from_env(cls, environ: Optional[dict] = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(hints[f.name], raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """These settings as CREDITSTREAM_* variables (for a child process)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[ENV_PREFIX + f.name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return env

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _convert(hint, raw: str, name: str):
    base = next((a for a in getattr(hint, "__args__", ()) if a is not type(None)), hint)
    if base is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SystemExit(f"{ENV_PREFIX}{name.upper()}={raw!r} is not true or false")
    try:
        return base(raw)
    except ValueError:
        raise SystemExit(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {base.__name__}") from None
