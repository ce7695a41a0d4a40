"""The sink service's read-only query endpoint, through which the API process reads an embedded
ClickHouse that only the sink service's process may open."""

import pytest

from creditstream.sinks.clickhouse import ThreadClients, connect, migrate
from creditstream.sinks.query_service import QueryService


def test_queries_come_back_typed_as_json_read_only_and_only_with_the_token(chdb_url):
    url = chdb_url  # chdb: one data directory per process, the session's
    migrate(connect(url))
    service = QueryService(ThreadClients(url), "s3cret")
    service.start()
    try:
        remote = connect(f"sinkservice://:s3cret@127.0.0.1:{service.port}")
        result = remote.query("SELECT {n:UInt32} + 1 AS n, toDateTime64('2026-11-30 01:02:03', 3, 'UTC') AS at, "
                              "toDecimal64(1.5, 2) AS d, {xs:Array(String)} AS xs",
                              parameters={"n": 41, "xs": ["a", "b"]})
        assert list(result.named_results()) == [{"n": 42, "at": "2026-11-30T01:02:03.000Z", "d": "1.50",
                                                 "xs": ["a", "b"]}]
        with pytest.raises(RuntimeError, match="(?i)readonly"):
            remote.query("INSERT INTO schema_migrations VALUES (99, 'x', now())")
        with pytest.raises(RuntimeError, match="bad token"):
            connect(f"sinkservice://:wrong@127.0.0.1:{service.port}").query("SELECT 1")
    finally:
        service.stop()
