"""Partitions whose commits stopped because Faust lost messages on the way to the agent.

Faust commits a partition only up to the first offset the agent has not acknowledged.
Messages fetched while Faust's flow is being suspended or resumed around a rebalance
can be counted as read yet never reach the agent (``Consumer._drain_messages`` sets the
read offset whether or not the delivery completed): the agent then acknowledges every
later offset, and the partition's committed offset never moves again. Seen in the
kill-and-restart test, with the consumer offsets ``/health`` shows: committed 219,
first acknowledged 223, 2,348 acknowledged offsets waiting, for minutes.

:class:`StallWatch` looks, at every tick, for an owned partition whose first
acknowledged offset lies beyond the committed one while every event the agent holds is
acknowledged; when the same gap is still there :data:`PATIENCE` ticks later, it seeks the
partition back to its committed offset. The messages come again; those already applied
are recognised by their ``event_id`` (the clocks drop repeats), the lost ones are
applied and acknowledged, and the commits move again.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

log = logging.getLogger("carewatch.stalls")

PATIENCE = 3  # ticks with the same gap before seeking back


class StallWatch:
    def __init__(self) -> None:
        self.seen: dict[Any, tuple[int, int]] = {}  # tp -> (committed, ticks seen)
        self.repairs = 0

    def gaps(self, consumer: Any, owned: list[Any]) -> dict[Any, tuple[int, int]]:
        """``tp -> (committed, first acknowledged)`` of the owned partitions with a gap."""
        out = {}
        for tp in owned:
            acked = consumer._acked.get(tp)
            committed = consumer._committed_offset.get(tp)
            if acked and committed is not None and min(acked) > committed:
                out[tp] = (committed, min(acked))
        return out

    async def check(self, consumer: Any, owned: list[Any], holding: set[int]) -> None:
        """``holding``: partitions of which the agent holds unacknowledged events."""
        if consumer is None:
            return
        gaps = self.gaps(consumer, owned)
        for tp in list(self.seen):
            if tp not in gaps:
                del self.seen[tp]
        for tp, (committed, first) in gaps.items():
            if tp.partition in holding:
                self.seen.pop(tp, None)  # the next checkpoint may close it
                continue
            before, ticks = self.seen.get(tp, (committed, 0))
            ticks = ticks + 1 if before == committed else 1
            self.seen[tp] = (committed, ticks)
            if ticks < PATIENCE:
                continue
            log.warning(
                "partition stalled: offsets never reached the agent, reading again",
                extra={
                    "partition": tp.partition,
                    "committed": committed,
                    "first_acknowledged": first,
                },
            )
            self.repairs += 1
            del self.seen[tp]
            await seek_back(consumer, tp, committed)


RECOVERY_PATIENCE = 10.0  # seconds without a changelog record while some remain
RECOVERY_TICK = 1.0  # seconds between two looks at a recovery


class RecoveryWatch:
    """Table recoveries that wait forever on a changelog partition (RELIABILITY.md, Found 5).

    Faust's consumer drops fetched records of a partition that is not in its active set at
    that instant, or that arrive while its flow is being stopped or its generation changes
    (``Consumer.getmany``), after the fetcher's position has passed them. During a table
    recovery that position is never sought again: a changelog partition whose remaining
    records were dropped is never read to its highwater, and the worker stays
    "rebalancing" until the next rebalance (seen once in a rebalance drill, four minutes).

    Every second during a recovery, an active changelog partition with records remaining
    that has received none for :data:`RECOVERY_PATIENCE` seconds (since the recovery
    started, the last record, or the last seek) is resumed and sought back to the last
    offset the recovery applied (the start for a memory store). Faust's recovery skips
    offsets it has applied already, so reading one twice changes nothing.
    """

    def __init__(self, patience: float = RECOVERY_PATIENCE) -> None:
        self.patience = patience
        self.sought: dict[Any, float] = {}  # tp -> when it was last sought
        self.reseeks = 0
        self.started = False  # its task runs (streams/agents.py)

    async def check(self, recovery: Any, consumer: Any, now: float | None = None) -> None:
        started = getattr(recovery, "_recovery_started_at", None)
        if consumer is None or started is None or not getattr(recovery, "in_recovery", False):
            self.sought.clear()
            return
        now = monotonic() if now is None else now
        received = recovery._active_events_received_at
        for tp, remaining in recovery.active_remaining().items():
            if remaining <= 0:
                continue
            last = max(started, received.get(tp, started), self.sought.get(tp, started))
            if now - last < self.patience:
                continue
            offset = max(recovery.active_offsets.get(tp, -1), 0)
            log.warning(
                "table recovery received nothing from a changelog partition, reading again",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": offset,
                    "remaining": remaining,
                    "quiet_seconds": round(now - last, 1),
                },
            )
            self.reseeks += 1
            self.sought[tp] = now
            consumer.resume_partitions([tp])
            await consumer.seek_wait({tp: offset})  # as the recovery seeks


REWIND_PATIENCE = 5.0  # seconds to wait for the offset a partition was sought back to
TAIL_PATIENCE = 10.0  # seconds without a message while the log holds more


class OffsetTrail:
    """The gate between Faust and the clocks: each partition's messages in offset order,
    none missing (RELIABILITY.md, Found 3).

    The events topic is neither compacted nor written in transactions (README,
    "Delivery"), so its offsets follow each other, and between two seeks the agent must
    receive them one after the other. Faust's consumer can drop a fetched message on the
    way: a partition not in its active set at that instant, a flow stopped or a
    generation changed (``Consumer.getmany``), a delivery cut short by ``suspend_flow``
    (``Consumer._drain_messages``). The fetch position has passed it, so it is not
    fetched again, and Faust's commit goes past it: a jump of two or more offsets is
    recorded as a gap that ``Consumer._new_offset`` fills as if acknowledged, and one
    missing right at the committed offset passes its check (which allows a difference of
    one). The event is lost for good, and the clocks apply the rest out of order.

    :meth:`admit` sees every message before the clocks do. When offsets are missing, the
    message is neither handed on nor acknowledged, and the partition is sought back to
    the first missing offset; later messages are dropped until that offset arrives. So
    the clocks apply each partition in log order, and the commit waits for every offset
    (Faust records no gaps in this topic: :func:`gate_consumer`). :class:`ReadOffsets`
    keeps messages fetched before the seek from hiding the ones fetched again. A message
    Faust fetched last and dropped has no successor to show a jump: :meth:`watch` seeks
    back a partition that received nothing for :data:`TAIL_PATIENCE` seconds while the
    log holds more than Faust handed on, and seeks again a rewind whose offset Faust has
    not handed on after :data:`REWIND_PATIENCE` seconds.
    """

    def __init__(self) -> None:
        self.next: dict[int, int] = {}  # partition -> the offset the agent must receive next
        self.rewinding: dict[int, tuple[int, float]] = {}  # partition -> (offset, sought at)
        self.unsought: set[int] = set()  # rewinding partitions whose seek failed
        self.heard: dict[int, float] = {}  # partition -> when a message last arrived
        self.jumps = 0
        self.skipped = 0  # offsets missing at the jumps
        self.dropped = 0  # messages held back until a rewind brought their turn
        self.seeks = 0  # seeks back: jumps, tails and rewinds sought again

    async def admit(self, consumer: Any, tp: Any, offset: int, now: float | None = None) -> bool:
        """True: hand the message to the clocks. False: drop it; it comes again."""
        partition = tp.partition
        now = monotonic() if now is None else now
        self.heard[partition] = now
        rewind = self.rewinding.get(partition)
        if rewind is not None:
            target = rewind[0]
            if offset > target:
                self.dropped += 1
                return False
            if offset == target:
                del self.rewinding[partition]
        else:
            expected = self.next.get(partition)
            if expected is None:  # the first message since an assignment
                expected = _committed(consumer, tp)
                if expected is None or offset > expected:
                    expected = await _start(consumer, tp, expected)
            if expected is not None and offset > expected:
                self.jumps += 1
                self.skipped += offset - expected
                self.dropped += 1
                log.warning(
                    "events topic offsets skipped on the way to the agent, reading again",
                    extra={"partition": partition, "expected": expected, "received": offset},
                )
                await self._rewind(consumer, tp, expected, now)
                return False
        if offset >= self.next.get(partition, 0):
            self.next[partition] = offset + 1
        return True

    async def watch(self, consumer: Any, owned: list[Any], now: float | None = None) -> None:
        """Every tick, outside rebalances: seek back what Faust fetched and never handed on.

        Only what Faust's fetch loop never handed on, not what waits in the agent's queue
        (the agent waits while a checkpoint waits for the broker): a rewind whose offset
        the fetch loop has not handed on (its :class:`ReadOffsets` floor stands), and a
        partition whose agent has everything the fetch loop handed on while the log holds
        more."""
        now = monotonic() if now is None else now
        read_offsets = getattr(consumer, "_read_offset", None)
        if not isinstance(read_offsets, ReadOffsets):
            return
        for tp in owned:
            partition = tp.partition
            rewind = self.rewinding.get(partition)
            if rewind is not None:
                target, since = rewind
                waiting = tp in read_offsets.floors or partition in self.unsought
                if waiting and now - since >= REWIND_PATIENCE:
                    log.warning(
                        "the offset a partition was sought back to has not come, seeking again",
                        extra={"partition": partition, "offset": target},
                    )
                    await self._rewind(consumer, tp, target, now)
                continue
            expected = self.next.get(partition)
            heard = self.heard.setdefault(partition, now)
            if expected is None or now - heard < TAIL_PATIENCE:
                continue
            read = read_offsets.get(tp)
            if read is None or read + 1 != expected:
                continue  # the agent has not taken all Faust handed on yet
            try:
                end = consumer.highwater(tp)
            except Exception:  # not assigned any more, or not fetched yet
                continue
            if end is not None and end > expected:
                log.warning(
                    "events topic messages fetched but never received, reading again",
                    extra={"partition": partition, "expected": expected, "end": end},
                )
                await self._rewind(consumer, tp, expected, now)

    async def _rewind(self, consumer: Any, tp: Any, offset: int, now: float) -> None:
        self.seeks += 1
        self.rewinding[tp.partition] = (offset, now)
        self.heard[tp.partition] = now
        if await seek_back(consumer, tp, offset):
            self.unsought.discard(tp.partition)
        else:
            self.unsought.add(tp.partition)  # tried again by watch, unless revoked

    def forget(self, partitions: set[int]) -> None:
        """At a revocation: the next assignment starts from the committed offsets."""
        for partition in partitions:
            self.next.pop(partition, None)
            self.rewinding.pop(partition, None)
            self.unsought.discard(partition)
            self.heard.pop(partition, None)

    def health(self) -> dict[str, Any]:
        return {
            "jumps": self.jumps,
            "offsets": self.skipped,
            "dropped_until_rewound": self.dropped,
            "seeks": self.seeks,
            "rewinding": sorted(self.rewinding),
        }


class ReadOffsets(dict[Any, Any]):
    """Faust's consumer's read offsets (``Consumer._read_offset``), with floors.

    Faust's fetch loop hands on a message only if its offset is at least the partition's
    read offset, then sets the read offset to it. After a seek back, messages fetched
    before the seek still come through and would raise the read offset past the ones
    fetched again, which Faust would then drop. A partition with a floor keeps its read
    offset at the floor until the message at the floor has come.
    """

    def __init__(self, offsets: Any = ()) -> None:
        super().__init__(offsets)
        self.floors: dict[Any, int] = {}

    def __missing__(self, tp: Any) -> None:
        return None  # as the defaultdict Faust makes

    def hold(self, tp: Any, offset: int) -> None:
        self.floors[tp] = offset
        super().__setitem__(tp, offset or None)  # as Faust's seek sets it

    def __setitem__(self, tp: Any, offset: Any) -> None:
        floor = self.floors.get(tp)
        if floor is not None and offset is not None:
            if offset > floor:
                return
            if offset == floor:
                del self.floors[tp]
        super().__setitem__(tp, offset)

    def pop(self, tp: Any, *default: Any) -> Any:
        self.floors.pop(tp, None)
        return super().pop(tp, *default)


def gate_consumer(consumer: Any, topic: str) -> None:
    """Fit Faust's consumer for :class:`OffsetTrail`, once: :class:`ReadOffsets` as its
    read offsets (its fetch loop binds them when it starts, in the first table recovery,
    after the partitions-assigned signal), and no gaps recorded in ``topic``.

    Faust records a jump in a partition's offsets as a gap and commits over it as if it
    were acknowledged (``Consumer._add_gap``, ``_new_offset``), for compacted and
    transactional topics. The events topic has no gaps of its own, so every jump there is
    a message dropped on the way, which OffsetTrail reads again; and while a partition is
    held at a floor, each message fetched before the seek back looks like a jump. Filled
    in, such gaps would commit offsets the agent has not applied yet, and put repeats in
    Faust's list of acknowledged offsets, which then commits a few offsets per round."""
    if getattr(consumer, "_carewatch_gated", False):
        return
    consumer._carewatch_gated = True
    consumer._read_offset = ReadOffsets(consumer._read_offset)
    add_gap = consumer._add_gap

    async def add_gap_elsewhere(tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic != topic:
            await add_gap(tp, offset_from, offset_to)

    consumer._add_gap = add_gap_elsewhere


async def seek_back(consumer: Any, tp: Any, offset: int) -> bool:
    """Seek in the consumer's own thread (a seek from the event loop's thread races
    aiokafka's fetcher: a KeyError in ``Fetcher`` crashed Faust's once), then hold the
    read offset there until that offset's message has come (:class:`ReadOffsets`).
    False when the seek failed (most likely revoked meanwhile: its next owner starts
    from the commit)."""
    try:
        await consumer.seek_wait({tp: offset})
    except Exception as exc:
        log.warning(
            "could not seek back a partition",
            extra={"partition": tp.partition, "offset": offset, "error": repr(exc)},
        )
        return False
    read_offsets = getattr(consumer, "_read_offset", None)
    if isinstance(read_offsets, ReadOffsets):
        read_offsets.hold(tp, offset)
    return True


def _committed(consumer: Any, tp: Any) -> int | None:
    """Where an assignment sought the partition: its committed offset (Faust keeps a
    commit at offset 0, and none, as None)."""
    committed = getattr(consumer, "_committed_offset", {}).get(tp)
    return None if committed is None else int(committed)


async def _start(consumer: Any, tp: Any, committed: int | None) -> int | None:
    """The first offset an assignment reads: the committed one, unless the log no longer
    holds it (or there is none), then the log's start, as the consumer resets to it."""
    try:
        earliest = (await consumer.earliest_offsets(tp)).get(tp)
    except Exception as exc:  # the broker is away: no check for this first message
        log.warning(
            "could not read where a partition starts",
            extra={"partition": tp.partition, "error": repr(exc)},
        )
        return committed
    if earliest is None:
        return committed
    return int(earliest) if committed is None else max(committed, int(earliest))
