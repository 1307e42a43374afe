"""StallWatch on the bookkeeping Faust's consumer keeps (its private ``_acked`` and
``_committed_offset``), given here as plain values; the stall itself was seen with a
real broker (streams/stalls.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from streams.stalls import PATIENCE, OffsetTrail, StallWatch

TP0, TP1 = TP("events", 0), TP("events", 1)


class Consumer:
    def __init__(self, acked: dict[Any, list[int]], committed: dict[Any, int]) -> None:
        self._acked = acked
        self._committed_offset = committed
        self.seeks: list[tuple[Any, int]] = []

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))


def ticks(watch: StallWatch, consumer: Consumer, n: int, holding: set[int] | None = None) -> None:
    for _ in range(n):
        asyncio.run(watch.check(consumer, [TP0, TP1], holding or set()))


def test_a_gap_that_stays_is_read_again_from_the_committed_offset() -> None:
    consumer = Consumer({TP0: [223, 224, 225], TP1: [50, 51]}, {TP0: 219, TP1: 50})
    watch = StallWatch()
    ticks(watch, consumer, PATIENCE - 1)
    assert consumer.seeks == []
    ticks(watch, consumer, 1)
    assert consumer.seeks == [(TP0, 219)]
    assert watch.repairs == 1


def test_no_gap_no_seek() -> None:
    consumer = Consumer({TP0: [219, 220], TP1: []}, {TP0: 219, TP1: 50})
    watch = StallWatch()
    ticks(watch, consumer, PATIENCE * 3)
    assert consumer.seeks == []


def test_a_gap_while_the_agent_holds_events_of_the_partition_is_left_to_the_checkpoint() -> None:
    consumer = Consumer({TP0: [223]}, {TP0: 219})
    watch = StallWatch()
    ticks(watch, consumer, PATIENCE * 3, holding={0})
    assert consumer.seeks == []


def test_a_moving_committed_offset_restarts_the_count() -> None:
    consumer = Consumer({TP0: [300]}, {TP0: 219})
    watch = StallWatch()
    ticks(watch, consumer, PATIENCE - 1)
    consumer._committed_offset[TP0] = 250
    ticks(watch, consumer, PATIENCE - 1)
    assert consumer.seeks == []


def test_the_trail_counts_a_jump_and_not_a_seek_back() -> None:
    trail = OffsetTrail()
    for offset in (10, 11, 12, 17, 18):  # 13-16 never reached the agent
        trail.saw(0, offset)
    trail.saw(1, 40)  # the first of a partition is where the consumer starts
    for offset in (15, 16, 17):  # a seek back (StallWatch) reads some again
        trail.saw(0, offset)
    assert (trail.jumps, trail.skipped) == (1, 4)
    trail.forget({0})
    trail.saw(0, 500)  # after a revocation: where the next assignment starts
    assert (trail.jumps, trail.skipped) == (1, 4)
