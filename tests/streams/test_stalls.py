"""StallWatch and OffsetTrail on the bookkeeping Faust's consumer keeps (its private
``_acked``, ``_committed_offset`` and ``_read_offset``), given here as plain
values; the losses they repair were seen with a real broker, and
``tests/e2e/test_workers.py`` repairs them in a real worker (streams/stalls.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from streams.stalls import (
    PATIENCE,
    REWIND_PATIENCE,
    TAIL_PATIENCE,
    OffsetTrail,
    ReadOffsets,
    StallWatch,
    gate_consumer,
)

TP0, TP1 = TP("events", 0), TP("events", 1)


class Consumer:
    def __init__(
        self,
        acked: dict[Any, list[int]] | None = None,
        committed: dict[Any, int | None] | None = None,
    ) -> None:
        self._acked = acked or {}
        self._committed_offset = committed or {}
        self._read_offset = ReadOffsets()
        self.seeks: list[tuple[Any, int]] = []
        self.earliest = 0
        self.highwaters: dict[Any, int] = {}

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        for tp, offset in partitions.items():
            self.seeks.append((tp, offset))
            self._read_offset[tp] = offset  # as Faust's does

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {tp: self.earliest for tp in tps}

    def highwater(self, tp: Any) -> int:
        return self.highwaters[tp]


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


def admit(
    trail: OffsetTrail, consumer: Consumer, tp: Any, *offsets: int, now: float = 0
) -> list[int]:
    """The offsets the gate hands to the clocks."""
    return [o for o in offsets if asyncio.run(trail.admit(consumer, tp, o, now=now))]


def test_a_jump_is_read_again_from_the_first_missing_offset_in_log_order() -> None:
    consumer = Consumer(committed={TP0: 10})
    trail = OffsetTrail()
    assert admit(trail, consumer, TP0, 10, 11, 12) == [10, 11, 12]
    assert admit(trail, consumer, TP0, 17, 18) == []  # 13-16 never came
    assert consumer.seeks == [(TP0, 13)]
    assert consumer._read_offset[TP0] == 13
    consumer._read_offset[TP0] = 19  # fetched before the seek: held at the floor
    assert consumer._read_offset[TP0] == 13
    assert admit(trail, consumer, TP0, 13, 14, 15, 16, 17, 18, 19) == [13, 14, 15, 16, 17, 18, 19]
    consumer._read_offset[TP0] = 13  # the floor's message came: the read offset moves on
    consumer._read_offset[TP0] = 14
    assert consumer._read_offset[TP0] == 14
    assert (trail.jumps, trail.skipped, trail.dropped, trail.seeks) == (1, 4, 2, 1)


def test_a_repeat_before_the_expected_offset_goes_to_the_clocks_which_drop_repeats() -> None:
    consumer = Consumer(committed={TP0: 10})
    trail = OffsetTrail()
    assert admit(trail, consumer, TP0, 10, 11, 12, 11, 12, 13) == [10, 11, 12, 11, 12, 13]
    assert consumer.seeks == []
    assert trail.jumps == 0


def test_the_first_message_after_an_assignment_must_be_the_committed_one() -> None:
    consumer = Consumer(committed={TP0: 40, TP1: None})
    consumer.earliest = 0
    trail = OffsetTrail()
    assert admit(trail, consumer, TP0, 41) == []  # Faust's own check lets one offset pass
    assert admit(trail, consumer, TP1, 1) == []  # never committed: the log's start
    assert consumer.seeks == [(TP0, 40), (TP1, 0)]
    trail.forget({0})
    consumer.earliest = 60  # the log no longer holds offset 40: the consumer starts at 60
    assert admit(trail, consumer, TP0, 60) == [60]


def test_a_tail_that_never_came_is_read_again_after_the_patience() -> None:
    consumer = Consumer(committed={TP0: 10, TP1: 5})
    consumer.highwaters = {TP0: 13, TP1: 7}
    trail = OffsetTrail()
    admit(trail, consumer, TP0, 10, 11, now=100)  # 12 was fetched, and dropped
    admit(trail, consumer, TP1, 5, 6, now=100)  # the end of its log
    consumer._read_offset.update({TP0: 11, TP1: 6})  # what Faust's fetch loop handed on
    asyncio.run(trail.watch(consumer, [TP0, TP1], now=100 + TAIL_PATIENCE - 1))
    assert consumer.seeks == []
    asyncio.run(trail.watch(consumer, [TP0, TP1], now=100 + TAIL_PATIENCE))
    assert consumer.seeks == [(TP0, 12)]
    assert admit(trail, consumer, TP0, 12, now=111) == [12]


def test_messages_waiting_in_the_agents_queue_are_not_read_again() -> None:
    """The agent waits (a checkpoint waits for the broker): Faust handed on more than the
    agent took, so nothing was lost, and reading again would only add repeats."""
    consumer = Consumer(committed={TP0: 10})
    consumer.highwaters = {TP0: 30}
    trail = OffsetTrail()
    admit(trail, consumer, TP0, 10, 11, now=100)
    consumer._read_offset[TP0] = 29
    asyncio.run(trail.watch(consumer, [TP0], now=100 + 10 * TAIL_PATIENCE))
    assert consumer.seeks == []


def test_a_rewind_whose_offset_faust_never_handed_on_is_sought_again() -> None:
    consumer = Consumer(committed={TP0: 10})
    consumer.highwaters = {TP0: 30}
    trail = OffsetTrail()
    admit(trail, consumer, TP0, 10, 12, now=0)
    asyncio.run(trail.watch(consumer, [TP0], now=REWIND_PATIENCE - 1))
    assert admit(trail, consumer, TP0, 13, now=REWIND_PATIENCE - 1) == []
    asyncio.run(trail.watch(consumer, [TP0], now=REWIND_PATIENCE))
    assert consumer.seeks == [(TP0, 11), (TP0, 11)]
    consumer._read_offset[TP0] = 11  # handed on: the agent will see it, no seek
    asyncio.run(trail.watch(consumer, [TP0], now=10 * REWIND_PATIENCE))
    assert consumer.seeks == [(TP0, 11), (TP0, 11)]
    assert trail.health()["rewinding"] == [0]
    trail.forget({0})  # revoked: the next assignment starts from the committed offset
    assert trail.health()["rewinding"] == []


def test_the_gated_consumer_records_gaps_only_outside_the_events_topic() -> None:
    recorded: list[tuple[Any, int, int]] = []

    class FaustConsumer:
        def __init__(self) -> None:
            self._read_offset: dict[Any, int | None] = {TP0: 7}

        async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
            recorded.append((tp, offset_from, offset_to))

    consumer = FaustConsumer()
    gate_consumer(consumer, "events")
    gate_consumer(consumer, "events")  # once
    assert isinstance(consumer._read_offset, ReadOffsets)
    assert consumer._read_offset[TP0] == 7
    assert consumer._read_offset[TP1] is None  # as Faust's defaultdict
    changelog = TP("changelog", 0)
    asyncio.run(consumer._add_gap(TP0, 13, 17))
    asyncio.run(consumer._add_gap(changelog, 3, 5))
    assert recorded == [(changelog, 3, 5)]


def test_a_rewind_whose_seek_failed_is_sought_again() -> None:
    class Failing(Consumer):
        fail = True

        async def seek_wait(self, partitions: dict[Any, int]) -> None:
            if self.fail:
                raise RuntimeError("not assigned")
            await super().seek_wait(partitions)

    consumer = Failing(committed={TP0: 10})
    trail = OffsetTrail()
    admit(trail, consumer, TP0, 10, 12, now=0)
    assert consumer.seeks == []
    consumer.fail = False
    asyncio.run(trail.watch(consumer, [TP0], now=REWIND_PATIENCE))
    assert consumer.seeks == [(TP0, 11)]
    assert admit(trail, consumer, TP0, 11, 12, now=REWIND_PATIENCE) == [11, 12]
