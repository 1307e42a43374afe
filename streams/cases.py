"""The worker's cases: a write-back cache over the changelog-backed Faust table.

Why write-back: Faust sends the table's changelog and the SLA decisions through one
producer, with no order between topics. Were every state written at once, a crash could
leave in the changelog a state whose decisions never reached ``care.sla.v1``; the
event, read again, would then be a duplicate and its decisions lost. So states change
here, in memory, and reach the table only at a checkpoint, after the producer has
delivered every decision sent so far (see :mod:`streams.agents`). A crash before the
checkpoint replays the events from the committed offset against the older state and
sends the same decisions again, with the same ``decision_id``.

It also means one changelog message per case per checkpoint instead of one per event.

**Partition clocks.** In replay mode a partition's stream clock is its watermark, and a
decision's ``decided_at`` depends on it. A checkpoint's states reach the changelog in
several producer batches, so a crash can leave some of them there and not the others;
the newest states then say nothing true about the clock at the committed offset. So each
checkpoint, once its states are in Kafka and before its events are acknowledged, also
records each partition's clock under a reserved key (:func:`clock_key`). A restarted
worker resumes the clock from that record: every event read again up to it is in the
states (a duplicate), and from it on the clock moves as it did the first time
(RELIABILITY.md, Found 7).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from typing import Final

import orjson
from kafka.partitioner.default import murmur2

from streams.clocks import CaseState
from streams.deadlines import DeadlineIndex

CLOCK_KEY_PREFIX: Final = "~clock:"
"""Keys of the partition clock records. No case key starts so: a case key starts with
its platform (CONTRACT section 1)."""


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a case key."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@functools.cache
def clock_key(partition: int, partitions: int) -> str:
    """The record key of ``partition``'s clock: the first ``~clock:<partition>:<n>`` that
    Kafka's partitioner (murmur2) puts in ``partition``, so that its changelog partition,
    its RocksDB partition and its recovery are those of the partition's cases."""
    for n in itertools.count():
        key = f"{CLOCK_KEY_PREFIX}{partition}:{n}"
        if partition_for(key, partitions) == partition:
            return key
    raise AssertionError("unreachable")  # pragma: no cover


class CaseStore:
    """Every case of the partitions this worker owns, with their deadline index.

    ``table`` maps case key to the state's JSON bytes (the Faust table, or a dict in
    tests). ``partition_of`` maps a case key to its partition of the events topic.
    """

    def __init__(
        self,
        table: MutableMapping[str, bytes],
        lateness: float,
        retention: float,
    ) -> None:
        self.table = table
        self.lateness = lateness
        self.retention = retention
        self.index = DeadlineIndex()
        self._cases: dict[int, dict[str, CaseState]] = {}
        self._dirty: dict[str, int] = {}  # key -> partition, changed since the last checkpoint
        self._expired: dict[str, int] = {}  # key -> partition, to delete at the checkpoint
        # The partitions whose cases are loaded, for the consumer group generation
        # ``generation``: answerable only while that generation and assignment hold
        # (see :meth:`unready_reason`).
        self.ready: set[int] = set()
        self.generation: int | None = None
        # Each partition's replay clock as last recorded in the changelog (or read back).
        self.clocks: dict[int, float] = {}

    # -- reading -------------------------------------------------------------------

    def get(self, partition: int, key: str) -> CaseState | None:
        return self._cases.get(partition, {}).get(key)

    def partitions(self) -> list[int]:
        return sorted(self._cases)

    def cases(self, partition: int) -> Iterable[CaseState]:
        return self._cases.get(partition, {}).values()

    def __len__(self) -> int:
        return sum(len(c) for c in self._cases.values())

    # -- changing ------------------------------------------------------------------

    def put(self, partition: int, state: CaseState) -> None:
        """Keep the new state of a case and reschedule it; written at the next checkpoint."""
        self._cases.setdefault(partition, {})[state.key] = state
        self._dirty[state.key] = partition
        self._expired.pop(state.key, None)
        self.index.schedule(partition, state.key, self._due(state))

    def due(self, partition: int, clock: float) -> list[CaseState]:
        """The cases of ``partition`` with work at ``clock``; expired ones are dropped here."""
        cases = self._cases.get(partition, {})
        out = []
        for key in self.index.pop_due(partition, clock):
            state = cases.get(key)
            if state is None:
                continue
            if state.expired(clock, self.retention):
                del cases[key]
                self._dirty.pop(key, None)
                self._expired[key] = partition
            else:
                out.append(state)
        return out

    def _due(self, state: CaseState) -> float | None:
        due = state.next_due(self.lateness)
        if not state.is_open and not state.pending and state.last_activity is not None:
            expiry = state.last_activity + self.retention
            due = expiry if due is None else min(due, expiry)
        return due

    # -- checkpoints and rebalances ------------------------------------------------

    def changes(self) -> list[tuple[str, int, bytes | None]]:
        """``(key, partition, state JSON or None to delete)`` for every case changed since
        the last checkpoint, and forgets them: the caller writes them (call only after the
        producer flushed, see :mod:`streams.agents`)."""
        out: list[tuple[str, int, bytes | None]] = []
        for key, partition in self._dirty.items():
            state = self._cases.get(partition, {}).get(key)
            if state is not None:
                out.append((key, partition, orjson.dumps(state.to_dict())))
        out.extend((key, partition, None) for key, partition in self._expired.items())
        self._dirty.clear()
        self._expired.clear()
        return out

    def clock_changes(
        self, clocks: Mapping[int, float], partitions: int
    ) -> list[tuple[str, int, bytes]]:
        """``(key, partition, record)`` for each partition whose clock moved since its last
        record; write them only once the states of the same checkpoint are in Kafka."""
        out = []
        for partition, clock in clocks.items():
            if self.clocks.get(partition) != clock:
                record = orjson.dumps({"clock": clock})
                out.append((clock_key(partition, partitions), partition, record))
                self.clocks[partition] = clock
        return out

    def checkpoint(self) -> int:
        """Write :meth:`changes` to :attr:`table`; returns the states written."""
        written = 0
        for key, _, value in self.changes():
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value
                written += 1
        return written

    @property
    def dirty(self) -> int:
        return len(self._dirty) + len(self._expired)

    def load(
        self,
        items: Iterable[tuple[str, bytes]],
        partition_of: Callable[[str], int],
        active: Collection[int],
        generation: int | None = None,
    ) -> int:
        """Rebuild from the table after recovery, keeping the cases of ``active`` partitions.

        ``active`` must be the partitions whose changelog was recovered into the table,
        for the consumer group generation ``generation``: they become :attr:`ready`
        (replacing, not adding to, any older readiness)."""
        loaded = 0
        for key, raw in items:
            partition = partition_of(key)
            if key.startswith(CLOCK_KEY_PREFIX):
                if partition in active:
                    self.clocks.setdefault(partition, float(orjson.loads(raw)["clock"]))
                continue
            if partition not in active or key in self._cases.get(partition, {}):
                continue
            state = CaseState.from_dict(orjson.loads(raw))
            self._cases.setdefault(partition, {})[key] = state
            self.index.schedule(partition, key, self._due(state))
            loaded += 1
        self.ready = set(active)
        self.generation = generation
        return loaded

    def unready(self) -> None:
        """A rebalance began: no partition is answerable until the next :meth:`load`."""
        self.ready = set()
        self.generation = None

    def unready_reason(self, assigned: Collection[int], generation: int | None) -> str | None:
        """Why this worker cannot answer for its partitions now, or None when it can:
        its cases must be loaded for the consumer's current generation and for exactly
        the partitions assigned to it now (not an older or newer assignment's)."""
        if self.generation is None or self.generation != generation:
            return f"cases loaded for generation {self.generation}, consumer at {generation}"
        if self.ready != set(assigned):
            return f"cases loaded for partitions {sorted(self.ready)}, assigned {sorted(assigned)}"
        return None

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions, unwritten changes included: their events are not
        acknowledged, so the next owner processes them again from the table."""
        for partition in partitions:
            self.ready.discard(partition)
            self.clocks.pop(partition, None)
            for key in self._cases.pop(partition, {}):
                self._dirty.pop(key, None)
            # Expired cases are no longer in _cases: their pending deletes go by partition.
            for key in [k for k, p in self._expired.items() if p == partition]:
                del self._expired[key]
            self.index.drop_partition(partition)

    def __iter__(self) -> Iterator[tuple[int, CaseState]]:
        for partition, cases in self._cases.items():
            for state in cases.values():
                yield partition, state
