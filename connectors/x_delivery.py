"""How the X connector hands events to its sink: only what the contract accepts, and
retried until the sink acknowledged it (at least once; a repeat has the same event id).

The stream reads its next line only after :func:`deliver` returned for the previous one;
a poll moves its checkpoints only after :func:`deliver` returned for all its events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from connectors.x_backoff import Backoff, BackoffPolicy
from streams.errors import CarewatchError, InvalidEvent
from streams.events import CareEvent, encode_event
from streams.metrics import ConnectorMetrics

log = logging.getLogger("carewatch.connectors.x")  # one logger for the whole connector


class EventSink(Protocol):
    """Where events go: returns once every event is stored (Kafka acknowledged them)."""

    async def send_all(self, events: Sequence[CareEvent]) -> None: ...


async def deliver(sink: EventSink, events: Sequence[CareEvent], policy: BackoffPolicy) -> None:
    """Send until the sink acknowledges, pausing after each failure per :class:`Backoff`
    (or longer, when the failure says ``retry_after``, as the producer's KafkaUnavailable
    does). The sink counts its failures and the events it wrote; an event the contract
    refuses (InvalidEvent) is a bug here, not a passing failure, and is raised."""
    backoff = Backoff(policy)
    while True:
        try:
            await sink.send_all(events)
            return
        except InvalidEvent:
            raise
        except (CarewatchError, OSError) as exc:
            hint = getattr(exc, "retry_after", 0.0)
            wait = max(backoff.after("sink"), hint if isinstance(hint, float | int) else 0.0)
            log.warning(
                "sink failed: %s; retrying in %.2f s",
                type(exc).__name__,
                wait,
                extra={"events": len(events), "wait": wait},
            )
            await asyncio.sleep(wait)


def checked(events: Iterable[CareEvent], metrics: ConnectorMetrics) -> list[CareEvent]:
    """The events the contract accepts; any other is counted as ``malformed`` and dropped
    here, with the stream's reason, rather than in the dead-letter topic."""
    valid = []
    for event in events:
        try:
            encode_event(event)
        except InvalidEvent as exc:
            metrics.error("malformed")
            log.warning(
                "X post skipped: %s",
                exc.reason,
                extra={"reason": "malformed", "event_id": event.event_id, "field": exc.field},
            )
        else:
            valid.append(event)
    return valid
