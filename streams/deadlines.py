"""The per-partition deadline index: which cases have work at a given stream clock.

A min-heap of ``(due, case_key)`` per partition, invalidated lazily: scheduling a case
again only records its new due instant, and a popped entry that no longer matches is
skipped. A tick therefore costs O(due cases · log n), not O(open cases).
"""

from __future__ import annotations

import heapq


class DeadlineIndex:
    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = {}
        self._due: dict[int, dict[str, float]] = {}

    def schedule(self, partition: int, key: str, due: float | None) -> None:
        """Record when ``key`` next has work (``None``: never, until its state changes)."""
        dues = self._due.setdefault(partition, {})
        if due is None:
            dues.pop(key, None)
            return
        if dues.get(key) == due:
            return
        dues[key] = due
        heapq.heappush(self._heaps.setdefault(partition, []), (due, key))

    def pop_due(self, partition: int, clock: float) -> list[str]:
        """Remove and return the keys due at or before ``clock``, earliest first."""
        heap = self._heaps.get(partition)
        dues = self._due.get(partition)
        if not heap or dues is None:
            return []
        keys = []
        while heap and heap[0][0] <= clock:
            due, key = heapq.heappop(heap)
            if dues.get(key) == due:
                del dues[key]
                keys.append(key)
        return keys

    def next_due(self, partition: int) -> float | None:
        """The earliest live due instant of the partition (stale heap tops are dropped)."""
        heap = self._heaps.get(partition)
        dues = self._due.get(partition, {})
        while heap and dues.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def drop_partition(self, partition: int) -> None:
        self._heaps.pop(partition, None)
        self._due.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(d) for d in self._due.values())
