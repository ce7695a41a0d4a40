"""What the lender API needs to know; built by creditstream.settings.Settings.api()."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from creditstream.schemas.finance import FinanceSettings
from creditstream.schemas.kafka import KafkaConnection


@dataclass(frozen=True)
class ApiConfig:
    kafka: KafkaConnection  # keys, consents and rows are read from Kafka; audit records written to it
    clickhouse_url: str = "chdb:.local/clickhouse"
    host: str = "127.0.0.1"  # loopback unless configured
    port: int = 8080
    # /metrics is served apart from the API, on its own address (loopback unless configured): it
    # names every provider and lender with their counts, so the lenders' port does not serve it
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8081  # 0: any free port (tests)
    threads: int = 4  # query threads, one ClickHouse client each
    rate_per_second: float = 200.0  # per API key, token bucket
    rate_burst: int = 400
    auth_failures_limit: int = 60  # failed authentications per address a minute before it is refused…
    auth_block_seconds: float = 60.0  # …this long
    audit_timeout_seconds: float = 5.0  # an answer whose audit is not durable by then becomes 503
    max_url_bytes: int = 2048  # longer request targets: 414
    max_header_bytes: int = 8192  # a longer header field: 431
    holidays: tuple[dt.date, ...] = ()  # public holidays, for the repair decisions' 10 working days
    webhook_retry_seconds: float = 1.0  # first back-off of a failed webhook delivery, doubled per failure
    webhook_retry_max_seconds: float = 300.0
    webhook_pause_after: int = 10  # consecutive failures that pause a webhook
    webhook_timeout_seconds: float = 10.0
    webhooks_per_lender: int = 5  # webhooks a lender may have (not deleted)
    webhook_local_test_targets: bool = False  # http:// and loopback receivers: tests and the one-machine demo only
    chromium: str = "chromium"  # the browser that prints reports to PDF
    portal_idle_minutes: float = 30.0  # a portal session unused this long ends
    portal_max_hours: float = 8.0  # and every session ends this long after sign-in
    view_dir: Optional[str] = None  # keep the view's rows on local disk there (SQLite); None: in memory
    view_cache_rows: int = 50_000  # rows kept split in memory when the view is on disk
    audit_journal: bool = True  # with view_dir: the audit durable in a local journal there, shipped to Kafka behind
    audit_backlog_bytes: int = 64 << 20  # journaled audit waiting for Kafka beyond this: look-ups answer 503
    statistics_publish_seconds: float = 60.0  # loan statistics: Grafana's gauges, the provincial node's outbound topic
    finance: FinanceSettings = field(default_factory=FinanceSettings)  # the programmes' rates (subsidy, compensation)
    # verification compares identity hashes under it; webhook secrets are derived from it
    personal_data_key: Optional[bytes] = field(default=None, repr=False)
