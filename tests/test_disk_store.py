"""The worker's table store on local disk (streams/disk_store.py), without a broker: what survives
a restart, the changelog offset recovery starts after, and the state that must be discarded."""
from types import SimpleNamespace

import faust
import pytest
from faust.types import TP

from creditstream.streams.disk_store import OFFSET_KEY, DiskStore, discard_if_beyond, persisted_offset_at


def open_store(data_dir) -> DiskStore:
    """A fresh app and table over ``data_dir``: what a restarted worker gets."""
    app = faust.App("disk-store-test", datadir=str(data_dir), store="disk://")
    table = app.Table("ledger", default=None, partitions=4, key_type=bytes, value_type=bytes)
    store = table.data
    assert isinstance(store, DiskStore)
    return store


def changelog_event(partition, offset, key, value):
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset, key=key, value=value))


def changelog_tp(store, partition):
    return TP(store.table.changelog_topic.get_topic_name(), partition)


def test_values_and_offsets_survive_a_restart(tmp_path):
    store = open_store(tmp_path)
    store.put(0, b"91350200MA2XXXXXX1", b'{"a":1}')
    store.put(3, b"91350200MA2XXXXXX2", b'{"a":2}')
    store.set_persisted_offset(changelog_tp(store, 0), 41)
    store.close()

    again = open_store(tmp_path)
    for partition in range(4):
        again.put(partition, b"probe", b"x")  # opens every partition, as an assignment does
        again._del(b"probe")
    assert again[b"91350200MA2XXXXXX1"] == b'{"a":1}'
    assert again[b"91350200MA2XXXXXX2"] == b'{"a":2}'
    assert again.persisted_offset(changelog_tp(again, 0)) == 41
    assert again.persisted_offset(changelog_tp(again, 3)) is None
    assert sorted(again.keys()) == [b"91350200MA2XXXXXX1", b"91350200MA2XXXXXX2"]  # the offset is no key
    assert len(again) == 2
    again.close()


def test_recovery_batch_writes_values_deletes_and_the_newest_offset(tmp_path):
    store = open_store(tmp_path)
    store.put(1, b"gone", b"old")
    store.apply_changelog_batch([
        changelog_event(1, 7, b"k1", b"v1"),
        changelog_event(1, 9, b"k1", b"v2"),  # the later record wins
        changelog_event(1, 8, b"gone", None),  # a tombstone deletes
        changelog_event(2, 3, b"k2", b"w"),
    ], to_key=None, to_value=None)
    assert store[b"k1"] == b"v2"
    assert b"gone" not in store
    assert store.persisted_offset(changelog_tp(store, 1)) == 9
    assert store.persisted_offset(changelog_tp(store, 2)) == 3
    assert len(store) == 2  # k1 once, k2; gone deleted
    store.close()


def test_a_key_is_read_from_its_own_partition_and_a_misplaced_one_is_still_found(tmp_path):
    store = open_store(tmp_path)
    store.put(2, b"91350200MA2XXXXXX1", b"here")
    store.put(0, b"91350200MA2XXXXXX2", b"elsewhere")
    asked = []
    store._get = lambda key: asked.append(key) or DiskStore._get(store, key)  # the all-partition search
    assert store.get_at(2, b"91350200MA2XXXXXX1") == b"here"
    assert asked == []  # found where it belongs: no other partition asked
    assert store.get_at(2, b"91350200MA2XXXXXX2") == b"elsewhere"
    assert store.get_at(3, b"never written") is None  # a partition not open: the others are asked
    assert asked == [b"91350200MA2XXXXXX2", b"never written"]
    store.close()


def test_an_offset_for_a_partition_no_longer_held_is_not_recorded(tmp_path):
    store = open_store(tmp_path)
    store.set_persisted_offset(changelog_tp(store, 2), 100)  # never opened: nothing to vouch for
    assert not store.path_of(2).exists()
    store.close()


def test_a_write_outside_a_stream_event_must_name_its_partition(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(TypeError, match="must name its partition"):
        store[b"k"] = b"v"
    store.close()


def test_state_beyond_the_changelog_is_discarded(tmp_path):
    store = open_store(tmp_path)
    store.put(0, b"k", b"v")
    store.set_persisted_offset(changelog_tp(store, 0), 10)  # holds the changelog up to offset 10
    store.put(1, b"j", b"w")  # no offset recorded: recovery reads the whole changelog anyway
    store.close()
    assert persisted_offset_at(store.path_of(0)) == 10
    assert not discard_if_beyond(store.path_of(0), 11)  # the changelog has offset 10: keep
    assert store.path_of(0).exists()
    assert not discard_if_beyond(store.path_of(1), 0)
    assert discard_if_beyond(store.path_of(0), 5)  # the changelog was recreated: the state is not its
    assert not store.path_of(0).exists()


def test_reset_state_forgets_everything(tmp_path):
    store = open_store(tmp_path)
    store.put(0, b"k", b"v")
    store.reset_state()
    again = open_store(tmp_path)
    again.put(0, b"probe", b"x")
    assert b"k" not in again
    assert again.get(OFFSET_KEY) is None
    again.close()
