"""ClickHouse keeps a dead letter's original bytes (which may carry personal data) no longer than
the dead-letter topic does: a column TTL nulls them, and the row with its reason stays."""
from creditstream.sinks.clickhouse import bound_dead_letter_bytes

WEEK = 7 * 24 * 3600


def test_old_dead_letters_lose_their_bytes_and_keep_their_reason(clickhouse):
    clickhouse.command(
        "INSERT INTO dead_letters (source_topic, source_partition, source_offset, reason, message, value_base64, "
        "received_at, uscc) VALUES ('credit.tax.payment.v1', 0, 1, 'SCHEMA', 'old', 'QUJD', now64(3) - INTERVAL 30 DAY, ''), "
        "('credit.tax.payment.v1', 0, 2, 'SCHEMA', 'new', 'QUJD', now64(3), '')")
    bound_dead_letter_bytes(clickhouse, WEEK)  # set (a sink earlier in this session may have set it already)
    assert bound_dead_letter_bytes(clickhouse, WEEK) is False  # unchanged: no ALTER
    clickhouse.command("OPTIMIZE TABLE dead_letters FINAL")
    rows = clickhouse.query("SELECT source_offset, reason, message, value_base64 FROM dead_letters FINAL "
                            "ORDER BY source_offset").result_rows
    assert rows == [(1, "SCHEMA", "old", None), (2, "SCHEMA", "new", "QUJD")]
    # another retention is applied, and said to be
    assert bound_dead_letter_bytes(clickhouse, 2 * WEEK) is True
    assert bound_dead_letter_bytes(clickhouse, WEEK) is True
