"""One typed, validated settings object for every process, read from CREDITSTREAM_* environment
variables and command-line flags. It builds each component's own configuration (``kafka``,
``stream()``, ``sink()``, ``api()``): the components below never read settings themselves.

Every setting has a line of doc and, where it has one, a range; ``creditstream settings``
prints them, and the README's configuration table is checked against them by the tests.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional, get_type_hints

from creditstream.api.config import ApiConfig
from creditstream.schemas.finance import FinanceSettings
from creditstream.schemas.kafka import SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaConnection
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import NODE_ALIAS
from creditstream.sinks.config import SinkConfig
from creditstream.streams.config import BATCH_EVENTS, BATCH_SECONDS, PRODUCER_QUEUE_MIB, StreamConfig

ENV_PREFIX = "CREDITSTREAM_"
# renamed settings: the old variable is refused, naming its replacement, rather than silently ignored
RETIRED = {"ledger_cache_size": "ledger_cache_mib", "max_unpersisted_ledgers": "unpersisted_ledgers_mib"}
KAFKA_PASSWORDS = ("kafka_password", "sink_kafka_password", "api_kafka_password")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(ValueError):
    """A setting out of range or of the wrong type; the message names the variable."""


def setting(default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None,
            choices: tuple | None = None, derived: str | None = None) -> Any:
    """A setting: its default, a line of doc, its range or choices; ``derived`` describes a default
    computed from other settings."""
    return field(default=default, metadata={"doc": doc, "min": minimum, "max": maximum, "choices": choices,
                                            "derived": derived})


@dataclass(frozen=True)
class Settings:
    home: str = setting(".local", "data directory: worker state, embedded ClickHouse, the demo's broker and logs")
    bootstrap_servers: str = setting("127.0.0.1:19092", "Kafka bootstrap servers (the local broker: broker/kafka.sh)")
    kafka_security_protocol: str = setting("SASL_PLAINTEXT", "how clients reach Kafka: SASL_PLAINTEXT or SASL_SSL "
                                                             "(authenticated); PLAINTEXT is the explicit opt-out, "
                                                             "logged by every process", choices=SECURITY_PROTOCOLS)
    kafka_sasl_mechanism: str = setting("SCRAM-SHA-512", "SASL mechanism of the Kafka credentials",
                                        choices=SASL_MECHANISMS)
    kafka_ssl_ca_location: Optional[str] = setting(None, "SASL_SSL: file of the CA that signed the brokers' "
                                                         "certificates (default: the system's)")
    kafka_username: Optional[str] = setting(None, "this process's Kafka principal: the worker's for `worker`, a "
                                                  "provider's for `publish`/`simulate`, an administrator's for "
                                                  "`topics`, `kafka`, key and provider commands")
    kafka_password: Optional[str] = setting(None, "its password (SCRAM; the broker keeps only a salted hash)")
    sink_kafka_username: Optional[str] = setting(None, "the sink service's Kafka principal (default: "
                                                       "CREDITSTREAM_KAFKA_USERNAME)")
    sink_kafka_password: Optional[str] = setting(None, "its password")
    api_kafka_username: Optional[str] = setting(None, "the API process's Kafka principal (default: "
                                                      "CREDITSTREAM_KAFKA_USERNAME)")
    api_kafka_password: Optional[str] = setting(None, "its password")
    partitions: int = setting(4, "partitions per topic (`topics create`, the worker's table)", minimum=1, maximum=1000)
    replication_factor: int = setting(1, "replication of created topics", minimum=1, maximum=10)
    app_id: str = setting("creditstream", "Faust app id: consumer group and changelog prefix (the sink's group "
                                          "is <app_id>-sink)")
    store: str = setting("disk://", "Faust table store: disk:// keeps the tables in RocksDB under data_dir (a "
                                    "restart reads only the changelog written since); memory:// rebuilds them from "
                                    "the changelog on every start")
    as_of: Optional[str] = setting(None, "pin the as-of month YYYY-MM (default: the last complete month, "
                                         "Asia/Shanghai)")
    as_of_date: Optional[str] = setting(None, "pin the registers' reference date R, YYYY-MM-DD (default: the last "
                                              "day of a pinned as-of month, else today in Asia/Shanghai)")
    month_check_seconds: float = setting(30.0, "how often the worker checks for a new day or month",
                                         minimum=0.1, maximum=3600)
    publish_seconds: float = setting(0.2, "changed aggregates are published this often (longer once the worker "
                                          "falls behind)",
                                     minimum=0.01, maximum=60)
    persist_seconds: float = setting(10.0, "changed ledgers are written to the changelog, and events "
                                           "acknowledged, this often", minimum=0.1, maximum=300)
    catch_up_persist_seconds: float = setting(20.0, "the same while the worker catches up (its newest event was "
                                                    "produced over 5 s ago): fewer, larger rounds; at least "
                                                    "persist_seconds", minimum=0.1, maximum=600)
    ledger_cache_mib: int = setting(96, "decoded ledgers kept in memory while unchanged, in MiB of their estimated "
                                        "heap (~19 KB for 24 months, ~10 KB for 6: size it to the worker's memory)",
                                    minimum=0)
    unpersisted_ledgers_mib: int = setting(96, "a checkpoint is brought forward once ledgers of this many MiB changed "
                                               "since the last one (while catching up it only writes them; rows and "
                                               "acknowledgements wait for the timed round), and folding waits at "
                                               "twice as many (changed ledgers stay in memory until written)",
                                           minimum=1)
    producer_linger_ms: int = setting(10, "producer linger (Faust's and the worker's librdkafka producer)",
                                      minimum=0, maximum=1000)
    producer_queue_mib: int = setting(PRODUCER_QUEUE_MIB, "the most each of the worker's librdkafka producers holds not yet "
                                          "acknowledged by the broker; when full, the worker waits for it (librdkafka "
                                          "alone would take 1 GiB each, and keeps the memory of its largest queue)",
                                      minimum=1, maximum=2048)
    agent_batch_events: int = setting(BATCH_EVENTS, "the worker's agents take their stream in batches of this many "
                                                    "events…", minimum=1, maximum=100_000)
    agent_batch_seconds: float = setting(BATCH_SECONDS, "…or of what came within this many seconds (the longest an "
                                                        "event waits): handled together, not interleaved with Faust's "
                                                        "own per-message steps, events cost less", minimum=0.001,
                                         maximum=5)
    web_host: str = setting("127.0.0.1", "worker HTTP (`/metrics`) and the sink service's metrics; loopback "
                                         "unless configured")
    web_port: int = setting(6066, "worker HTTP port", minimum=1, maximum=65535)
    worker_session_timeout_seconds: float = setting(10.0, "a worker (or its sink) that stops heartbeating (killed) "
                                                          "keeps its partitions this long before the group moves on: "
                                                          "a restart after SIGKILL waits about this long", minimum=6,
                                                    maximum=300)
    worker_instance_id: Optional[str] = setting(None, "static group membership: a name unique to this worker "
                                                      "(e.g. its host); a restart with the same name takes back its "
                                                      "partitions without waiting for the session timeout")
    data_dir: Optional[str] = setting(None, "Faust data directory: the worker's table stores on disk (one "
                                              "RocksDB database per table partition)", derived="<home>/worker")
    personal_data_key: Optional[str] = setting(None, "the platform's secret: one key per use is derived from it (identity "
                                                     "number hashes, report codes, webhook secrets; docs/keys.md); "
                                                     "the worker refuses to start without one")
    future_skew_seconds: float = setting(300.0, "an event whose occurred_at lies more than this after the time it is "
                                                "processed is dead-lettered as FUTURE_TIMESTAMP", minimum=0, maximum=86400)
    log_level: str = setting("info", "log level of the worker and the sink service", choices=LOG_LEVELS)
    clickhouse_url: Optional[str] = setting(None, "`chdb:<dir>` (embedded) or `http(s)://user:pw@host:port/db`",
                                            derived="chdb:<home>/clickhouse")
    sink_enabled: bool = setting(True, "the worker starts its sink service process (`creditstream sink`)")
    sink_metrics_port: int = setting(0, "the sink service's `/metrics` on web_host, merged into the worker's "
                                        "(0: any free port)", minimum=0, maximum=65535)
    sink_batch_rows: int = setting(5000, "a sink batch is inserted at this many messages…", minimum=1)
    sink_batch_seconds: float = setting(0.1, "…or this long after its first message", minimum=0.001, maximum=60)
    sink_catch_up_batch_seconds: float = setting(1.0, "…or this long (if longer) while the sink reads a backlog (a "
                                                      "message in the batch was produced over 5 s ago): fewer, larger "
                                                      "inserts",
                                                 minimum=0.001, maximum=60)
    api_enabled: bool = setting(True, "the worker starts the lender API in a process of its own (with embedded "
                                      "ClickHouse it reads through the sink service's query endpoint)")
    sink_query_port: int = setting(0, "the sink service's read-only query endpoint for the API process, on loopback "
                                      "(0: any free port)", minimum=0, maximum=65535)
    query_token: Optional[str] = setting(None, "secret between the sink service's query endpoint and the API "
                                               "process (the worker makes one per start)")
    api_host: str = setting("127.0.0.1", "lender API address; loopback unless configured")
    api_port: int = setting(8080, "lender API port", minimum=1, maximum=65535)
    api_metrics_port: int = setting(8081, "the lender API's `/metrics`, on web_host (not on the lenders' port); "
                                          "0: any free port", minimum=0, maximum=65535)
    gateway_host: str = setting("127.0.0.1", "`creditstream gateway` (the provider push gateway alone) address; "
                                             "loopback unless configured")
    gateway_port: int = setting(8090, "`creditstream gateway` port", minimum=1, maximum=65535)
    gateway_metrics_port: int = setting(8091, "`creditstream gateway`'s `/metrics`, on web_host (not on the "
                                              "providers' port); 0: any free port", minimum=0, maximum=65535)
    api_threads: int = setting(4, "lender API query threads, one ClickHouse client each", minimum=1, maximum=256)
    operator_key: Optional[str] = setting(None, "an operator's API key: `creditstream sql` then asks the running API "
                                                "(read-only) instead of opening ClickHouse itself")
    holidays: str = setting("", "public holidays, comma-separated YYYY-MM-DD (add each year's State Council list): "
                                "not working days for the working-day deadlines (repair decisions, loan applications, claims)")
    finance_lpr_one_year: Decimal = setting(Decimal("3.00"), "the 1-year loan prime rate (LPR), percent, as published: the "
                                                       "interest-subsidy cap is this plus finance_rate_cap_margin",
                                      minimum=0, maximum=50)
    finance_rate_cap_margin: Decimal = setting(Decimal("1.50"), "points above the 1-year LPR a loan's rate may be and "
                                                                "still earn an interest subsidy", minimum=0, maximum=50)
    finance_subsidy_points: Decimal = setting(Decimal("1.00"), "interest subsidy (贷款贴息): percentage points a year of "
                                                               "an eligible loan's outstanding principal, paid monthly",
                                              minimum=0, maximum=50)
    finance_compensation_share: Decimal = setting(Decimal("0.40"), "risk compensation (风险分担补偿): the share of the "
                                                                   "outstanding principal an approved claim pays",
                                                  minimum=0, maximum=1)
    api_rate_per_second: float = setting(200.0, "requests per second each API key may make on average (429 beyond)",
                                         minimum=0.1, maximum=1e6)
    api_rate_burst: int = setting(400, "requests an API key may make at once above its rate", minimum=1)
    api_auth_failures_limit: int = setting(60, "failed authentications (unknown keys, wrong portal sign-ins) a "
                                               "client address may have within a minute; then it is refused 429…",
                                           minimum=1, maximum=100_000)
    api_auth_block_seconds: float = setting(60.0, "…for this long", minimum=1, maximum=86400)
    api_view_dir: Optional[str] = setting(None, "where the API keeps its aggregate rows on local disk (SQLite; "
                                                "one directory per API process): less memory, and a restart reads "
                                                "only the rows that changed since; unset: home/api-view/port-<api_port> "
                                                "(in memory when api_port is 0); `memory`: in memory")
    api_view_cache_rows: int = setting(50_000, "with api_view_dir: rows kept in memory, ready for look-ups",
                                       minimum=0, maximum=10_000_000)
    api_statistics_publish_seconds: float = setting(60.0, "the API reads the loan statistics from ClickHouse this "
                                                          "often: this month's figures into creditstream_finance_month "
                                                          "(Grafana), and the public rows that changed to "
                                                          "credit.out.finance-statistics.v1 (for the provincial node)",
                                                    minimum=1, maximum=86400)
    api_audit_journal: bool = setting(True, "with the rows on disk, an answer's audit record is durable once "
                                           "group-committed to a journal in the view's directory (fdatasync), and "
                                           "shipped to Kafka within 50 ms behind the answers (the look-up tail: "
                                           "docs/benchmarks.md); false, or the rows in memory: every answer waits "
                                           "for Kafka's acknowledgement")
    api_audit_backlog_mib: int = setting(64, "with the journal: look-ups are answered 503 while more than this "
                                             "waits in it for Kafka", minimum=1, maximum=65536)
    api_audit_timeout_seconds: float = setting(5.0, "an answer waits this long for its audit record to be durable "
                                                    "in Kafka, then becomes 503", minimum=0.5, maximum=120)
    webhook_retry_seconds: float = setting(1.0, "first wait before a failed whitelist webhook delivery is retried; "
                                                "doubled after each further failure", minimum=0.05, maximum=3600)
    webhook_retry_max_seconds: float = setting(300.0, "longest wait between webhook retries", minimum=0.05,
                                               maximum=86400)
    webhook_pause_after: int = setting(10, "consecutive failed deliveries after which a webhook is paused (its "
                                           "lender resumes it)", minimum=1, maximum=1000)
    dead_letter_retention_days: float = setting(7.0, "how long credit.deadletter.v1 keeps rejected records (their "
                                                     "original bytes may carry personal data); applied by topic "
                                                     "creation, also to an existing topic, and by the sink to "
                                                     "ClickHouse's copy of the bytes", minimum=0.01,
                                                maximum=3650)
    portal_idle_minutes: float = setting(30.0, "a portal session unused this long is signed out", minimum=1,
                                         maximum=1440)
    portal_max_hours: float = setting(8.0, "every portal session ends this long after sign-in", minimum=0.1,
                                      maximum=168)
    chromium: str = setting("chromium", "the headless browser that prints credit reports to PDF (Debian's chromium)")
    webhook_timeout_seconds: float = setting(10.0, "a webhook delivery not answered within this long has failed",
                                             minimum=0.5, maximum=120)
    webhooks_per_lender: int = setting(5, "webhooks a lender may have at once (409 beyond)", minimum=1, maximum=100)
    province_cities: str = setting("", "a provincial node: the comma-separated aliases of the cities whose public "
                                       "records it gathers (each city's <alias>.credit.out.public.v1, replicated by "
                                       "MirrorMaker 2); empty: this is a city node")
    city_alias: str = setting("heihe", "this city's alias at the provincial node: the prefix of its replicated "
                                       "topics (`creditstream province mirror`)")
    province_bootstrap_servers: Optional[str] = setting(None, "the provincial cluster that `creditstream province "
                                                              "mirror` replicates to (its credentials: "
                                                              "CREDITSTREAM_PROVINCE_KAFKA_USERNAME/_PASSWORD)")
    province_kafka_username: Optional[str] = setting(None, "this city's principal at the provincial cluster "
                                                           "(may write only topics under its alias)")
    province_kafka_password: Optional[str] = setting(None, "its password")
    mirror_metrics_port: int = setting(8092, "`creditstream province mirror`'s `/metrics` (replication lag), on "
                                             "web_host", minimum=1, maximum=65535)
    webhook_local_test_targets: bool = setting(False, "let webhooks use plain http:// and loopback receivers, for "
                                                      "tests and a demo on one machine; never in production (https "
                                                      "to public addresses only otherwise)")

    def __post_init__(self):
        home = Path(self.home)
        object.__setattr__(self, "log_level", self.log_level.lower())
        if self.data_dir is None:
            object.__setattr__(self, "data_dir", str(home / "worker"))
        if self.clickhouse_url is None:
            object.__setattr__(self, "clickhouse_url", f"chdb:{home / 'clickhouse'}")
        for f in fields(self):
            _check(f, getattr(self, f.name))
        if self.as_of is not None:
            try:
                parse_month(self.as_of)
            except ValueError as exc:
                raise SettingsError(f"{_env('as_of')}: {exc}") from None
        if self.as_of_date is not None:
            try:
                dt.date.fromisoformat(self.as_of_date)
            except ValueError:
                raise SettingsError(f"{_env('as_of_date')}={self.as_of_date!r} is not a date YYYY-MM-DD") from None
        self.holiday_dates()
        self.cities()
        if not NODE_ALIAS.fullmatch(self.city_alias):
            raise SettingsError(f"{_env('city_alias')}={self.city_alias!r}: lower-case letters and digits, 2-31, "
                                f"beginning with a letter")
        if not self.clickhouse_url.startswith(("chdb:", "http://", "https://", "sinkservice://")):
            raise SettingsError(f"{_env('clickhouse_url')}={self.clickhouse_url!r}: expected chdb:<dir> or "
                                f"http(s)://user:password@host:port/database")

    def holiday_dates(self) -> tuple[dt.date, ...]:
        try:
            return tuple(dt.date.fromisoformat(d.strip()) for d in self.holidays.split(",") if d.strip())
        except ValueError:
            raise SettingsError(f"{_env('holidays')}={self.holidays!r}: expected dates YYYY-MM-DD, "
                                f"comma-separated") from None

    def cities(self) -> tuple[str, ...]:
        """The cities a provincial node gathers (empty: a city node)."""
        cities = tuple(c.strip() for c in self.province_cities.split(",") if c.strip())
        wrong = [c for c in cities if not NODE_ALIAS.fullmatch(c)]
        if wrong:
            raise SettingsError(f"{_env('province_cities')}: {', '.join(map(repr, wrong))} is not a city alias "
                                f"(lower-case letters and digits, 2-31, beginning with a letter)")
        return cities

    @classmethod
    def from_env(cls, environ: Optional[dict] = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        for old, new in RETIRED.items():
            if environ.get(_env(old)):
                raise SettingsError(f"{_env(old)} is no longer read: set {_env(new)}, the bound in MiB of "
                                    f"ledgers (a count of ledgers until 2026-12-05)")
        hints = get_type_hints(cls)
        values = {}
        for f in fields(cls):
            raw = environ.get(_env(f.name))
            if raw is not None and raw != "":
                values[f.name] = _convert(hints[f.name], raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __repr__(self) -> str:  # never print a secret: keys, tokens, passwords (also inside a URL)
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        for secret in ("personal_data_key", "operator_key", "query_token", "province_kafka_password", *KAFKA_PASSWORDS):
            if shown[secret]:
                shown[secret] = "***"
        shown["clickhouse_url"] = hide_url_password(shown["clickhouse_url"])
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def to_env(self) -> dict[str, str]:
        """These settings as CREDITSTREAM_* variables (for a child process)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[_env(f.name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return env

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, doc) of every setting."""
        return [(_env(f.name), _shown_default(f), f.metadata["doc"]) for f in fields(cls)]

    # -- what each component is given ----------------------------------------------------------
    @property
    def kafka(self) -> KafkaConnection:
        """This process's connection (CREDITSTREAM_KAFKA_USERNAME)."""
        if self.kafka_security_protocol == "PLAINTEXT":
            _warn_plaintext(self.bootstrap_servers)
        return KafkaConnection(self.bootstrap_servers, self.kafka_security_protocol, self.kafka_sasl_mechanism,
                               self.kafka_username, self.kafka_password, self.kafka_ssl_ca_location)

    @property
    def province_kafka(self) -> KafkaConnection:
        """The provincial cluster as this city's principal there (`creditstream province mirror`);
        the same security protocol and mechanism as the city's."""
        if not self.province_bootstrap_servers:
            raise SettingsError(f"{_env('province_bootstrap_servers')} is not set: which provincial cluster?")
        return KafkaConnection(self.province_bootstrap_servers, self.kafka_security_protocol, self.kafka_sasl_mechanism,
                               self.province_kafka_username, self.province_kafka_password, self.kafka_ssl_ca_location)

    @property
    def sink_kafka(self) -> KafkaConnection:
        return self.kafka.as_user(self.sink_kafka_username, self.sink_kafka_password)

    @property
    def api_kafka(self) -> KafkaConnection:
        return self.kafka.as_user(self.api_kafka_username, self.api_kafka_password)

    def stream(self) -> StreamConfig:
        return StreamConfig(
            kafka=self.kafka, app_id=self.app_id, partitions=self.partitions,
            replication_factor=self.replication_factor, store=self.store, as_of=self.as_of, as_of_date=self.as_of_date,
            month_check_seconds=self.month_check_seconds, publish_seconds=self.publish_seconds,
            persist_seconds=self.persist_seconds, catch_up_persist_seconds=self.catch_up_persist_seconds,
            ledger_cache_mib=self.ledger_cache_mib, unpersisted_ledgers_mib=self.unpersisted_ledgers_mib,
            producer_linger_ms=self.producer_linger_ms, producer_queue_mib=self.producer_queue_mib,
            agent_batch_events=self.agent_batch_events,
            agent_batch_seconds=self.agent_batch_seconds, web_host=self.web_host, web_port=self.web_port,
            data_dir=self.data_dir, log_level=self.log_level,
            personal_data_key=self.personal_data_key.encode() if self.personal_data_key else None,
            future_skew_seconds=self.future_skew_seconds, session_timeout_seconds=self.worker_session_timeout_seconds,
            group_instance_id=self.worker_instance_id, province_cities=self.cities())

    def sink(self) -> SinkConfig:
        return SinkConfig(kafka=self.sink_kafka, group_id=f"{self.app_id}-sink", clickhouse_url=self.clickhouse_url,
                          batch_rows=self.sink_batch_rows, batch_seconds=self.sink_batch_seconds,
                          catch_up_batch_seconds=self.sink_catch_up_batch_seconds,
                          dead_letter_retention_seconds=self.dead_letter_retention_ms // 1000,
                          session_timeout_seconds=self.worker_session_timeout_seconds)

    @property
    def dead_letter_retention_ms(self) -> int:
        return int(self.dead_letter_retention_days * 24 * 3600 * 1000)

    def gateway(self) -> ApiConfig:
        """``creditstream gateway``: the API's configuration on the gateway's address, as this
        process's own principal (CREDITSTREAM_KAFKA_USERNAME: a gateway principal)."""
        return dataclasses.replace(self.api(), kafka=self.kafka, host=self.gateway_host, port=self.gateway_port,
                                   metrics_port=self.gateway_metrics_port)

    def api_view_directory(self) -> Optional[str]:
        """The API's rows on disk: the directory set, or one per API port under home (a port is
        one process's on a host); None (in memory) for `memory` or a port picked at random."""
        if self.api_view_dir == "memory":
            return None
        if self.api_view_dir is not None:
            return self.api_view_dir
        return str(Path(self.home) / "api-view" / f"port-{self.api_port}") if self.api_port else None

    def api(self) -> ApiConfig:
        return ApiConfig(kafka=self.api_kafka, clickhouse_url=self.clickhouse_url, host=self.api_host, port=self.api_port,
                         metrics_host=self.web_host, metrics_port=self.api_metrics_port,
                         threads=self.api_threads, rate_per_second=self.api_rate_per_second,
                         rate_burst=self.api_rate_burst, audit_timeout_seconds=self.api_audit_timeout_seconds,
                         statistics_publish_seconds=self.api_statistics_publish_seconds,
                         view_dir=self.api_view_directory(), view_cache_rows=self.api_view_cache_rows,
                         audit_journal=self.api_audit_journal, audit_backlog_bytes=self.api_audit_backlog_mib << 20,
                         auth_failures_limit=self.api_auth_failures_limit,
                         auth_block_seconds=self.api_auth_block_seconds,
                         holidays=self.holiday_dates(), webhook_retry_seconds=self.webhook_retry_seconds,
                         webhook_retry_max_seconds=self.webhook_retry_max_seconds,
                         webhook_pause_after=self.webhook_pause_after,
                         webhook_timeout_seconds=self.webhook_timeout_seconds, chromium=self.chromium,
                         webhooks_per_lender=self.webhooks_per_lender,
                         webhook_local_test_targets=self.webhook_local_test_targets,
                         portal_idle_minutes=self.portal_idle_minutes, portal_max_hours=self.portal_max_hours,
                         finance=FinanceSettings(self.finance_lpr_one_year, self.finance_rate_cap_margin,
                                                 self.finance_subsidy_points, self.finance_compensation_share),
                         personal_data_key=self.personal_data_key.encode() if self.personal_data_key else None)


def credential_env(user: str, password: str, component: str = "") -> dict[str, str]:
    """The variables of a Kafka principal: CREDITSTREAM_KAFKA_USERNAME/PASSWORD, or those of a
    component the worker starts (``component`` "sink", "api": CREDITSTREAM_SINK_KAFKA_…)."""
    prefix = f"{component}_" if component else ""
    return {_env(f"{prefix}kafka_username"): user, _env(f"{prefix}kafka_password"): password}


def connection_env(kafka: KafkaConnection) -> dict[str, str]:
    """The variables of a whole connection, for a child process that needs nothing else of ours."""
    env = {_env("bootstrap_servers"): kafka.bootstrap_servers, _env("kafka_security_protocol"): kafka.security_protocol,
           _env("kafka_sasl_mechanism"): kafka.sasl_mechanism}
    return {**env, **(credential_env(kafka.username, kafka.password) if kafka.sasl else {})}


def hide_url_password(url: str) -> str:
    """``http://user:secret@host`` → ``http://user:***@host``."""
    return re.sub(r"://([^:/@]+):[^@/]+@", r"://\1:***@", url)


_plaintext_warned = set()


def _warn_plaintext(servers: str) -> None:
    """Once per process: connecting without authentication is an opt-out, said out loud."""
    if servers not in _plaintext_warned:
        _plaintext_warned.add(servers)
        logging.getLogger("creditstream.kafka").warning(
            "Kafka security OFF: connecting to %s without authentication (CREDITSTREAM_KAFKA_SECURITY_PROTOCOL="
            "PLAINTEXT)", servers)


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _shown_default(f: dataclasses.Field) -> str:
    if f.default is None:
        return f.metadata["derived"] or "unset"
    return str(f.default).lower() if isinstance(f.default, bool) else str(f.default)


def _check(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if value is None:
        return
    if meta.get("min") is not None and value < meta["min"]:
        raise SettingsError(f"{_env(f.name)}={value}: must be at least {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise SettingsError(f"{_env(f.name)}={value}: must be at most {meta['max']}")
    if meta.get("choices") and value not in meta["choices"]:
        raise SettingsError(f"{_env(f.name)}={value!r}: must be one of {', '.join(meta['choices'])}")


def _convert(hint, raw: str, name: str):
    base = next((a for a in getattr(hint, "__args__", ()) if a is not type(None)), hint)
    if base is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{_env(name)}={raw!r} is not true or false")
    try:
        return base(raw)
    except (ValueError, ArithmeticError):  # Decimal's InvalidOperation is an ArithmeticError
        raise SettingsError(f"{_env(name)}={raw!r} is not a valid {base.__name__}") from None
