"""Where the API's view keeps the aggregate rows (issue 29, target 3).

``MemoryRows`` holds every row's bytes in the process (today's default: ~2.5 GiB at 1M rows).
``DiskRows`` keeps them in a SQLite file on local disk (the standard library's, so no new
dependency), with a bounded cache of rows already split for look-ups, and remembers, in the same
transaction as the rows, the offset of the aggregates topic each partition was read to: a
restarted API reads only what arrived since instead of the whole topic. The feed is the only
writer (one thread); look-ups read through a connection per thread (WAL: readers never wait for
the writer).

Both answer ``get`` with (payload, epoch ms), the payload the row's bytes or its split RowView.
"""
from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

Row = tuple  # (bytes | RowView, timestamp ms)
WRITTEN_KEPT = 200_000  # rows whose last write is remembered for the cache's sake


class MemoryRows:
    """Every row in a dict; a row looked up is replaced by its split form (split once)."""

    persistent = False

    def __init__(self) -> None:
        self._rows: dict[str, Row] = {}
        self._lock = threading.Lock()  # the feed's writes against a look-up's write-back

    def get(self, uscc: str) -> Optional[Row]:
        return self._rows.get(uscc)

    def write(self, changes: Iterable[tuple[str, Optional[bytes], int]], offsets: dict) -> None:
        """Rows (None: a tombstone) as the feed read them; ``offsets`` unused (nothing survives)."""
        with self._lock:
            for uscc, value, timestamp_ms in changes:
                if value is None:
                    self._rows.pop(uscc, None)
                else:
                    self._rows[uscc] = (value, timestamp_ms)

    def view_of(self, uscc: str, split: Callable) -> Optional[Any]:
        """The row split for look-ups (``split(bytes, ms)``), split once and kept."""
        found = self._rows.get(uscc)
        if found is None:
            return None
        payload, timestamp_ms = found
        if not isinstance(payload, bytes):
            return payload
        view = split(payload, timestamp_ms)
        with self._lock:
            if self._rows.get(uscc) is found:  # unless a newer row arrived meanwhile
                self._rows[uscc] = (view, timestamp_ms)
        return view

    def offsets(self) -> dict:
        return {}

    def topic_ids(self) -> dict:
        return {}

    def remember_topic_ids(self, ids: dict) -> None:
        pass

    def reset(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, uscc: str) -> bool:
        return uscc in self._rows


class DiskRows:
    """Rows in ``directory``/rows.sqlite, the last ``cache_rows`` looked up kept split in memory."""

    persistent = True

    def __init__(self, directory: Path, cache_rows: int = 50_000):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "rows.sqlite"
        self.cache_rows = cache_rows
        self._cache: OrderedDict[str, Row] = OrderedDict()
        self._cache_lock = threading.Lock()
        # which write last changed a row (a write's sequence number), so a look-up that read a row
        # before a write changed it does not cache the old one; bounded: cleared when large, and
        # reads that began before the clearing are then not cached
        self._seq, self._written, self._forgotten_before = 0, {}, 0
        self._local = threading.local()
        writer = self._connection()
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE IF NOT EXISTS rows (uscc TEXT PRIMARY KEY, value BLOB NOT NULL, "
                       "ts INTEGER NOT NULL) WITHOUT ROWID")
        writer.execute("CREATE TABLE IF NOT EXISTS offsets (topic TEXT, part INTEGER, next INTEGER, "
                       "PRIMARY KEY (topic, part))")
        # the Kafka topic id the offsets belong to: a topic deleted and created again under the same
        # name has a new one, and its offsets no longer mean these rows
        writer.execute("CREATE TABLE IF NOT EXISTS topic_ids (topic TEXT PRIMARY KEY, id TEXT NOT NULL)")
        writer.commit()
        self._count = writer.execute("SELECT count(*) FROM rows").fetchone()[0]

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # synchronous=NORMAL under WAL: a power cut may lose the last transactions, never
            # corrupt the file; what was lost is read again from Kafka (the offsets went with it)
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def get(self, uscc: str) -> Optional[Row]:
        with self._cache_lock:
            found = self._cache.get(uscc)
            if found is not None:
                self._cache.move_to_end(uscc)
                return found
        hit = self._connection().execute("SELECT value, ts FROM rows WHERE uscc = ?", (uscc,)).fetchone()
        return None if hit is None else (hit[0], hit[1])

    def write(self, changes: Iterable[tuple[str, Optional[bytes], int]], offsets: dict) -> None:
        """One transaction: the rows (None: a tombstone) and the next offset of each partition
        they were read from, so a restart resumes exactly where the rows end."""
        latest: dict[str, tuple[Optional[bytes], int]] = {}
        for uscc, value, timestamp_ms in changes:
            latest[uscc] = (value, timestamp_ms)
        connection = self._connection()
        with connection:
            existing = self._existing(connection, list(latest))
            upserts = [(u, v, t) for u, (v, t) in latest.items() if v is not None]
            deletes = [(u,) for u, (v, _t) in latest.items() if v is None]
            connection.executemany("INSERT INTO rows VALUES (?, ?, ?) ON CONFLICT(uscc) DO UPDATE SET "
                                   "value = excluded.value, ts = excluded.ts", upserts)
            connection.executemany("DELETE FROM rows WHERE uscc = ?", deletes)
            connection.executemany("INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT(topic, part) DO UPDATE SET "
                                   "next = excluded.next", [(t, p, n) for (t, p), n in offsets.items()])
        self._count += sum(u not in existing for u, _v, _t in upserts) - sum(u in existing for (u,) in deletes)
        with self._cache_lock:  # after the commit: a read that began before it is not cached
            self._seq += 1
            if len(self._written) > WRITTEN_KEPT:
                self._written.clear()
                self._forgotten_before = self._seq
            for uscc in latest:
                self._cache.pop(uscc, None)
                self._written[uscc] = self._seq

    @staticmethod
    def _existing(connection: sqlite3.Connection, usccs: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(usccs), 500):  # under SQLite's limit on bound parameters
            chunk = usccs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(u for (u,) in connection.execute(f"SELECT uscc FROM rows WHERE uscc IN ({marks})", chunk))
        return found

    def view_of(self, uscc: str, split: Callable) -> Optional[Any]:
        """The row split for look-ups (``split(bytes, ms)``): from the cache, else read and split
        and cached — unless the feed wrote the row meanwhile (then the next look-up reads again)."""
        with self._cache_lock:
            cached = self._cache.get(uscc)
            if cached is not None:
                self._cache.move_to_end(uscc)
                return cached[0]
            began = self._seq
        hit = self._connection().execute("SELECT value, ts FROM rows WHERE uscc = ?", (uscc,)).fetchone()
        if hit is None:
            return None
        view = split(hit[0], hit[1])
        with self._cache_lock:
            if began >= self._forgotten_before and self._written.get(uscc, -1) <= began:
                self._cache[uscc] = (view, hit[1])
                while len(self._cache) > self.cache_rows:
                    self._cache.popitem(last=False)
        return view

    def offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → the next offset to read, as the last transaction left it."""
        return {(t, p): n for t, p, n in self._connection().execute("SELECT topic, part, next FROM offsets")}

    def topic_ids(self) -> dict[str, str]:
        """topic → the Kafka topic id the stored offsets were read from."""
        return dict(self._connection().execute("SELECT topic, id FROM topic_ids"))

    def remember_topic_ids(self, ids: dict[str, str]) -> None:
        connection = self._connection()
        with connection:
            connection.executemany("INSERT INTO topic_ids VALUES (?, ?) ON CONFLICT(topic) DO UPDATE SET id = excluded.id",
                                   list(ids.items()))

    def reset(self) -> None:
        """Forget everything (the topic was recreated: its offsets no longer mean these rows)."""
        connection = self._connection()
        with connection:
            connection.execute("DELETE FROM rows")
            connection.execute("DELETE FROM offsets")
            connection.execute("DELETE FROM topic_ids")
        self._count = 0
        with self._cache_lock:
            self._cache.clear()
            self._seq += 1
            self._written.clear()
            self._forgotten_before = self._seq

    def __len__(self) -> int:
        return self._count

    def __contains__(self, uscc: str) -> bool:
        return self.get(uscc) is not None
