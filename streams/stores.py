"""A RocksDB store for tables written outside the event that changed them.

Faust's RocksDB store files every write under the partition of the *current event*, and
asserts there is one. carewatch writes case states at checkpoints (see
:mod:`streams.cases`), from the agent or from a timer, for cases of any partition the
worker owns, so that rule would file states under wrong partitions, or fail. For a table
with ``use_partitioner=True`` this store files each key under the partition the
changelog producer gives it (Kafka's murmur2 of the key), the same partition its
changelog message goes to, so local state and changelog always agree.

Registered as the ``carewatch-rocksdb://`` scheme through the ``faust.stores`` entry
point (pyproject.toml), Faust's plug-in point for stores.
"""

from __future__ import annotations

from faust.stores import rocksdb
from faust.streams import current_event
from kafka.partitioner.default import murmur2


class PartitionedRocksDBStore(rocksdb.Store):
    def _partition_of(self, key: bytes) -> int:
        event = current_event()
        if not self.table.use_partitioner and event is not None:
            return int(event.message.partition)
        partitions = self.table.partitions or self.app.conf.topic_partitions
        return int(murmur2(key) & 0x7FFFFFFF) % int(partitions)

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._partition_of(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)
