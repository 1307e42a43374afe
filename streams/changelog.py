"""Case states to the Faust table: its store and its changelog topic, written directly.

``table[key] = value`` costs, per key, a ``FutureMessage``, the topic's serialisers,
an eager partitioning, a sensor call and a TTL check before the producer sees the
message: more than handling the event that changed the case (BENCHMARKS.md). At a
checkpoint carewatch already knows each key's partition and has the value as bytes, so
:class:`ChangelogWriter` does what that path amounts to for this table (raw key and
value, no TTL, ``use_partitioner``): the value into the table's store, the same bytes
to the changelog partition of the key, and, once Kafka has them, the changelog offset
into the store (RocksDB keeps it, so a restart reads only the changelog after it).
Recovery is Faust's own and reads these messages like its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.delivery import Deliveries


class ChangelogWriter:
    def __init__(self, app: Any, table: Any) -> None:
        self.app = app  # faust.App
        self.table = table  # faust.Table[str, bytes], raw key and value serialisers
        self._topic: str | None = None

    @property
    def topic(self) -> str:
        if self._topic is None:
            self._topic = str(self.table.changelog_topic.get_topic_name())
        return self._topic

    async def write(
        self, changes: Iterable[tuple[str, int, bytes | None]], deliveries: Deliveries
    ) -> int:
        """Store and send each ``(key, partition, value)``; ``None`` deletes (a tombstone).
        The messages go through ``deliveries``, which the caller confirms. Returns the
        states written (deletes not counted)."""
        data = self.table.data
        topic = self.topic
        written = 0
        for key, partition, value in changes:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
                written += 1
            await deliveries.send(topic, key.encode(), value, partition, self._persisted)
        return written

    def _persisted(self, sent: Any) -> None:
        """Kafka has the record (aiokafka's ``RecordMetadata``): RocksDB keeps its offset."""
        self.table.data.set_persisted_offset(sent.topic_partition, sent.offset)
