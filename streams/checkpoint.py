"""The worker's checkpoint: events are acknowledged (so Faust may commit their offsets) only once
everything they caused is durable. No I/O of its own: the ledger writes, the producer and the
publisher are handed in, so the protocol is tested with in-memory stand-ins
(tests/test_checkpoint.py)."""
from __future__ import annotations

import asyncio
import time
from array import array
from typing import Awaitable, Callable, Hashable, ItemsView, NoReturn, Protocol

from creditstream.monitoring import metrics
from creditstream.streams.state import LedgerState

YIELD_EVERY = 200  # ledgers written between yields to the event loop (the agents keep running)


class Flushable(Protocol):
    async def flush(self) -> None:
        """Return when every message produced so far is acknowledged by the broker; raise if one is not."""


class Handled:
    """Where the events handled since the last round came from, to acknowledge once persisted: per
    partition, their offsets in the order handled, 8 bytes each. Holding the events themselves kept
    each one's message, value and Faust's wrapper alive until its round (~750 B an event: at
    8,300 events/s and 20 s between rounds while catching up, ~120 MB of the worker)."""
    __slots__ = ("offsets",)

    def __init__(self) -> None:
        self.offsets: dict[Hashable, array] = {}

    def add(self, partition: Hashable, offset: int) -> None:
        offsets = self.offsets.get(partition)
        if offsets is None:
            offsets = self.offsets[partition] = array("q")
        offsets.append(offset)

    def items(self) -> ItemsView[Hashable, array]:
        return self.offsets.items()

    def __len__(self) -> int:
        return sum(len(offsets) for offsets in self.offsets.values())


class Checkpoint:
    """Persist-then-acknowledge. A round (``persist``, every ``persist_seconds``):

    1. Take the events handled since the last round and the ledgers they changed.
    2. Write each changed ledger once (``write``: the table's local store and its changelog
       record on the key's partition), yielding to the agents every YIELD_EVERY ledgers. A
       rebalance meanwhile ends the round: the table is the truth again (step 5).
    3. Publish the aggregate rows still unpublished (``publish``), so none waits a round; then
       let go of the written ledgers (``released``): an agent held back because too many
       changed ledgers were pinned in memory goes on.
    4. Flush the producer: every normalised event, re-keyed event, dead letter, aggregate row
       and changelog record produced so far is acknowledged by the broker. If that fails the
       worker must not go on (``on_fatal``): acknowledging would lose the events, exiting makes
       them be read again from the last committed offset. Then ``delivered`` records in the
       local table store how far the changelog it holds goes (a restart reads only what follows).
    5. Acknowledge the events, unless a rebalance happened since step 1: their partitions may
       have moved, unwritten changes were dropped (``rebalanced``), and they will be re-read.

    Folding is idempotent per (provider_id, event_id), so events read again change nothing.

    A round brought forward by the memory bound while a backlog is read (``free_memory``) does
    step 2 only, then lets go of the written ledgers: their rows, the flush and the events'
    acknowledgement wait for the next full round. At scale one enterprise gets about one event
    between such rounds, and publishing each time cost a row per event (10,000 × 6: 0.64 rows per
    event, docs/benchmarks.md). Nothing is acknowledged before its row is out: a crash re-reads
    those events, and folding them again marks their rows for publishing.

    A publishing pass that pins ledgers past the same bound (each whitelist change it announces
    marks its ledger changed) has them written the same way between its chunks, step 3 included:
    ``free_memory`` then also lets go of the ledgers step 2 wrote, which the pass reads back if
    the cache has dropped them. Their changelog records are flushed in step 4 like the others.
    """

    def __init__(self, state: LedgerState, write: Callable[[bytes, bytes], None], output: Flushable,
                 publish: Callable[[], Awaitable[None]], on_fatal: Callable[[str], NoReturn],
                 acknowledge: Callable[[Hashable, int], None], delivered: Callable[[], None] = lambda: None):
        """``acknowledge(partition, offset)``: the event there may be committed (step 5)."""
        self.state, self.write, self.output, self.publish, self.on_fatal = state, write, output, publish, on_fatal
        self.acknowledge, self.delivered = acknowledge, delivered
        self.pending = Handled()  # events handled since the last round
        self.generation = 0  # bumped by every rebalance
        self._released: asyncio.Event | None = None  # set when a round lets go of its ledgers

    async def released(self) -> None:
        """Wait until a round has written its ledgers (or a rebalance dropped them): what an agent
        awaits when too many changed ledgers are pinned in memory (``LedgerState.pinned``)."""
        if self._released is None:
            self._released = asyncio.Event()
        await self._released.wait()

    def _release(self) -> None:
        if self._released is not None:
            self._released.set()
            self._released = None

    def handled(self, partition: Hashable, offset: int) -> None:
        self.pending.add(partition, offset)

    def rebalanced(self) -> None:
        self.generation += 1
        self.pending = Handled()
        self.state.forget()
        self._release()

    async def free_memory(self) -> None:
        """Step 2 alone: write the changed ledgers, then let go of them (see the class doc)."""
        if await self._write_changed(self.generation):
            self.state.persisted()
            self._release()

    async def _write_changed(self, generation: int) -> bool:
        """Step 2; False if a rebalance ended it."""
        for done, (key, ledger) in enumerate(self.state.take_unpersisted().items(), 1):
            self.write(key, ledger.to_bytes())
            if done % YIELD_EVERY == 0:
                await asyncio.sleep(0)
                if generation != self.generation:
                    return False
        return True

    async def persist(self) -> bool:
        """One round; True when its events were acknowledged."""
        started = time.perf_counter()
        generation, events, self.pending = self.generation, self.pending, Handled()  # 1
        if not await self._write_changed(generation):  # 2
            return False
        await self.publish()  # 3: from the pinned ledgers (those freed by free_memory are read back)
        self.state.persisted()
        self._release()
        try:
            await self.output.flush()  # 4
        except Exception as exc:
            self.on_fatal(f"output could not be delivered ({exc}); exiting without acknowledging")
            return False
        self.delivered()
        if generation != self.generation:  # 5
            return False
        for partition, offsets in events.items():
            for offset in offsets:
                self.acknowledge(partition, offset)
        metrics.PERSIST_SECONDS.observe(time.perf_counter() - started)
        return True
