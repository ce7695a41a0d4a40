"""Publishing aggregate rows: which enterprises' rows to recompute and send, and when. No I/O of
its own (the producer is handed in)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Awaitable, Callable, Iterable

from creditstream.monitoring import metrics
from creditstream.schemas.cs_eval_2 import whitelist_failures
from creditstream.schemas.models import AggregateRow, WhitelistChange, whitelist_change_id
from creditstream.schemas.topics import AGGREGATES_TOPIC, SOURCE_PRODUCED_HEADER, WHITELIST_TOPIC
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from creditstream.streams.state import LedgerState

YIELD_EVERY = 200  # rows published between yields to the event loop
PUBLISH_BACKOFF = 9.0  # idle time after a publish round, as a multiple of the round's cost, once behind
LIVE_LAG = 1.0  # seconds behind the providers up to which the worker counts as keeping up
CATCH_UP_LAG = 5.0  # seconds behind the providers from which the worker counts as catching up


class Publisher:
    def __init__(self, state: LedgerState, output, reading: Callable[[], tuple[int, dt.date]], publish_seconds: float,
                 whitelist: bool = True, relieve: Callable[[], Awaitable[None]] | None = None):
        """``reading``: the as-of month M and the reference date R rows are computed at now;
        ``whitelist``: announce whitelist changes (a city; the provincial node holds public records
        only, and the whitelist is each city's); ``relieve``: awaited between chunks of rows, so
        the worker may write out ledgers pinned meanwhile. Announcing a change pins its ledger
        until written, and one pass can announce one for most enterprises (a new evaluation model,
        a first start on a long history: 33,596 in one pass at 100,000 × 24 lifted the worker's
        pinned ledgers from 57 to 241 MB, docs/benchmarks.md)."""
        self.state, self.output, self.reading, self.publish_seconds = state, output, reading, publish_seconds
        self.whitelist, self.relieve = whitelist, relieve
        # key -> fingerprint of the row last sent (all but its reference date), to skip repeats
        self.last_published: dict[bytes, int] = {}

    def lag(self, now: float | None = None) -> float:
        """Seconds since the newest changed event was produced (0 with none)."""
        if not self.state.unpublished:
            return 0.0
        return (time.time() if now is None else now) - max(self.state.unpublished.values())

    def catching_up(self, now: float | None = None) -> bool:
        """Is the newest changed event older than CATCH_UP_LAG (a backlog being read)?"""
        return self.lag(now) > CATCH_UP_LAG

    def due(self, since_last_round: float, busy: float, now: float | None = None) -> bool:
        """Keeping up (the newest changed event is at most LIVE_LAG old): every publish_seconds,
        because the worker has time to spare and lenders see the rows sooner. Falling behind: also
        PUBLISH_BACKOFF times the last round's cost, so rounds take ≤ 10 % of the worker and the
        folding catches up (rows cover more events each). Catching up (older than CATCH_UP_LAG):
        rows are stale anyway, so they wait for the next persist, and one row covers many more
        events. (A stream gone quiet publishes at once: the caller's decision.)"""
        lag = self.lag(now)
        if lag > CATCH_UP_LAG:
            return False
        if lag <= LIVE_LAG:
            return since_last_round >= self.publish_seconds
        return since_last_round >= max(self.publish_seconds, PUBLISH_BACKOFF * busy)

    async def publish_changed(self) -> None:
        started = time.perf_counter()
        changed = self.state.take_unpublished()
        for done, (key, produced) in enumerate(changed.items(), 1):
            self.publish(key, produced)
            if done % YIELD_EVERY == 0:
                await self.between_chunks()
        if changed:
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def republish(self, keys: Iterable[bytes], wanted: Callable[[Ledger], bool]) -> tuple[int, int]:
        """Recompute the rows of the enterprises whose ledger is ``wanted`` (a new reference date)
        and send those that changed; return (sent, recomputed). Each ledger is loaded once, and the
        agents run between chunks: the scan covers every enterprise of the worker."""
        sent = recomputed = 0
        for done, key in enumerate(keys, 1):
            ledger = self.state.load(key)
            if wanted(ledger):
                recomputed += 1
                sent += self.send_row(key, ledger, 0.0)
            if done % YIELD_EVERY == 0:
                await self.between_chunks()
        return sent, recomputed

    async def between_chunks(self) -> None:
        await asyncio.sleep(0)  # let the agents run
        if self.relieve is not None:
            await self.relieve()

    def publish(self, key: bytes, produced: float) -> bool:
        """Send the enterprise's row unless it says what the last one said; True when sent."""
        return self.send_row(key, self.state.load(key), produced)

    def send_row(self, key: bytes, ledger: Ledger, produced: float) -> bool:
        if not ledger.has_facts:
            return False
        as_of, reference = self.reading()
        computed = compute(key.decode(), ledger, as_of, reference)
        if self.whitelist and computed["whitelisted"] != ledger.whitelisted:
            self.announce_whitelist_change(key, ledger, computed)
        row, fingerprint = AggregateRow.encode_with_fingerprint(computed)
        if self.last_published.get(key) == fingerprint:
            return False
        self.last_published[key] = fingerprint
        # the message timestamp says when the row was computed (lenders' updated_at); the header
        # carries the produce time of the newest provider event in it, for the freshness metric
        headers = [(SOURCE_PRODUCED_HEADER, str(int(produced * 1000)).encode())] if produced else None
        self.output.send(AGGREGATES_TOPIC, key, row, headers=headers)
        metrics.AGGREGATES_PUBLISHED.inc()
        return True

    def announce_whitelist_change(self, key: bytes, ledger: Ledger, row: dict) -> None:
        """One message per change of ``whitelisted`` (platform-services.md, Whitelist). The ledger
        remembers the new state and the count, and is marked for the next persist: a crash before
        that recomputes the same change under the same id, which readers drop as a repeat."""
        ledger.whitelisted = row["whitelisted"]
        ledger.whitelist_changes += 1
        self.state.mark_changed(key, ledger)
        uscc = key.decode()
        change = WhitelistChange(
            whitelist_change_id(uscc, ledger.whitelist_changes, ledger.whitelisted), uscc, ledger.name[1],
            ledger.whitelisted, row["eval_grade"], () if ledger.whitelisted else tuple(whitelist_failures(row)),
            dt.datetime.now(dt.timezone.utc), row["eval_model"])
        self.output.send(WHITELIST_TOPIC, key, change.to_bytes(), partition=0)
        metrics.WHITELIST_CHANGES.labels("join" if ledger.whitelisted else "leave").inc()
