"""The pieces of a case's event-time timeline: the events it orders and the timers on it.

The machine walks a case in virtual (event) time: events by ``(occurred_at, arrival)``
and timers by ``(instant, Timer)``; an event goes before a timer at the same instant,
so an answer exactly at a deadline is met.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from streams.events import AuthorType, CareEvent, Kind, Priority, Status, Visibility


def event_digest(event_id: str) -> str:
    """64-bit digest of an event id: a bounded entry in ``seen`` (collisions: ~n²/2⁶⁵)."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


class Timer(IntEnum):
    """Timers of a case; the value orders timers due at the same instant.

    An auto-resolution goes first (its answer is known at that instant, so a deadline
    at the same instant is met), then a warning before the breach of the same clock.
    """

    AUTO_RESOLVE = 0
    REPLY_WARNING = 1
    REPLY_BREACH = 2
    RESOLUTION_WARNING = 3
    RESOLUTION_BREACH = 4


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """What the clocks need of an event: no ids, no text. ``seq`` is the arrival order."""

    occurred_at: float
    seq: int
    kind: Kind
    priority: Priority | None = None
    visibility: Visibility = Visibility.PUBLIC
    author_type: AuthorType | None = None
    status: Status | None = None

    @classmethod
    def of(cls, event: CareEvent, seq: int) -> TimelineEvent:
        return cls(
            event.occurred_at,
            seq,
            event.kind,
            event.priority,
            event.visibility,
            event.author_type,
            event.status,
        )

    @property
    def order(self) -> tuple[float, int]:
        return (self.occurred_at, self.seq)

    @property
    def by_human(self) -> bool:
        """A reply whose author is not a bot or an automation (absent = human)."""
        return self.author_type is None or self.author_type is AuthorType.HUMAN

    def to_list(self) -> list[Any]:
        return [
            self.occurred_at,
            self.seq,
            self.kind.value,
            _opt(self.priority),
            self.visibility.value,
            _opt(self.author_type),
            _opt(self.status),
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> TimelineEvent:
        occurred_at, seq, kind, priority, visibility, author_type, status = row
        return cls(
            float(occurred_at),
            int(seq),
            Kind(kind),
            None if priority is None else Priority(priority),
            Visibility(visibility),
            None if author_type is None else AuthorType(author_type),
            None if status is None else Status(status),
        )


def _opt(value: Priority | AuthorType | Status | None) -> str | None:
    return None if value is None else value.value
