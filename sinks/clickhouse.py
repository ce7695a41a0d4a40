"""ClickHouse connections through clickhouse-connect: ``chdb:///<dir>`` (embedded, default) or a
server URL ``http(s)://user:password@host:port/database``; and, for the API in its own process
beside an embedded ClickHouse, ``sinkservice://:<token>@127.0.0.1:<port>`` (read-only queries
through the sink service, sinks.query_service). No other code knows which."""
from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def chdb_dsn(url: str) -> str:
    """``chdb:relative/dir`` → ``chdb:///abs/dir`` (chdb compares engine paths literally)."""
    rest = url[len("chdb:"):]
    if rest.startswith("//"):
        return url
    return "chdb://" + str(Path(rest).resolve())


def connect(url: str, session: dict | None = None):
    """A client; ``session``: settings of its session, applied in order (operators' read-only
    connection, sinks.operator_sql.SESSION_LIMITS); through the sink service, its operator endpoint."""
    if url.startswith("sinkservice:"):  # the sink service's read-only query endpoint (sinks.query_service)
        from creditstream.sinks.query_service import RemoteClient

        return RemoteClient(url, operator=session is not None)
    if url.startswith("chdb:"):
        return clickhouse_connect.get_client(dsn=chdb_dsn(url), settings=session)
    parts = urlparse(url)
    return clickhouse_connect.get_client(
        host=parts.hostname, port=parts.port, username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""), database=parts.path.strip("/") or None,
        secure=parts.scheme == "https", settings=session,
    )


class ThreadClients:
    """One client per thread (chdb requires it; for a server it avoids sharing a session)."""

    def __init__(self, url: str, session: dict | None = None):
        self.url, self.session = url, session
        self._local = threading.local()

    def get(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = connect(self.url, self.session)
        return client


def migrate(client) -> list[str]:
    """Apply sinks/migrations/NNN_*.sql not yet recorded; return the names applied. Idempotent."""
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows}
    applied = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        if version in done:
            continue
        for statement in _statements(path.read_text()):
            client.command(statement)
        client.insert("schema_migrations", [[version, path.stem]], column_names=["version", "name"])
        applied.append(path.stem)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def bound_dead_letter_bytes(client, seconds: int) -> bool:
    """Keep the original bytes of a dead letter (``value_base64``, which may carry personal data)
    only ``seconds`` after it arrived, as the dead-letter topic keeps them; the row, with its
    reason, stays. A column TTL, applied by merges; changed only when it differs. True if changed."""
    expression = f"toDateTime(received_at) + toIntervalSecond({int(seconds)})"
    current = client.query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                           "AND name = 'dead_letters'").result_rows[0][0]
    if f"TTL {expression}" in current:
        return False
    client.command(f"ALTER TABLE dead_letters MODIFY COLUMN value_base64 Nullable(String) TTL {expression}")
    return True


def json_value(value):
    """A ClickHouse value as JSON can carry it: instants in UTC with Z (ClickHouse gives them without
    a zone), dates ISO, Decimals, UUIDs and IP addresses as text, NaN as null."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value != value:  # NaN: JSON has none
        return None
    return value
