"""The typed models of what crosses a process: round trips, errors that name the field, and the
ClickHouse row types matching the tables the migrations create."""
import datetime as dt

import pytest

from creditstream.schemas.models import AGGREGATE_FIELDS, AggregateRow, DeadLetter, KeyEvent, ModelError
from creditstream.schemas.tables import TABLES
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support.builders import USCC, statement


def test_an_aggregate_row_round_trips_and_a_missing_field_is_named():
    ledger = Ledger()
    ledger.apply(*statement("water", "W", "2025-06", "10", "41.00"))
    row = compute(USCC, ledger, 24305)
    decoded = AggregateRow.decode(AggregateRow.encode(row))
    assert decoded.to_json() == row and list(decoded.values) == list(AGGREGATE_FIELDS)
    broken = {k: v for k, v in row.items() if k != "gas_arrears_amount"}
    with pytest.raises(ModelError, match="aggregate row: missing gas_arrears_amount"):
        AggregateRow.decode(AggregateRow.encode(broken))
    with pytest.raises(ModelError, match="not JSON"):
        AggregateRow.decode(b"\xff")


def test_a_dead_letter_round_trips_and_keeps_the_original_bytes():
    letter = DeadLetter.of_message("BAD_PERIOD", "WaterStatement.billing_month: '2024-13'", "credit.utility.water.v1",
                                   2, 99, 1_700_000_000_000, b"k", b"\x00\xff")
    assert DeadLetter.from_bytes(letter.to_bytes()) == letter
    assert letter.position == b"credit.utility.water.v1:2:99"
    with pytest.raises(ModelError, match="dead letter: missing source_offset"):
        DeadLetter.from_bytes(b'{"reason": "X", "message": "m", "source_topic": "t", "source_partition": 0}')


def test_a_key_event_round_trips():
    event = KeyEvent("abc", "f" * 64, "lender", "bank-1", dt.datetime(2025, 1, 2, 3, 4, 5, 6000, tzinfo=dt.timezone.utc),
                     False)
    assert KeyEvent.from_bytes(event.to_bytes()) == event
    with pytest.raises(ModelError, match="key event: missing revoked"):
        KeyEvent.from_bytes(b'{"key_id": "a", "key_hash": "", "principal_kind": "lender", "principal_id": "x", '
                            b'"created_at": "2025-01-01T00:00:00Z"}')


def test_every_row_type_has_exactly_its_tables_columns(clickhouse):
    for table, row_type in TABLES.items():
        described = [row[0] for row in clickhouse.query(f"DESCRIBE TABLE {table}").result_rows]
        assert list(row_type._fields) == described, table
