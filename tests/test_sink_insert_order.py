"""The sink inserts the tables readers count (finance_changes) after the typed rows of the same
batch: the API's statistics wait until finance_changes holds what it folded, and must then find
the claim or application that change made (CI once read an approved claim as 0.00 元)."""
from types import SimpleNamespace

from creditstream.sinks.sink import Batch, ClickHouseSink


def test_finance_changes_is_inserted_after_the_rows_it_announces():
    inserted = []
    client = SimpleNamespace(insert=lambda table, rows, column_names, settings: inserted.append(table))
    batch = Batch()
    batch.add("credit.finance.accepted.v1", 0, 7)
    for table in ("finance_changes", "compensation_claims", "loan_applications"):
        batch.rows[table].append(("row",))
    ClickHouseSink.insert(SimpleNamespace(client=client), batch)
    assert inserted == ["compensation_claims", "loan_applications", "finance_changes"]
