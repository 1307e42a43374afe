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
            await consumer.seek(tp, committed)


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


DRILL_SKIP_CHANGELOG = "CAREWATCH_DRILL_SKIP_CHANGELOG"


def skip_one_changelog(recovery: Any) -> None:
    """A drill's fault, armed by ``CAREWATCH_DRILL_SKIP_CHANGELOG=1``, never in production.

    At the first table recovery with records to read, once the recovery has sought its
    changelog partitions to where they start, the first of them with records remaining
    is sought to its end instead: its records are never fetched, as when Faust drops
    fetched records (Found 5). Without :class:`RecoveryWatch` the worker waits for them
    until the next rebalance; the test of the watch arms this fault.
    """
    seek_offsets = recovery._seek_offsets

    async def seek_then_skip(consumer: Any, tps: Any, offsets: Any, title: str) -> None:
        await seek_offsets(consumer, tps, offsets, title)
        if title != "active":
            return
        remaining = sorted(tp for tp, n in recovery.active_remaining().items() if n > 0)
        if not remaining:
            return  # nothing to read in this recovery: wait for one that has
        recovery._seek_offsets = seek_offsets  # once
        tp = remaining[0]
        end = recovery.active_highwaters[tp] + 1
        log.warning(
            "drill fault: a changelog partition skipped to its end before recovery",
            extra={"topic": tp.topic, "partition": tp.partition, "offset": end},
        )
        await consumer.seek_wait({tp: end})

    recovery._seek_offsets = seek_then_skip


class OffsetTrail:
    """The offsets of the events topic the agent receives, per partition, to see a jump.

    The events topic is neither compacted nor transactional, so its offsets follow each
    other; between two seeks the agent must receive them one after the other. When it
    does not, Faust dropped fetched messages on the way and its consumer marks the
    missing offsets as a gap it may commit past (``Consumer._add_gap``): a jump is logged
    with the offsets and counted (``/health`` ``offsets_skipped``). Forgotten at each
    revocation, since the next assignment starts from the committed offsets.
    """

    def __init__(self) -> None:
        self.next: dict[int, int] = {}
        self.jumps = 0
        self.skipped = 0

    def saw(self, partition: int, offset: int) -> None:
        expected = self.next.get(partition)
        if expected is not None and offset > expected:
            self.jumps += 1
            self.skipped += offset - expected
            log.warning(
                "events topic offsets skipped on the way to the agent",
                extra={"partition": partition, "expected": expected, "received": offset},
            )
        self.next[partition] = offset + 1

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.next.pop(partition, None)
