"""RecoveryWatch on the bookkeeping Faust's table recovery keeps (its ``active_remaining``,
``active_offsets``, ``_active_events_received_at`` and ``_recovery_started_at``), given
here as plain values; the hang itself was seen with a real broker (RELIABILITY.md,
Found 5)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from faust.types import TP

from streams.stalls import RecoveryWatch

CL0, CL1 = TP("cases-changelog", 0), TP("cases-changelog", 1)


class Recovery:
    def __init__(self, started: float, highwaters: dict[Any, int], offsets: dict[Any, int]):
        self.in_recovery = True
        self._recovery_started_at = started
        self._active_events_received_at: dict[Any, float] = {}
        self.highwaters = highwaters
        self.active_offsets = Counter(offsets)

    def active_remaining(self) -> Counter[Any]:
        return Counter({tp: hw - self.active_offsets[tp] for tp, hw in self.highwaters.items()})


class Consumer:
    def __init__(self) -> None:
        self.resumed: list[Any] = []
        self.seeks: list[tuple[Any, int]] = []

    def resume_partitions(self, tps: list[Any]) -> None:
        self.resumed.extend(tps)

    async def seek_wait(self, offsets: dict[Any, int]) -> None:
        self.seeks.extend(offsets.items())


def check(watch: RecoveryWatch, recovery: Recovery, consumer: Consumer, now: float) -> None:
    asyncio.run(watch.check(recovery, consumer, now=now))


def test_a_changelog_partition_silent_since_the_start_is_read_again_from_its_start() -> None:
    recovery = Recovery(100.0, {CL0: 1370, CL1: 800}, {CL0: -1, CL1: 412})
    recovery._active_events_received_at[CL1] = 109.0  # CL1 is being read
    consumer, watch = Consumer(), RecoveryWatch(patience=10.0)
    check(watch, recovery, consumer, now=109.9)
    assert consumer.seeks == []
    check(watch, recovery, consumer, now=110.0)
    assert consumer.seeks == [(CL0, 0)]  # a memory store recovers from the start
    assert consumer.resumed == [CL0]
    assert watch.reseeks == 1


def test_a_partition_that_went_quiet_is_read_again_from_the_last_applied_offset() -> None:
    recovery = Recovery(100.0, {CL0: 1370}, {CL0: 725})
    recovery._active_events_received_at[CL0] = 130.0
    consumer, watch = Consumer(), RecoveryWatch(patience=10.0)
    check(watch, recovery, consumer, now=139.0)
    assert consumer.seeks == []
    check(watch, recovery, consumer, now=140.5)
    assert consumer.seeks == [(CL0, 725)]  # applied already: the recovery skips it


def test_after_a_seek_it_waits_its_patience_again() -> None:
    recovery = Recovery(100.0, {CL0: 1370}, {CL0: -1})
    consumer, watch = Consumer(), RecoveryWatch(patience=10.0)
    for now in (111.0, 115.0, 120.9, 121.0):
        check(watch, recovery, consumer, now=now)
    assert consumer.seeks == [(CL0, 0), (CL0, 0)]  # at 111 and at 121


def test_read_to_its_highwater_or_out_of_recovery_nothing_is_sought() -> None:
    recovery = Recovery(100.0, {CL0: 1370, CL1: 800}, {CL0: 1370, CL1: 800})
    consumer, watch = Consumer(), RecoveryWatch(patience=10.0)
    check(watch, recovery, consumer, now=500.0)
    recovery.active_offsets[CL0] = 3
    recovery.in_recovery = False
    check(watch, recovery, consumer, now=600.0)
    assert consumer.seeks == []
    assert watch.reseeks == 0
