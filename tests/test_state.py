"""Write-behind ledger state (streams/state.py): what is in memory, what must still be written."""
import pytest

from creditstream.streams.ledger import Ledger, heap_estimate
from creditstream.streams.state import LedgerState
from tests.support.builders import statement

K1, K2 = b"91350100M000100Y43", b"91110000MA01ABCD8Q"


def test_a_fold_is_pending_publish_and_persist_until_taken():
    table = {}
    state = LedgerState(table, cache_bytes=0)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=5.0)
    state.fold(K1, *statement("water", "W", "2025-04", "10", "1.00"), produced=3.0)
    assert state.take_unpublished() == {K1: 5.0}  # the newest produce time folded in
    assert state.take_unpublished() == {}
    writing = state.take_unpersisted()
    assert list(writing) == [K1] and table == {}  # the caller writes; nothing yet
    # while it is being written, the same ledger object is used, even with no cache at all
    assert state.load(K1) is writing[K1]
    state.fold(K1, *statement("water", "W", "2025-03", "10", "1.00"), produced=6.0)
    assert list(state.unpersisted) == [K1]  # changed during the write: written again next round
    table[K1] = writing[K1].to_bytes()
    state.persisted()
    assert state.persisting == {}


def test_ledgers_taken_while_others_are_still_being_written_join_them():
    """A publishing pass may have ledgers written out while a round still holds those it wrote
    (streams.checkpoint): both stay in memory, the same objects, until let go."""
    state = LedgerState({}, cache_bytes=10 * 20_000)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    first = state.take_unpersisted()
    state.fold(K2, *statement("water", "W", "2025-05", "20", "1.00"), produced=1.0)
    assert list(state.take_unpersisted()) == [K2]  # only what changed since is written now …
    assert state.persisting == {K1: first[K1], K2: state.load(K2)}  # … and the first is still held
    assert state.load(K1) is first[K1] and state.pinned_bytes > 0
    state.persisted()
    assert state.pinned_bytes == 0 and state.load(K1) is first[K1]  # now clean, in the cache

def test_a_replayed_event_changes_no_ledger_but_has_its_row_published_again():
    """Read again after a crash, an event may find its ledger already written while the row it
    caused never reached the topic (the crash came between the two): its row must be sent again
    (the publisher skips it when it equals the last one sent)."""
    table = {}
    state = LedgerState(table, cache_bytes=10 * 20_000)
    event = statement("water", "W", "2025-05", "10", "1.00")
    state.fold(K1, *event, produced=1.0)
    table[K1] = state.take_unpersisted()[K1].to_bytes()  # written; the worker dies before publishing
    restarted = LedgerState(table, cache_bytes=10 * 20_000)
    restarted.fold(K1, *event, produced=2.0)  # same idempotency key
    assert restarted.unpersisted == {}  # the ledger is unchanged: nothing to write
    assert restarted.unpublished == {K1: 2.0}


def test_forget_drops_unwritten_changes_and_reads_the_table_again():
    table = {}
    state = LedgerState(table, cache_bytes=10 * 20_000)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    state.take_unpersisted()
    table[K1] = state.load(K1).to_bytes()
    state.fold(K2, *statement("water", "W", "2025-05", "20", "1.00"), produced=1.0)
    state.forget()
    assert state.unpersisted == {} and state.unpublished == {} and state.persisting == {}
    assert state.load(K1).has_facts and not state.load(K2).has_facts


def test_every_held_enterprise_is_iterated_once_written_or_not():
    """The month roll walks every enterprise: those in the table, and those changed but not yet
    written (one being written, one not taken yet), each once."""
    K3 = b"91440300MA5DC12340"
    table = {}
    state = LedgerState(table, cache_bytes=10 * 20_000)
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    state.fold(K2, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    for key, ledger in state.take_unpersisted().items():
        table[key] = ledger.to_bytes()
    state.persisted()
    state.fold(K2, *statement("water", "W", "2025-06", "10", "1.00"), produced=2.0)  # in the table and changed
    state.fold(K3, *statement("water", "W", "2025-06", "10", "1.00"), produced=2.0)
    state.take_unpersisted()  # K2 and K3 being written
    state.fold(K1, *statement("water", "W", "2025-06", "10", "1.00"), produced=3.0)  # K1 changed again
    keys = list(state.iter_keys())
    assert sorted(keys) == sorted([K1, K2, K3])


def stored_ledger(months: int) -> bytes:
    """The stored form of a ledger holding ``months`` water statements."""
    state = LedgerState({}, cache_bytes=0)
    for month in range(1, months + 1):
        state.fold(K1, *statement("water", "W", f"2024-{month:02d}", "10", "1.00"), produced=1.0)
    return state.take_unpersisted()[K1].to_bytes()


def test_the_cache_is_bounded_by_the_ledgers_estimated_heap_not_their_number():
    """Two short ledgers fit where one long one does: the bound counts bytes."""
    short, long = stored_ledger(1), stored_ledger(12)
    K3 = b"91440300MA5DC12340"
    short_size, long_size = (heap_estimate(Ledger.from_bytes(b)) for b in (short, long))
    assert long_size > short_size
    state = LedgerState({K1: short, K2: short, K3: long}, cache_bytes=2 * short_size)
    state.load(K1), state.load(K2)
    assert list(state.cache) == [K1, K2] and state.cached_bytes == 2 * short_size
    state.load(K1)  # the most recent now
    state.cache_bytes = long_size  # room for one long ledger: loading it lets both short ones go
    state.load(K3)
    assert list(state.cache) == [K3] and state.cached_bytes == long_size


def test_changed_ledgers_are_counted_at_their_size_until_written_then_cached_at_their_written_size():
    state = LedgerState({K2: stored_ledger(12)}, cache_bytes=10 * 20_000)
    long_size = heap_estimate(state.load(K2))
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)  # a new ledger
    state.fold(K1, *statement("water", "W", "2025-06", "10", "1.00"), produced=1.0)  # counted once
    state.fold(K2, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    assert state.unpersisted_bytes == heap_estimate(Ledger()) + long_size == state.pinned_bytes
    writing = state.take_unpersisted()
    assert state.unpersisted_bytes == 0 and state.persisting_bytes == state.pinned_bytes > 0
    written = {key: ledger.to_bytes() for key, ledger in writing.items()}
    state.persisted()
    assert state.pinned_bytes == 0
    assert state.cached_bytes == sum(heap_estimate(Ledger.from_bytes(b)) for b in written.values())
    state.forget()
    assert state.cached_bytes == state.pinned_bytes == 0 and not state.cache


def test_stored_ledgers_are_read_through_the_given_reader():
    """The worker reads ledgers from its table's store directly (one read per ledger, not the
    table's ``in`` and ``[]``): the state asks ``read`` once per ledger it does not hold."""
    stored = {K1: Ledger().to_bytes()}
    asked = []
    state = LedgerState({}, cache_bytes=10 * 20_000, read=lambda key: asked.append(key) or stored.get(key))
    state.fold(K1, *statement("water", "W", "2025-05", "10", "1.00"), produced=1.0)
    state.fold(K1, *statement("water", "W", "2025-04", "10", "1.00"), produced=2.0)
    state.fold(K2, *statement("water", "W", "2025-05", "10", "1.00"), produced=3.0)
    assert asked == [K1, K2]  # each once; K2's miss gives a new ledger
    assert state.load(K2).has_facts


@pytest.mark.parametrize("store", ["disk://", "memory://"])
def test_the_worker_reads_a_stored_ledger_from_either_store(tmp_path, store):
    from creditstream.settings import Settings
    from creditstream.streams.app import CreditStream

    settings = Settings(personal_data_key="test-key", kafka_username="worker", kafka_password="unused",
                        store=store, data_dir=str(tmp_path))
    stream = CreditStream(settings.stream(), output=object())
    value = Ledger().to_bytes()
    if store == "disk://":
        stream.ledgers.data.put(stream.router.partition_of(K1), K1, value)
    else:
        stream.ledgers.data[K1] = value
    assert stream.read_ledger(K1) == value
    assert stream.read_ledger(K2) is None
