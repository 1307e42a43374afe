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
