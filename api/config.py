"""What the lender API needs to know; built by creditstream.settings.Settings.api()."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiConfig:
    clickhouse_url: str = "chdb:.local/clickhouse"
    host: str = "127.0.0.1"  # loopback unless configured
    port: int = 8080
    threads: int = 4  # query threads, one ClickHouse client each
