"""Calendar changes: the live as-of month and reference date follow Asia/Shanghai. When the month
moves every enterprise's row is recomputed and republished; at midnight only the rows whose
register fields changed are. The worker's timer callback is driven
here in-process with its table and its publisher's producer replaced by in-memory stand-ins (Kafka itself
is covered by test_stream_kafka.py)."""
import asyncio
import datetime as dt
import json

from creditstream.schemas.months import live_as_of_month, parse_month
from creditstream.schemas.topics import AGGREGATES_TOPIC
from creditstream.settings import Settings
from creditstream.streams.app import CreditStream
from creditstream.streams.ledger import Ledger
from tests.support.builders import statement

UTC = dt.timezone.utc

# never connects: these tests hand the stream a recorder instead of a producer
UNIT_SETTINGS = Settings(personal_data_key="test-key", kafka_username="worker", kafka_password="unused")


def test_live_as_of_month_is_the_last_complete_month_in_shanghai():
    # 2024-12-31T15:59:59Z is 23:59:59 on Dec 31 in Shanghai; one second later it is January 1st.
    assert live_as_of_month(dt.datetime(2024, 12, 31, 15, 59, 59, tzinfo=UTC)) == parse_month("2024-11")
    assert live_as_of_month(dt.datetime(2024, 12, 31, 16, 0, 0, tzinfo=UTC)) == parse_month("2024-12")


class CapturingOutput:
    def __init__(self):
        self.sent = []

    def send(self, topic, key, value, timestamp_ms=0, headers=None):
        assert topic == AGGREGATES_TOPIC
        self.sent.append((key, json.loads(value)))


async def rollover_then_publish(stream):
    await stream.calendar_check()
    await stream.publisher.publish_changed()  # the worker's next publish round


def test_rollover_republishes_every_enterprise_with_the_new_month():
    now = [dt.datetime(2025, 1, 15, tzinfo=UTC)]
    output = CapturingOutput()
    stream = CreditStream(UNIT_SETTINGS.stream(), clock=lambda: now[0], output=output)
    ledgers = {}
    for uscc, usage in (("91350100M000100Y43", "10"), ("91110000MA01ABCD8Q", "30")):
        ledger = Ledger()
        ledger.apply(*statement("water", "W", "2024-12", usage, "1.00"))
        ledger.apply(*statement("water", "W", "2025-01", "20", "2.00"))
        ledgers[uscc.encode()] = ledger.to_bytes()
    stream.state.table, stream.state.read = ledgers, ledgers.get  # the table's keys, read as the worker reads
    assert stream.as_of == parse_month("2024-12")

    asyncio.run(rollover_then_publish(stream))  # same month: nothing to do
    assert output.sent == []

    now[0] = dt.datetime(2025, 1, 31, 16, 0, tzinfo=UTC)  # Feb 1st, 00:00 in Shanghai
    asyncio.run(rollover_then_publish(stream))
    sent = dict(output.sent)
    assert set(sent) == set(ledgers)
    assert {row["as_of_month"] for row in sent.values()} == {"2025-01"}
    # January now counts: (10 + 20) / 2 and (30 + 20) / 2
    assert sent[b"91350100M000100Y43"]["water_avg_usage_3m"] == "15.000"
    assert sent[b"91110000MA01ABCD8Q"]["water_avg_usage_3m"] == "25.000"


def test_midnight_republishes_only_the_rows_whose_date_dependent_fields_changed():
    from creditstream.monitoring import metrics
    from tests.support import builders as b

    now = [dt.datetime(2025, 7, 14, 15, 59, tzinfo=UTC)]  # 23:59 on 14 July in Shanghai
    output = CapturingOutput()
    stream = CreditStream(UNIT_SETTINGS.stream(), clock=lambda: now[0], output=output)
    penalised, licensed, utility_only = b"91350100M000100Y43", b"91110000MA01ABCD8Q", b"91440300MA5DC12340"
    facts = {penalised: [b.penalty("P", "2024-07-15")],  # a year in publicity: ends on 15 July
             licensed: [b.licence("L", "VALID", "2024-01-01", "2025-12-31")],
             utility_only: [statement("water", "W", "2025-06", "10", "1.00")]}
    table = {}
    for key, events in facts.items():
        ledger = Ledger()
        for record, value in events:
            ledger.apply(record, value)
        table[key] = ledger.to_bytes()
    stream.state.table, stream.state.read = table, table.get
    assert stream.reference == dt.date(2025, 7, 14)
    asyncio.run(stream.publisher.republish(stream.state.iter_keys(), lambda ledger: True))
    assert {key: row["penalties_in_publicity"] for key, row in output.sent} == {penalised: 1, licensed: 0,
                                                                                utility_only: 0}
    output.sent.clear()
    before = metrics.ROWS_REEVALUATED._value.get()

    now[0] = dt.datetime(2025, 7, 14, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    asyncio.run(stream.calendar_check())
    assert stream.reference == dt.date(2025, 7, 15) and stream.as_of == parse_month("2025-06")
    assert [(key, row["penalties_in_publicity"], row["as_of_date"]) for key, row in output.sent] == [
        (penalised, 0, "2025-07-15")]
    assert metrics.ROWS_REEVALUATED._value.get() == before + 1
