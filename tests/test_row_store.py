"""The API view's rows on local disk (api.row_store.DiskRows, issue 29, target 3): what the feed
wrote is there after a reopen, with the offsets to resume from; a look-up never keeps serving a
row the feed replaced; the view answers as with its rows in memory."""
import pytest

from creditstream.api.row_store import DiskRows, MemoryRows
from creditstream.api.view import ServingView, split_row
from creditstream.schemas.models import AGGREGATE_FIELDS, AggregateRow
from creditstream.schemas.topics import AGGREGATES_TOPIC

USCCS = ("91350100M000100Y43", "91350100MA0GWY001J", "91350100MA0WHL0014")


def row(uscc, grade="A", score=80):
    values = {name: 0 for name in AGGREGATE_FIELDS}
    return AggregateRow.encode({"uscc": uscc, "as_of_month": "2026-11", "as_of_date": "2026-11-30", **values,
                                "eval_grade": grade, "eval_score": score, "eval_red_lines": []})


def test_rows_and_where_they_were_read_to_survive_a_reopen(tmp_path):
    store = DiskRows(tmp_path, cache_rows=2)
    store.write([(u, row(u), 1_000 + i) for i, u in enumerate(USCCS)], {(AGGREGATES_TOPIC, 0): 3})
    store.write([(USCCS[1], None, 0)], {(AGGREGATES_TOPIC, 0): 4})  # a tombstone
    assert len(store) == 2 and USCCS[1] not in store
    again = DiskRows(tmp_path)
    assert len(again) == 2 and again.offsets() == {(AGGREGATES_TOPIC, 0): 4}
    assert again.view_of(USCCS[2], split_row).values()["eval_grade"] == "A"
    again.reset()
    assert len(DiskRows(tmp_path)) == 0 and DiskRows(tmp_path).offsets() == {}


def test_a_cached_row_is_replaced_when_the_feed_writes_it(tmp_path):
    store = DiskRows(tmp_path, cache_rows=10)
    store.write([(USCCS[0], row(USCCS[0], "A"), 1)], {})
    first = store.view_of(USCCS[0], split_row)
    assert store.view_of(USCCS[0], split_row) is first  # split once, then from the cache
    store.write([(USCCS[0], row(USCCS[0], "B"), 2)], {})
    assert store.view_of(USCCS[0], split_row).values()["eval_grade"] == "B"


def test_a_row_read_before_the_feed_replaced_it_is_not_cached(tmp_path):
    """The feed writes between a look-up's read and its caching: that look-up answers what it
    read, and the next one reads the new row."""
    store = DiskRows(tmp_path, cache_rows=10)
    store.write([(USCCS[0], row(USCCS[0], "A"), 1)], {})

    def split_while_the_feed_writes(value, timestamp_ms):
        store.write([(USCCS[0], row(USCCS[0], "B"), 2)], {})
        return split_row(value, timestamp_ms)
    assert store.view_of(USCCS[0], split_while_the_feed_writes).values()["eval_grade"] == "A"
    assert store.view_of(USCCS[0], split_row).values()["eval_grade"] == "B"


def test_the_cache_stays_within_its_bound(tmp_path):
    store = DiskRows(tmp_path, cache_rows=2)
    store.write([(u, row(u), 1) for u in USCCS], {})
    for uscc in USCCS:
        store.view_of(uscc, split_row)
    assert len(store._cache) == 2 and USCCS[0] not in store._cache


@pytest.mark.parametrize("on_disk", [False, True])
def test_the_view_answers_the_same_from_memory_and_from_disk(tmp_path, on_disk):
    view = ServingView(DiskRows(tmp_path) if on_disk else MemoryRows())
    for offset, uscc in enumerate(USCCS):
        view.apply(AGGREGATES_TOPIC, uscc.encode(), row(uscc, "AA"), 1_700_000_000_000, offset, 0)
    view.apply(AGGREGATES_TOPIC, USCCS[1].encode(), None, 0, 3, 0)
    view.flush_rows()
    assert len(view.rows) == 2 and view.known(USCCS[0]) and not view.known(USCCS[1])
    assert view.eval_grade(USCCS[2]) == "AA" and view.row(USCCS[2]).values()["eval_score"] == 80
    assert view.rows.offsets() == ({(AGGREGATES_TOPIC, 0): 4} if on_disk else {})


class CountingView(ServingView):
    """Counts the aggregate rows the feed hands it."""

    def __init__(self, rows):
        super().__init__(rows)
        self.rows_read = 0

    def apply(self, topic, key, value, timestamp_ms, offset=-1, partition=-1):
        self.rows_read += topic == AGGREGATES_TOPIC
        super().apply(topic, key, value, timestamp_ms, offset, partition)


@pytest.mark.kafka
def test_a_restarted_view_reads_only_the_rows_that_changed_and_starts_over_for_a_new_topic(kafka_settings,
                                                                                           tmp_path):
    from creditstream.api.view import load_once
    from tests.support.kafka import admin_kafka
    from tests.support.stream import produce_all

    produce_all([(AGGREGATES_TOPIC, u.encode(), row(u)) for u in USCCS])
    first = load_once(admin_kafka(), CountingView(DiskRows(tmp_path)), (AGGREGATES_TOPIC,))
    assert first.rows_read == 3 and len(first.rows) == 3
    produce_all([(AGGREGATES_TOPIC, USCCS[0].encode(), row(USCCS[0], "B"))])
    second = load_once(admin_kafka(), CountingView(DiskRows(tmp_path)), (AGGREGATES_TOPIC,))
    assert second.rows_read == 1 and len(second.rows) == 3 and second.eval_grade(USCCS[0]) == "B"
    # offsets the topic does not hold (it was recreated): every row is read again
    stored = DiskRows(tmp_path)
    stored.write([], {key: next_offset + 100 for key, next_offset in stored.offsets().items()})
    third = load_once(admin_kafka(), CountingView(DiskRows(tmp_path)), (AGGREGATES_TOPIC,))
    assert third.rows_read == 4 and len(third.rows) == 3 and third.eval_grade(USCCS[0]) == "B"
    # the topic deleted and created again under its name, refilled past where the rows on disk were
    # read to: another topic id, so the rows on disk are forgotten, not resumed into
    from tests.support.builders import _valid_uscc
    from tests.support.kafka import reset_topics
    reset_topics(kafka_settings)
    fresh = [_valid_uscc(f"91350100MA0RT{n:04d}") for n in range(20)]
    produce_all([(AGGREGATES_TOPIC, u.encode(), row(u, "C")) for u in fresh])
    fourth = load_once(admin_kafka(), CountingView(DiskRows(tmp_path)), (AGGREGATES_TOPIC,))
    assert fourth.rows_read == 20 and len(fourth.rows) == 20 and fourth.eval_grade(USCCS[0]) is None
