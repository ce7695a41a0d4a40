"""Write-behind ledger state of one worker: decoded ledgers in memory, the durable bytes in a
changelog-backed table. No I/O of its own; the table is any mutable mapping of USCC bytes to
``Ledger.to_bytes()``.

Folding an event only touches memory. Changed enterprises are tracked twice:
- ``unpublished``: their aggregate row must be recomputed and sent (every publish round);
- ``unpersisted``: their ledger must be written to the table (every persist round, before the
  source offsets may be committed). Unpersisted ledgers are never evicted from memory.

Memory is counted in bytes, each ledger at its estimated heap (``heap_estimate``: a 6-month ledger
about half a 24-month one), so a bound holds as many ledgers as fit, whatever their length.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator, MutableMapping, Optional

from creditstream.streams.ledger import Ledger, heap_estimate


class LedgerState:
    def __init__(self, table: MutableMapping[bytes, bytes], cache_bytes: int,
                 read: Optional[Callable[[bytes], Optional[bytes]]] = None):
        """``read``: how one stored ledger is read (default ``table.get``; the worker reads its
        table's store directly, see ``CreditStream.read_ledger``)."""
        self.table = table
        self.read = read or table.get
        self.cache_bytes = cache_bytes  # the bound on clean ledgers held
        # recently used, LRU: key -> (ledger, its estimated heap when cached)
        self.cache: OrderedDict[bytes, tuple[Ledger, int]] = OrderedDict()
        self.cached_bytes = 0
        self.unpersisted: dict[bytes, Ledger] = {}
        self.unpersisted_bytes = 0
        self.persisting: dict[bytes, Ledger] = {}  # being written to the table: pinned until done
        self.persisting_bytes = 0
        self.unpublished: dict[bytes, float] = {}  # key -> newest provider produce time folded in (s)

    def load(self, key: bytes) -> Ledger:
        ledger = self.unpersisted.get(key) or self.persisting.get(key)
        if ledger is not None:
            return ledger
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            return cached[0]
        stored = self.read(key)
        ledger = Ledger.from_bytes(stored) if stored else Ledger()
        self._cache(key, ledger)
        return ledger

    def _cache(self, key: bytes, ledger: Ledger) -> None:
        """Hold a clean ledger as the most recently used; the least recent go beyond the bound."""
        previous = self.cache.pop(key, None)
        if previous is not None:
            self.cached_bytes -= previous[1]
        size = heap_estimate(ledger)
        self.cache[key] = (ledger, size)
        self.cached_bytes += size
        while self.cached_bytes > self.cache_bytes and self.cache:
            self.cached_bytes -= self.cache.popitem(last=False)[1][1]

    def _changed(self, key: bytes, ledger: Ledger) -> None:
        """Pin a changed ledger until written, counted at its size when it first changed (what it
        grows by until the write is not counted: a few events' worth)."""
        if key not in self.unpersisted:
            self.unpersisted_bytes += heap_estimate(ledger)
        self.unpersisted[key] = ledger

    def fold(self, key: bytes, record: str, value: dict, produced: float, source: str | None = None) -> None:
        """Apply one valid, normalised event (typed values, see Ledger.apply); ``source``: the city
        it came from, at the provincial node."""
        ledger = self.load(key)
        if source is not None and source not in ledger.sources:
            ledger.sources.add(source)
            self._changed(key, ledger)
        if ledger.apply(record, value):
            self._changed(key, ledger)
        # an event already in the ledger still has its row published (the publisher sends it only
        # if it differs from the last one sent): read again after a crash, its ledger may have been
        # written while the row it caused never reached the topic, and nothing else would send it
        if produced > self.unpublished.get(key, -1.0):
            self.unpublished[key] = produced

    @property
    def pinned_bytes(self) -> int:
        """Estimated heap of the changed ledgers held in memory until written (unpersisted and being
        persisted), each counted at its size when it first changed since it was last written."""
        return self.unpersisted_bytes + self.persisting_bytes

    def mark_changed(self, key: bytes, ledger: Ledger) -> None:
        """A ledger changed outside ``fold`` (the publisher's whitelist state): persist it next round."""
        self._changed(key, ledger)

    def take_unpublished(self) -> dict[bytes, float]:
        taken, self.unpublished = self.unpublished, {}
        return taken

    def take_unpersisted(self) -> dict[bytes, Ledger]:
        """The ledgers to write now; they stay pinned in memory until ``persisted()``. One folded
        into meanwhile is unpersisted again and written next round. They join any still being
        persisted: the publisher may change ledgers while a round publishes from those it wrote,
        and a write brought forward then must not drop them (streams.checkpoint)."""
        taken, self.unpersisted = self.unpersisted, {}
        self.persisting.update(taken)
        self.persisting_bytes += self.unpersisted_bytes  # one taken twice is counted twice, until let go
        self.unpersisted_bytes = 0
        return taken

    def persisted(self) -> None:
        persisting, self.persisting, self.persisting_bytes = self.persisting, {}, 0
        for key, ledger in persisting.items():  # stay in memory as clean ledgers, at their written size
            self._cache(key, ledger)

    def iter_keys(self) -> Iterator[bytes]:
        """Every enterprise this worker holds a ledger of, once each, read from the table as it goes
        (at 1M enterprises a list of them all would take ~150 MB for a moment)."""
        pending = {**self.unpersisted, **self.persisting}  # bounded by unpersisted_ledgers_mib
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
        self.cached_bytes = self.unpersisted_bytes = self.persisting_bytes = 0
        self.unpublished.clear()
