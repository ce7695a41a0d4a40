"""Where an enterprise's ledger lives. Pure: no I/O.

A worker owns the ledgers of the table partitions assigned to it. Faust assigns a worker the
same partition numbers of every topic it subscribes to, so an event that arrives on partition
murmur2(USCC) mod N of a provider topic with N partitions is on the worker that holds its
ledger and is folded at once; any other event is re-keyed to the repartition topic."""
from __future__ import annotations

from creditstream.schemas.kafka import partition_for

CACHE_LIMIT = 1_000_000  # USCCs whose partition is remembered (cleared when full)


class Router:
    def __init__(self, partitions: int):
        self.partitions = partitions
        self.copartitioned: set[str] = set()  # subscribed topics with the table's partition count
        self._cache: dict[bytes, int] = {}

    def assigned(self, topic_partition_counts: dict[str, int | None]) -> None:
        """After a rebalance: which topics are co-partitioned with the table (None = unknown yet,
        taken as the configured count, which ``topics create`` gives every topic)."""
        self.copartitioned = {topic for topic, count in topic_partition_counts.items()
                              if count in (None, self.partitions)}

    def partition_of(self, key: bytes) -> int:
        partition = self._cache.get(key)
        if partition is None:
            if len(self._cache) > CACHE_LIMIT:
                self._cache.clear()
            partition = self._cache[key] = partition_for(key, self.partitions)
        return partition

    def ledger_is_here(self, topic: str, partition: int, key: bytes) -> bool:
        """The event arrived on the partition number its ledger lives on (so: on this worker)."""
        return topic in self.copartitioned and self.partition_of(key) == partition
