"""Operators' SQL (issue 27, item 1): every escape the probe found is refused, by ClickHouse itself
where it can enforce it (a read-only session: time, rows, memory, settings) and by our check of
ClickHouse's own parse for the rest. Fast: embedded ClickHouse, no broker."""
import time

import pytest

from creditstream.sinks.clickhouse import ThreadClients, connect, json_value
from creditstream.sinks.operator_sql import (
    SESSION_LIMITS,
    SqlRefused,
    audit_text,
    one_statement,
    run_operator_query,
)
from creditstream.sinks.query_service import QueryService


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "admin.credentials"
    path.write_text("KAFKA_ADMIN_PASSWORD=hunter2-secret\n")
    return path


@pytest.fixture
def operator(clickhouse, chdb_url):
    return connect(chdb_url, session=SESSION_LIMITS)


def refused(client, query, match):
    with pytest.raises(SqlRefused, match=match):
        run_operator_query(client, query)


def test_one_statement_only_whatever_hides_the_second():
    assert one_statement("SELECT 1 ;  -- done\n /* really */ ") == "SELECT 1"
    text = "SELECT ';' AS a, `x;y` FROM t -- ; not a statement"
    assert one_statement(text) == text
    assert one_statement("SELECT 'it''s; fine', 'a\\';b'") == "SELECT 'it''s; fine', 'a\\';b'"
    for text in ("SELECT 1; SELECT 2", "SELECT 1;/* */SELECT 2", "SELECT 1 -- x\n; DROP TABLE t",
                 "SELECT 'x'; SELECT 'y'"):
        with pytest.raises(SqlRefused, match="one statement only"):
            one_statement(text)
    with pytest.raises(SqlRefused, match="never closed"):
        one_statement("SELECT 'open; SELECT 2")


def test_the_probes_file_reads_are_refused_and_nothing_leaks(operator, secret_file):
    for query in (f"SELECT * FROM file('{secret_file}','LineAsString') UNION ALL SELECT 'x'; SELECT 'y'",
                  f"SELECT * FROM file('{secret_file}','LineAsString') UNION ALL SELECT 'x'",
                  f"SELECT file('{secret_file}')",
                  "SELECT * FROM file('/proc/self/environ', 'LineAsString')",
                  f"SELECT 1 WHERE 1 IN (SELECT length(`file`('{secret_file}')))",
                  f"SELECT * FROM `file`('{secret_file}', 'LineAsString')"):
        with pytest.raises(SqlRefused) as caught:
            run_operator_query(operator, query)
        assert "hunter2" not in str(caught.value)
    refused(operator, "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", "table function url")
    refused(operator, "SELECT * FROM system.users", "system.users is not allowed")
    refused(operator, "SELECT 1 WHERE 'x' IN system.settings", "system.settings is not allowed")
    refused(operator, "SELECT getSetting('readonly')", "function getSetting")


def test_writes_ddl_and_outfiles_are_refused(operator, clickhouse, tmp_path):
    target = tmp_path / "written.csv"
    refused(operator, f"INSERT INTO FUNCTION file('{target}', 'CSV') SELECT 1", "only SELECT")
    refused(operator, f"SELECT 1 INTO OUTFILE '{target}'", "INTO OUTFILE")
    refused(operator, "SELECT 1 FORMAT CSV", "FORMAT")
    refused(operator, "DROP TABLE lookup_audit", "only SELECT")
    refused(operator, "ALTER TABLE lookup_audit DELETE WHERE 1", "only SELECT")
    refused(operator, "CREATE TABLE evil (a UInt8) ENGINE = Memory", "only SELECT")
    assert not target.exists()
    # the session itself is read-only: ClickHouse refuses a write that reached it
    with pytest.raises(Exception, match="(?i)readonly"):
        operator.command("ALTER TABLE lookup_audit DELETE WHERE 1")
    assert clickhouse.query("EXISTS TABLE lookup_audit").result_rows == [(1,)]


def test_clickhouse_enforces_the_limits_and_no_query_lifts_them(operator):
    started = time.monotonic()
    with pytest.raises(Exception, match="(?i)timeout"):  # 30 s: the session's, not the query's
        with_limit = connect_with(operator, max_execution_time=1)
        run_operator_query(with_limit, "SELECT count() FROM system.numbers WHERE sipHash64(number) = 1")
    assert time.monotonic() - started < 10
    with pytest.raises(Exception, match="(?i)readonly"):
        run_operator_query(operator, "SELECT 1 SETTINGS max_execution_time = 1000")
    with pytest.raises(Exception, match="(?i)readonly"):
        operator.command("SET readonly = 0")
    columns, rows = run_operator_query(operator, "SELECT number FROM system.numbers LIMIT 20000")
    assert columns == ["number"] and len(rows) == 10_000  # the row cap
    with pytest.raises(Exception, match="(?i)memory limit"):
        run_operator_query(connect_with(operator, max_memory_usage=10_000_000),
                           "SELECT groupArray(number) FROM numbers(10000000)")


def connect_with(client, **changes):
    """A read-only session like the operator's with some limits changed (a 1 s time limit)."""
    return connect(client_url(client), session={**SESSION_LIMITS, **changes})


def client_url(client):
    return "chdb://" + client.path


def test_operators_query_the_platforms_tables_and_values_serialise(operator, clickhouse):
    columns, rows = run_operator_query(operator, "SELECT count() AS n FROM lookup_audit")
    assert columns == ["n"] and rows == [[0]]
    columns, rows = run_operator_query(operator, "SELECT name FROM system.tables WHERE name = 'lookup_audit'")
    assert rows == [["lookup_audit"]]
    _, rows = run_operator_query(operator, "SELECT toUUID('6d9a2c0e-8f51-4c57-9a3a-2d1f0e7c8b90'), "
                                           "toIPv4('10.1.2.3'), toIPv6('::1'), toDecimal64(1.5, 2)")
    assert rows == [["6d9a2c0e-8f51-4c57-9a3a-2d1f0e7c8b90", "10.1.2.3", "::1", "1.50"]]
    assert json_value(float("nan")) is None


def test_the_sink_services_operator_endpoint_is_read_only_whatever_the_request_says(clickhouse, chdb_url, secret_file):
    service = QueryService(ThreadClients(chdb_url), "s3cret")
    service.start()
    try:
        remote = connect(f"sinkservice://:s3cret@127.0.0.1:{service.port}", session=SESSION_LIMITS)
        assert run_operator_query(remote, "SELECT toUUID('6d9a2c0e-8f51-4c57-9a3a-2d1f0e7c8b90') AS id") == (
            ["id"], [["6d9a2c0e-8f51-4c57-9a3a-2d1f0e7c8b90"]])
        refused(remote, f"SELECT file('{secret_file}')", "function file")
        with pytest.raises(RuntimeError, match="(?i)readonly"):
            remote.query("SELECT 1 SETTINGS readonly = 0")
    finally:
        service.stop()


def test_the_audit_keeps_hash_length_and_enough_text_with_identity_numbers_masked():
    padded = "SELECT " + " " * 400 + "* FROM file('x') WHERE id = '230102199001011234'"
    kept = audit_text(padded)
    assert "file('x')" in kept and f"length={len(padded)}" in kept
    assert "230102199001011234" not in kept and "2301**********1234" in kept
    long = "SELECT 1 -- " + "x" * 10_000
    assert len(audit_text(long)) < 4_300 and "sha256=" in audit_text(long)
