"""Write-behind ledger state of one worker: decoded ledgers in memory, the durable bytes in a
changelog-backed table. No I/O of its own; the table is any mutable mapping of USCC bytes to
``Ledger.to_bytes()``.

Folding an event only touches memory. Changed enterprises are tracked twice:
- ``unpublished``: their aggregate row must be recomputed and sent (every publish round);
- ``unpersisted``: their ledger must be written to the table (every persist round, before the
  source offsets may be committed). Unpersisted ledgers are never evicted from memory.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, MutableMapping

from creditstream.streams.ledger import Ledger


class LedgerState:
    def __init__(self, table: MutableMapping[bytes, bytes], cache_size: int):
        self.table = table
        self.cache_size = cache_size
        self.cache: OrderedDict[bytes, Ledger] = OrderedDict()  # recently used, LRU
        self.unpersisted: dict[bytes, Ledger] = {}
        self.persisting: dict[bytes, Ledger] = {}  # being written to the table: pinned until done
        self.unpublished: dict[bytes, float] = {}  # key -> newest provider produce time folded in (s)

    def load(self, key: bytes) -> Ledger:
        ledger = self.unpersisted.get(key) or self.persisting.get(key)
        if ledger is not None:
            return ledger
        ledger = self.cache.get(key)
        if ledger is not None:
            self.cache.move_to_end(key)
            return ledger
        stored = self.table.get(key)
        ledger = Ledger.from_bytes(stored) if stored else Ledger()
        self.cache[key] = ledger
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return ledger

    def fold(self, key: bytes, record: str, value: dict, produced: float, source: str | None = None) -> None:
        """Apply one valid, normalised event (typed values, see Ledger.apply); ``source``: the city
        it came from, at the provincial node."""
        ledger = self.load(key)
        if source is not None and source not in ledger.sources:
            ledger.sources.add(source)
            self.unpersisted[key] = ledger
        if ledger.apply(record, value):
            self.unpersisted[key] = ledger
        # an event already in the ledger still has its row published (the publisher sends it only
        # if it differs from the last one sent): read again after a crash, its ledger may have been
        # written while the row it caused never reached the topic, and nothing else would send it
        if produced > self.unpublished.get(key, -1.0):
            self.unpublished[key] = produced

    @property
    def pinned(self) -> int:
        """Changed ledgers held in memory until written (unpersisted and being persisted)."""
        return len(self.unpersisted) + len(self.persisting)

    def mark_changed(self, key: bytes, ledger: Ledger) -> None:
        """A ledger changed outside ``fold`` (the publisher's whitelist state): persist it next round."""
        self.unpersisted[key] = ledger

    def take_unpublished(self) -> dict[bytes, float]:
        taken, self.unpublished = self.unpublished, {}
        return taken

    def take_unpersisted(self) -> dict[bytes, Ledger]:
        """The ledgers to write now; they stay pinned in memory until ``persisted()``. One folded
        into meanwhile is unpersisted again and written next round."""
        self.persisting, self.unpersisted = self.unpersisted, {}
        return self.persisting

    def persisted(self) -> None:
        for key, ledger in self.persisting.items():  # stay in memory as clean ledgers
            self.cache[key] = ledger
            self.cache.move_to_end(key)
        self.persisting = {}
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def iter_keys(self) -> Iterator[bytes]:
        """Every enterprise this worker holds a ledger of, once each, read from the table as it goes
        (at 1M enterprises a list of them all would take ~150 MB for a moment)."""
        pending = {**self.unpersisted, **self.persisting}  # bounded by max_unpersisted_ledgers
        yield from pending
        for key in self.table.keys():
            if key not in pending:
                yield key

    def forget(self) -> None:
        """After a rebalance the table is the truth again: unpersisted changes are dropped (their
        events were not acknowledged and will be processed again)."""
        self.cache.clear()
        self.unpersisted.clear()
        self.persisting = {}
        self.unpublished.clear()
