"""A Faust table store on local disk (RocksDB through ``rocksdict``), registered as the
``faust.stores`` entry point ``disk`` (``CREDITSTREAM_STORE=disk://``).

Why not Faust's own ``rocksdb://`` store: its writes need the current stream event (our ledgers are
written by the checkpoint, outside any event), it records the changelog offset only for writes
sent through Faust's producer (ours go through librdkafka), so every restart re-read the whole
changelog, and its ``len()`` walks every key. This store keeps Faust's contract (one database
per changelog partition under the table directory, recovery through ``persisted_offset`` and
``apply_changelog_batch``) and adds what the worker needs:

- ``put(partition, key, value)``: a write whose partition the caller names;
- ``set_persisted_offset``, called by the worker's checkpoint once the changelog records it
  wrote are delivered, so a restart (clean or SIGKILL) reads only the changelog after them: the
  local state survives, the changelog fills the gap;
- an exact ``len()`` without walking the keys: each partition keeps its key count in the same
  atomic write as the change that alters it (a metric reads it on every scrape).

Every value written locally before its changelog record is delivered may make the local state
*ahead* of the changelog after a crash; the events behind it were not acknowledged, so they are
folded again, and folding is idempotent: the state converges to the same ledgers either way.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from faust.stores.base import SerializedStore
from faust.streams import current_event
from faust.types import TP, EventT
from rocksdict import AccessType, BlockBasedOptions, Cache, DBCompressionType, Options, Rdict, WriteBatch

from creditstream.monitoring import metrics

log = logging.getLogger("creditstream.disk_store")

META_PREFIX = b"\x00creditstream:"  # never a table key (USCCs and lender ids are printable)
OFFSET_KEY = META_PREFIX + b"changelog-offset"
COUNT_KEY = META_PREFIX + b"keys"
WRITE_BUFFER_BYTES = 16 * 2**20  # per partition; two of them at most (memory stays bounded)
BLOCK_CACHE_BYTES = 64 * 2**20  # shared by the partitions of one store: hot blocks of cold ledgers
LOCK_RETRIES, LOCK_RETRY_SECONDS = 30, 1.0  # another process of this worker may still hold a partition


def database_options(cache: Cache) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_compression_type(DBCompressionType.lz4())  # ledgers are JSON: ~3× smaller on disk
    options.set_write_buffer_size(WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_bloom_filter(10, False)  # a key is looked for in every open partition: misses stay cheap
    table.set_cache_index_and_filter_blocks(True)  # index and filters count against the cache
    options.set_block_based_table_factory(table)
    return options


class DiskStore(SerializedStore):
    def __init__(self, url, app, table, **kwargs: Any) -> None:
        super().__init__(url, app, table, **kwargs)
        self._cache = Cache(BLOCK_CACHE_BYTES)
        self._options = database_options(self._cache)
        self._dbs: dict[int, Rdict] = {}
        self._counts: dict[int, int] = {}  # keys per open partition
        self._recovered = metrics.TABLE_RECOVERED_RECORDS.labels(self.table_name)  # shown from 0

    # -- the worker's own writes -------------------------------------------------------------------
    def put(self, partition: int, key: bytes, value: bytes) -> None:
        self._write(partition, {key: value})

    def _write(self, partition: int, changes: dict[bytes, Optional[bytes]], offset: Optional[int] = None) -> None:
        """One atomic write: the changes (None deletes), the partition's key count they leave, and
        the changelog offset they bring the partition to (if given)."""
        db = self._db(partition)
        count = before = self._counts[partition]
        batch = WriteBatch(raw_mode=True)
        for key, value in changes.items():
            existed = db.key_may_exist(key) and db.get(key) is not None  # the bloom filter answers most new keys
            if value is None:
                batch.delete(key)
                count -= existed
            else:
                batch.put(key, value)
                count += not existed
        if count != before:
            batch.put(COUNT_KEY, str(count).encode())
        if offset is not None:
            batch.put(OFFSET_KEY, str(offset).encode())
        db.write(batch)
        self._counts[partition] = count

    # -- recovery ----------------------------------------------------------------------------------
    def persisted_offset(self, tp: TP) -> Optional[int]:
        offset = self._db(tp.partition).get(OFFSET_KEY)
        return int(offset) if offset is not None else None

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Only for a partition still held: one revoked meanwhile keeps its older offset, and its
        recovery reads a little more changelog."""
        db = self._dbs.get(tp.partition)
        if db is not None:
            db.put(OFFSET_KEY, str(offset).encode())

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable, to_value: Callable) -> None:
        """One atomic write per partition: the newest value of each key (None: a tombstone), the
        key count and the offset they bring the store to."""
        changes: dict[int, dict[bytes, Optional[bytes]]] = {}
        offsets: dict[int, int] = {}
        records = 0
        for event in batch:
            message = event.message
            changes.setdefault(message.partition, {})[message.key] = message.value  # later records win
            offsets[message.partition] = max(message.offset, offsets.get(message.partition, -1))
            records += 1
        for partition, partition_changes in changes.items():
            self._write(partition, partition_changes, offsets[partition])
        self._recovered.inc(records)

    # -- partitions --------------------------------------------------------------------------------
    def path_of(self, partition: int) -> Path:
        return Path(self.app.conf.tabledir) / f"{self.table_name}-{partition}.rdict"

    def _db(self, partition: int) -> Rdict:
        db = self._dbs.get(partition)
        if db is None:
            path = self.path_of(partition)
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self._dbs[partition] = Rdict(str(path), self._options, access_type=AccessType.read_write())
            self._counts[partition] = int(db.get(COUNT_KEY) or 0)
        return db

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        """Close the databases of partitions taken away (their files stay: if the partition comes
        back, recovery resumes after its persisted offset) and open the newly assigned ones."""
        mine = self.table.changelog_topic.topics
        for tp in revoked:
            if tp.topic in mine and tp.partition in self._dbs:
                self._dbs.pop(tp.partition).close()
                self._counts.pop(tp.partition, None)
        for tp in newly_assigned:
            if tp.topic in mine:
                await self._open_when_unlocked(tp.partition)

    async def _open_when_unlocked(self, partition: int) -> None:
        for attempt in range(LOCK_RETRIES):
            try:
                self._db(partition)
                return
            except Exception as exc:  # rocksdict raises a plain Exception naming the lock
                if "lock" not in str(exc).lower() or attempt == LOCK_RETRIES - 1:
                    raise
                log.info("table %s partition %d is locked by another process; retrying", self.table_name, partition)
                await asyncio.sleep(LOCK_RETRY_SECONDS)

    async def stop(self) -> None:
        self.close()
        await super().stop()

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self._counts.clear()

    def reset_state(self) -> None:
        """Forget everything held locally (Faust then recovers the table from the changelog)."""
        partitions = list(self._dbs)
        self.close()
        for partition in partitions:
            shutil.rmtree(self.path_of(partition), ignore_errors=True)

    async def backup_partition(self, tp, flush: bool = True, purge: bool = False, keep: int = 1) -> None:
        """Not needed: the changelog is the backup."""

    def restore_backup(self, tp, latest: bool = True, backup_id: int = 0) -> None:
        """Not needed: a lost partition database is recovered from the changelog."""

    # -- the mapping Faust and the worker read -----------------------------------------------------
    def _get(self, key: bytes) -> Optional[bytes]:
        # a key lives in exactly one partition; the bloom filters make the others' misses cheap
        for db in list(self._dbs.values()):
            if db.key_may_exist(key):
                value = db.get(key)
                if value is not None:
                    return value
        return None

    def get_at(self, partition: int, key: bytes) -> Optional[bytes]:
        """A key's value read from its own partition: one read, where ``_get`` asks the bloom
        filter of every open partition first (at scale their filter blocks are not all cached).
        A miss is looked for in the others (``_get``): cheap for a new key, and it keeps a value
        written to another partition readable."""
        db = self._dbs.get(partition)
        value = db.get(key) if db is not None else None
        return value if value is not None else self._get(key)

    def _set(self, key: bytes, value: Optional[bytes]) -> None:
        """A write from inside a stream (Faust's own table writes): the event's partition, as Faust's
        changelog record goes to the same partition."""
        event = current_event()
        if event is None:
            raise TypeError(f"table {self.table_name}: a write outside a stream event must name its "
                            "partition (DiskStore.put)")
        self._write(event.message.partition, {key: value})

    def _del(self, key: bytes) -> None:
        for partition in list(self._dbs):
            self._write(partition, {key: None})

    def _iteritems(self) -> Iterator[tuple[bytes, bytes]]:
        for db in list(self._dbs.values()):
            for key, value in db.items():
                if not key.startswith(META_PREFIX):
                    yield key, value

    def _iterkeys(self) -> Iterator[bytes]:
        for db in list(self._dbs.values()):
            for key in db.keys():
                if not key.startswith(META_PREFIX):
                    yield key

    def _itervalues(self) -> Iterator[bytes]:
        for _, value in self._iteritems():
            yield value

    def _size(self) -> int:
        return sum(self._counts.values())

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _clear(self) -> None:
        raise NotImplementedError("a disk store is cleared with reset_state()")


def persisted_offset_at(path: Path) -> Optional[int]:
    """The changelog offset a closed partition database holds (None: none recorded)."""
    db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        offset = db.get(OFFSET_KEY)
        return int(offset) if offset is not None else None
    finally:
        db.close()


def discard_if_beyond(path: Path, highwater: int) -> bool:
    """Remove a partition database that holds more than its changelog does (the changelog topic was
    deleted, or the worker points at another cluster): Faust would trust it and skip recovery.
    True when it was removed."""
    if not path.exists():
        return False
    offset = persisted_offset_at(path)
    if offset is None or offset < highwater:
        return False
    log.warning("%s holds the changelog up to offset %d but the changelog ends before %d: discarded, "
                "the partition is recovered from the changelog", path, offset, highwater)
    shutil.rmtree(path)
    return True
