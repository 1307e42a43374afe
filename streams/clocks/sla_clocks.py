"""The two kinds of SLA clock of a cycle and their business-time arithmetic.

A clock takes its target, warning window, bot rule and auto-resolution delay from the
policy that matched when it started, and keeps them (they are stored with it); only
the calendar is looked up again when needed, as it cannot be stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streams.calendar import Calendar
from streams.clocks.decisions import Sla
from streams.events import Priority
from streams.policy import Policy


@dataclass(slots=True)
class ReplyClock:
    """A running first or next reply wait, from the oldest unanswered message.

    ``decided`` is set once the breach is decided; the clock keeps running without
    timers until the answer, which is then observed in the histogram only.
    """

    sla: Sla
    n: int
    priority: Priority
    started_at: float
    target: float | None
    deadline: float | None
    warn_at: float | None
    bots_count: bool
    decided: bool = False

    def clone(self) -> ReplyClock:
        return ReplyClock(
            self.sla,
            self.n,
            self.priority,
            self.started_at,
            self.target,
            self.deadline,
            self.warn_at,
            self.bots_count,
            self.decided,
        )

    def to_dict(self) -> dict[str, Any]:
        return compact(
            {
                "s": self.sla.value,
                "n": self.n,
                "p": self.priority.value,
                "t0": self.started_at,
                "tg": self.target,
                "d": self.deadline,
                "w": self.warn_at,
                "b": self.bots_count,
                "x": self.decided,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplyClock:
        return cls(
            sla=Sla(data["s"]),
            n=data["n"],
            priority=Priority(data["p"]),
            started_at=data["t0"],
            target=data.get("tg"),
            deadline=data.get("d"),
            warn_at=data.get("w"),
            bots_count=data.get("b", False),
            decided=data.get("x", False),
        )


@dataclass(slots=True)
class ResolutionClock:
    """The resolution clock of the open cycle, with its pauses and auto-resolution timer.

    Business time is counted piecewise: ``accrued`` seconds before ``running_since``;
    ``running_since`` is ``None`` while paused (``status=pending``), and then there is no
    deadline. ``auto_reply_at`` is the last qualifying reply while auto-resolution is
    armed, with ``auto_elapsed`` / ``auto_deadline`` the clock's reading at that reply.
    """

    priority: Priority
    started_at: float
    target: float | None
    warn_before: float | None
    auto_after: float | None
    bots_count: bool
    accrued: float = 0.0
    running_since: float | None = None
    deadline: float | None = None
    warn_at: float | None = None
    warned: bool = False
    decided: bool = False
    auto_reply_at: float | None = None
    auto_elapsed: float = 0.0
    auto_deadline: float | None = None

    @property
    def auto_at(self) -> float | None:
        if self.auto_reply_at is None or self.auto_after is None:
            return None
        return self.auto_reply_at + self.auto_after

    def elapsed(self, calendar: Calendar, at: float) -> float:
        """Business seconds on the clock at ``at``, paused time left out."""
        if self.running_since is None:
            return self.accrued
        return self.accrued + calendar.between(self.running_since, at)

    def deadline_at(self, calendar: Calendar, at: float) -> float | None:
        """The deadline in force; while paused, as if the clock ran again from ``at``."""
        if self.target is None or self.running_since is not None:
            return self.deadline
        return _finite(calendar.add(at, max(0.0, self.target - self.accrued)))

    def pause(self, calendar: Calendar, at: float) -> None:
        self.accrued = self.elapsed(calendar, at)
        self.running_since = None
        self.deadline = None
        self.warn_at = None

    def resume(self, calendar: Calendar, at: float) -> None:
        """Run again from ``at``: the deadline moves out by the paused business time."""
        self.running_since = at
        if self.decided or self.target is None:
            return
        self.deadline = _finite(calendar.add(at, max(0.0, self.target - self.accrued)))
        self.warn_at = None if self.warned else warning(self.deadline, self.warn_before, at)

    def arm_auto_resolution(self, calendar: Calendar, reply_at: float) -> None:
        """A qualifying reply at ``reply_at``: resolved then, if the customer stays silent."""
        if self.auto_after is not None:
            self.auto_reply_at = reply_at
            self.auto_elapsed = self.elapsed(calendar, reply_at)
            self.auto_deadline = self.deadline_at(calendar, reply_at)

    def clone(self) -> ResolutionClock:
        return ResolutionClock(
            self.priority,
            self.started_at,
            self.target,
            self.warn_before,
            self.auto_after,
            self.bots_count,
            self.accrued,
            self.running_since,
            self.deadline,
            self.warn_at,
            self.warned,
            self.decided,
            self.auto_reply_at,
            self.auto_elapsed,
            self.auto_deadline,
        )

    def to_dict(self) -> dict[str, Any]:
        return compact(
            {
                "p": self.priority.value,
                "t0": self.started_at,
                "tg": self.target,
                "wb": self.warn_before,
                "aa": self.auto_after,
                "b": self.bots_count,
                "ac": self.accrued,
                "rs": self.running_since,
                "d": self.deadline,
                "w": self.warn_at,
                "wd": self.warned,
                "x": self.decided,
                "ar": self.auto_reply_at,
                "ae": self.auto_elapsed,
                "ad": self.auto_deadline,
            },
            zero_defaults=("ac", "ae"),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolutionClock:
        return cls(
            priority=Priority(data["p"]),
            started_at=data["t0"],
            target=data.get("tg"),
            warn_before=data.get("wb"),
            auto_after=data.get("aa"),
            bots_count=data.get("b", False),
            accrued=data.get("ac", 0.0),
            running_since=data.get("rs"),
            deadline=data.get("d"),
            warn_at=data.get("w"),
            warned=data.get("wd", False),
            decided=data.get("x", False),
            auto_reply_at=data.get("ar"),
            auto_elapsed=data.get("ae", 0.0),
            auto_deadline=data.get("ad"),
        )


def start_reply_clock(
    policy: Policy, sla: Sla, n: int, priority: Priority, at: float
) -> ReplyClock:
    targets = policy.targets
    wanted = targets.first_reply if sla is Sla.FIRST_REPLY else targets.next_reply
    target, deadline = _schedule(policy.calendar, at, wanted)
    return ReplyClock(
        sla=sla,
        n=n,
        priority=priority,
        started_at=at,
        target=target,
        deadline=deadline,
        warn_at=warning(deadline, policy.warn_before, at),
        bots_count=policy.bot_replies_count,
    )


def start_resolution_clock(policy: Policy, priority: Priority, at: float) -> ResolutionClock:
    target, deadline = _schedule(policy.calendar, at, policy.targets.resolution)
    return ResolutionClock(
        priority=priority,
        started_at=at,
        target=target,
        warn_before=policy.warn_before,
        auto_after=policy.auto_resolve_after,
        bots_count=policy.bot_replies_count,
        running_since=at,
        deadline=deadline,
        warn_at=warning(deadline, policy.warn_before, at),
    )


def warning(deadline: float | None, warn_before: float | None, start: float) -> float | None:
    """``deadline - warn_before``, not before the clock (re)started, and before the deadline."""
    if deadline is None or warn_before is None or warn_before <= 0:
        return None
    warn_at = max(deadline - warn_before, start)
    return warn_at if warn_at < deadline else None


def _schedule(
    calendar: Calendar, start: float, target: float | None
) -> tuple[float | None, float | None]:
    """(target, deadline); a deadline the calendar never reaches means no SLA."""
    if target is None:
        return None, None
    deadline = _finite(calendar.add(start, max(0.0, target)))
    return (None, None) if deadline is None else (target, deadline)


def _finite(instant: float) -> float | None:
    return instant if math.isfinite(instant) else None


def compact(data: dict[str, Any], zero_defaults: tuple[str, ...] = ()) -> dict[str, Any]:
    """Leave out ``None``, ``False``, empty lists and the named zero defaults."""
    return {
        key: value
        for key, value in data.items()
        if not (
            value is None or value is False or value == [] or (value == 0 and key in zero_defaults)
        )
    }
