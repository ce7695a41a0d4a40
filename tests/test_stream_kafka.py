"""The Faust worker against the real broker: aggregates equal replay, crash safety, dead letters."""
import base64
import datetime as dt
import io
import json
from decimal import Decimal

from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.kafka import partition_for
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, PROVIDER_TOPICS
from creditstream.streams.ledger import Ledger
from creditstream.streams.replay import aggregate_rows, fold_lines
from tests.support import builders
from tests.support.kafka import STREAM_AS_OF as AS_OF
from tests.support.kafka import group_caught_up, latest_by_key, read_topic, wait_for
from tests.support.stream import CODEC, assert_aggregates, produce_all, publish, replay_rows, simulated


def test_aggregates_topic_carries_exactly_what_replay_computes(kafka_settings, workers):
    events, expected = simulated(enterprises=40, months=14, seed=21)
    assert {e.topic for e in events} == set(PROVIDER_TOPICS)  # every topic of the contract, v1.1's registers too
    assert any(row["penalties_in_publicity"] or row["licences_valid"] for row in expected.values())
    publish(events)
    worker = workers("agg-equals-replay")
    assert_aggregates(expected, worker)
    metrics = worker.metrics()
    consumed = sum(v for k, v in metrics.items() if k.startswith("creditstream_events_consumed_total"))
    assert consumed == len(events)
    # the only worker of its group holds every partition of every provider topic (and others)
    assert metrics["creditstream_worker_input_partitions"] >= len(PROVIDER_TOPICS) * kafka_settings.partitions
    wait_for(lambda: worker.metrics().get("creditstream_ledgers") == len(expected), 30, "every ledger in the table")
    # the ledgers it folded are held in memory, counted at their estimated heap, within the bound
    assert 0 < metrics['creditstream_ledger_memory_bytes{held="cached"}'] <= 96 * 2**20


def test_events_keyed_off_their_ledger_partition_are_rekeyed_and_give_the_same_aggregates(kafka_settings, workers):
    """A provider keying with lower-case USCCs puts events on partitions other than the ledger's:
    they travel through the repartition topic and the aggregates are still exactly replay's."""
    events = list(Simulator(30, 6, parse_month(AS_OF), seed=8, invalid_share=0).events())
    for event in events[::2]:
        event.value["uscc"] = event.value["uscc"].lower()
    expected = {row["uscc"]: row for row in aggregate_rows(
        fold_lines([event_line(e) for e in events], CODEC, io.StringIO()), parse_month(AS_OF))}
    produce_all([(e.topic, e.value["uscc"].encode(), CODEC.encode(PROVIDER_TOPICS[e.topic], e.value))
                 for e in events])
    worker = workers("rekeyed")
    assert_aggregates(expected, worker)
    metrics = worker.metrics()
    rekeyed = sum(v for k, v in metrics.items() if k.startswith("creditstream_events_repartitioned_total"))
    assert 0 < rekeyed < len(events)
    assert metrics["creditstream_events_aggregated_total"] == len(events)


def test_sigkill_midway_then_restart_gives_the_uninterrupted_result(kafka_settings, workers):
    events, expected = simulated(enterprises=150, months=12, seed=5)
    publish(events)
    # checkpoints every 0.3 s also while catching up (the events are all there before it starts),
    # so rows are published and events acknowledged well before the end
    quick = {"CREDITSTREAM_PERSIST_SECONDS": "0.3", "CREDITSTREAM_CATCH_UP_PERSIST_SECONDS": "0.3"}
    first = workers("crash", **quick)

    def midway(scraped):
        return scraped.get("creditstream_events_aggregated_total", 0) >= 1500 and \
            scraped.get("creditstream_aggregates_published_total", 0) > 0

    wait_for(lambda: midway(first.metrics()), 120, "the worker to be midway", interval=0.05)
    first.kill()  # SIGKILL: no clean shutdown, no final commit
    assert first.proc.poll() == -9 and first.metrics() == {}  # really gone
    partial = latest_by_key(read_topic(AGGREGATES_TOPIC))
    assert 0 < len(partial) and partial != expected, "the kill did not land midway"
    second = workers("crash", **quick)
    assert_aggregates(expected, second)
    # the worker writes its ledger changelog itself: every record must sit on its key's partition
    # (where Faust recovers it from after a rebalance) and hold a readable ledger
    changelog = read_topic(f"{second.env['CREDITSTREAM_APP_ID']}-ledger-changelog")
    assert {m.key().decode() for m in changelog} == set(expected)
    for message in changelog:
        assert message.partition() == partition_for(message.key(), kafka_settings.partitions), message.key()
    latest = {m.key(): m.value() for m in changelog}
    assert all(Ledger.from_bytes(value).has_facts for value in latest.values())


def test_a_restarted_worker_keeps_its_state_on_disk_and_reads_only_the_changelog_it_lacks(kafka_settings, workers):
    """Issue 29, target 2: the ledgers live in the worker's local store (disk://). After a SIGKILL
    that came once every event was acknowledged, the restart reads no changelog record at all (the
    store recorded how far the changelog it holds goes) and still gives exact rows, also for
    enterprises that first appear after the restart."""
    events = list(Simulator(120, 6, parse_month(AS_OF), seed=61, invalid_share=0.0).events())
    later = list(Simulator(15, 3, parse_month(AS_OF), seed=62, invalid_share=0.0).events())
    assert not {e.value["uscc"] for e in events} & {e.value["uscc"] for e in later}
    publish(events)
    first = workers("on-disk", CREDITSTREAM_PERSIST_SECONDS="0.3")
    assert_aggregates(replay_rows(events), first)
    group = first.env["CREDITSTREAM_APP_ID"]
    wait_for(lambda: group_caught_up(group, PROVIDER_TOPICS), 60, "every event acknowledged and committed")
    changelog = f"{group}-ledger-changelog"
    assert len(read_topic(changelog)) >= 120  # the ledgers are in the changelog too
    first.kill()
    publish(later)
    second = workers("on-disk", CREDITSTREAM_PERSIST_SECONDS="0.3")
    assert_aggregates(replay_rows(events + later), second)
    recovered = second.metrics()['creditstream_table_recovered_records_total{table="ledger"}']  # a disk store
    assert recovered == 0, f"the restart re-read {recovered:.0f} changelog records it already held"


def test_every_dead_letter_reason_lands_with_its_source_position(kafka_settings, workers):
    good_statement = builders.statement("water", "W1", "2025-05", "10.000", "41.00")[1]
    good_payment = builders.payment("VAT", "2025-05-01", "2025-05-31", "100.00", "100.00", "2025-06-15",
                                    "2025-06-10")[1]
    now = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    consent = {**builders.common(), "lender_id": "lender-a", "scopes": ["TAX"], "granted_at": now,
               "expires_at": now - dt.timedelta(days=1), "revoked": False}
    water, gas, tax = "credit.utility.water.v1", "credit.utility.gas.v1", "credit.tax.payment.v1"
    key = builders.USCC.encode()
    enc = CODEC.encode
    bad = [
        (water, b"\x00garbage", "UNDECODABLE", "missing C3 01"),
        (water, b"\xc3\x01" + b"\x01" * 8 + b"\x02", "UNDECODABLE", "unknown writer schema fingerprint"),
        (water, enc("GasStatement", good_statement), "UNDECODABLE", "carries WaterStatement records, got a GasStatement"),
        (water, None, "UNDECODABLE", "missing C3 01"),
        (gas, enc("GasStatement", {**good_statement, "event_id": "b1", "uscc": builders.USCC[:17] + "4"}),
         "INVALID_USCC", "expected 3"),
        (gas, enc("GasStatement", {**good_statement, "event_id": "b2", "amount_due": Decimal("-1.00")}),
         "NEGATIVE_AMOUNT", "GasStatement.amount_due is -1.00"),
        (gas, enc("GasStatement", {**good_statement, "event_id": "b3", "usage": Decimal("-0.001")}),
         "NEGATIVE_USAGE", "GasStatement.usage is -0.001"),
        (gas, enc("GasStatement", {**good_statement, "event_id": "b4", "billing_month": "2025-00"}),
         "BAD_PERIOD", "'2025-00' is not a real month"),
        (tax, enc("TaxPayment", {**good_payment, "event_id": "b5", "period_end": dt.date(2025, 4, 30)}),
         "BAD_PERIOD", "period_end 2025-04-30 is before period_start 2025-05-01"),
        ("credit.consent.v1", enc("ConsentGrant", consent), "BAD_PERIOD", "expires_at"),
    ]
    good = [(water, enc("WaterStatement", good_statement)), (tax, enc("TaxPayment", good_payment))]
    items = []
    for i, (topic, value, _, _) in enumerate(bad):  # interleave good and bad records
        items.append((topic, key, value))
        if i < len(good):
            items.append((good[i][0], key, good[i][1]))
    positions = produce_all(items)
    position_of = {(topic, value): (topic, partition, offset) for topic, partition, offset, value in positions}

    worker = workers("dead-letters")
    letters = wait_for(lambda: (lambda ls: ls if len(ls) >= len(bad) else None)(read_topic(DEAD_LETTER_TOPIC)),
                       120, "every dead letter", interval=1)
    assert len(letters) == len(bad)
    by_position = {}
    for message in letters:
        letter = json.loads(message.value())
        by_position[(letter["source_topic"], letter["source_partition"], letter["source_offset"])] = letter
    for topic, sent, reason, text in bad:
        letter = by_position[position_of[(topic, sent)]]
        assert letter["reason"] == reason and text in letter["message"], letter
        assert letter["value_base64"] == (base64.b64encode(sent).decode() if sent is not None else None)
    metrics = worker.metrics()
    for reason in {b[2] for b in bad}:
        assert metrics[f'creditstream_dead_letters_total{{reason="{reason}"}}'] == sum(b[2] == reason for b in bad)

    good_lines = [json.dumps({"topic": t, "value": v}) for t, v in
                  [(water, _json(good_statement)), (tax, _json(good_payment))]]
    expected = {r["uscc"]: r for r in aggregate_rows(fold_lines(good_lines, CODEC, io.StringIO()),
                                                     parse_month(AS_OF))}
    assert_aggregates(expected, worker)
    assert expected[builders.USCC]["vat_paid_3m"] == "100.00"


def _json(value):
    from creditstream.schemas.records import to_json
    return to_json(value)


def test_a_corrupt_rekeyed_event_is_dead_lettered_and_does_not_stall_aggregation(kafka_settings, workers):
    from creditstream.schemas.topics import REPARTITION_TOPIC

    good = builders.statement("water", "W1", "2025-05", "10.000", "41.00")[1]
    produce_all([(REPARTITION_TOPIC, builders.USCC.encode(), b'{"topic": "credit.utility.water.v1", "value": {}}'),
                 ("credit.utility.water.v1", builders.USCC.encode(), CODEC.encode("WaterStatement", good))])
    worker = workers("corrupt-rekeyed")
    expected = {r["uscc"]: r for r in aggregate_rows(fold_lines(
        [json.dumps({"topic": "credit.utility.water.v1", "value": _json(good)})], CODEC, io.StringIO()),
        parse_month(AS_OF))}
    assert_aggregates(expected, worker)
    letters = [json.loads(m.value()) for m in read_topic(DEAD_LETTER_TOPIC)]
    assert [(d["reason"], d["source_topic"]) for d in letters] == [("UNDECODABLE", REPARTITION_TOPIC)]
    assert "re-keyed event unreadable" in letters[0]["message"]
