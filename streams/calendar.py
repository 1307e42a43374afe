"""Business calendars: which instants count as business time for an SLA policy.

OWNED BY: the calendar/policy helper (interface fixed; implementation in progress).
"""

from __future__ import annotations

from typing import Protocol


class Calendar(Protocol):
    """Business time. Instants are POSIX seconds (UTC)."""

    def add(self, start: float, business_seconds: float) -> float:
        """The earliest instant at which ``business_seconds`` of business time have passed since ``start``."""
        ...

    def between(self, start: float, end: float) -> float:
        """Business seconds in ``[start, end)``; ``0.0`` when ``end <= start``."""
        ...


class AlwaysOpen:
    """The 24/7 calendar: business time is calendar time."""

    def add(self, start: float, business_seconds: float) -> float:
        return start + business_seconds

    def between(self, start: float, end: float) -> float:
        return max(0.0, end - start)


ALWAYS_OPEN = AlwaysOpen()
