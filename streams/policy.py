"""SLA policies: targets per brand, narrowed by platform and priority.

OWNED BY: the calendar/policy helper (interface fixed; YAML loading in progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.calendar import ALWAYS_OPEN, Calendar
from streams.events import Priority


@dataclass(frozen=True, slots=True)
class Targets:
    """Targets in seconds (business seconds where the policy has a calendar); ``None``: no SLA."""

    first_reply: float | None = None
    next_reply: float | None = None
    resolution: float | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    targets: Targets
    warn_before: float | None = None
    calendar: Calendar = field(default=ALWAYS_OPEN)
    bot_replies_count: bool = False
    auto_resolve_after: float | None = None


class PolicyBook:
    """All policies of a deployment; :meth:`match` picks the most specific one."""

    def match(self, brand: str, platform: str, priority: Priority) -> Policy:
        raise NotImplementedError

    def target_seconds(self) -> frozenset[float]:
        """Every configured target, for histogram bucket bounds."""
        raise NotImplementedError
