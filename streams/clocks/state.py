"""The state of one case: its timeline position, its open cycle and the clocks running in it.

A :class:`CaseState` is what the Faust table stores (as :meth:`CaseState.to_dict`). It is
mutable only inside :mod:`streams.clocks.machine`, which works on a copy
(:meth:`CaseState.clone`), so a state handed to the machine is never changed.

Size bound: the state holds no text, only instants, enums and counters, plus
``seen`` -- a 16-character digest of every ``event_id`` of the case -- and the events
still waiting for the lateness horizon (``pending``; at most the events of the last
``lateness`` seconds). ``seen`` therefore grows by 16 bytes per event for as long as the
case lives, and is dropped with the case when :meth:`CaseState.expired` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from streams.clocks.decisions import Sla
from streams.clocks.timeline import TimelineEvent, Timer
from streams.events import Priority


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


@dataclass(slots=True)
class CaseState:
    """One case. ``horizon`` is the event-time instant up to which the timeline is applied."""

    key: str
    brand: str = field(init=False)
    platform: str = field(init=False)
    horizon: float | None = None
    seq: int = 0
    seen: set[str] = field(default_factory=set)
    pending: list[TimelineEvent] = field(default_factory=list)
    cycle: int = 0
    cycle_priority: Priority | None = None
    first_done: bool = False
    next_n: int = 0
    reply: ReplyClock | None = None
    resolution: ResolutionClock | None = None
    last_activity: float | None = None

    def __post_init__(self) -> None:
        # The case key is {platform}:{brand}:{thread}:{customer}; tokens hold no ':'.
        platform, brand, _ = self.key.split(":", 2)
        self.platform = platform
        self.brand = brand

    # -- read-only views for gauges ------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.resolution is not None

    @property
    def priority(self) -> Priority:
        """The highest priority stated in the (last) cycle; ``normal`` when none was."""
        return self.cycle_priority or Priority.NORMAL

    @property
    def awaiting_since(self) -> float | None:
        """Event time of the oldest unanswered customer message, or ``None``."""
        return self.reply.started_at if self.reply is not None else None

    # -- timers --------------------------------------------------------------------

    def next_timer(self) -> tuple[float, Timer] | None:
        """The earliest timer (virtual instant, kind), ties broken by :class:`Timer`."""
        best: tuple[float, Timer] | None = None
        for candidate in self._timers():
            if best is None or candidate < best:
                best = candidate
        return best

    def _timers(self) -> list[tuple[float, Timer]]:
        timers: list[tuple[float, Timer]] = []
        reply = self.reply
        if reply is not None and not reply.decided:
            if reply.warn_at is not None:
                timers.append((reply.warn_at, Timer.REPLY_WARNING))
            if reply.deadline is not None:
                timers.append((reply.deadline, Timer.REPLY_BREACH))
        res = self.resolution
        if res is not None:
            auto_at = res.auto_at
            if auto_at is not None:
                timers.append((auto_at, Timer.AUTO_RESOLVE))
            if not res.decided and res.running_since is not None:
                if res.warn_at is not None:
                    timers.append((res.warn_at, Timer.RESOLUTION_WARNING))
                if res.deadline is not None:
                    timers.append((res.deadline, Timer.RESOLUTION_BREACH))
        return timers

    def next_due(self, lateness: float) -> float | None:
        """The stream-clock instant from which :func:`on_clock` may have work, or ``None``.

        A pending event is applied once ``clock >= occurred_at + lateness``; a timer at
        ``t`` fires once ``clock > t + lateness``. A call at exactly the returned instant
        may therefore find nothing to do yet; before it, it never has anything to do.
        """
        due: float | None = None
        if self.pending:
            due = self.pending[0].occurred_at + lateness
        timer = self.next_timer()
        if timer is not None and (due is None or timer[0] + lateness < due):
            due = timer[0] + lateness
        return due

    def expired(self, clock: float, retention: float) -> bool:
        """Closed (or never opened), nothing pending, and idle for longer than ``retention``."""
        return (
            self.resolution is None
            and not self.pending
            and self.last_activity is not None
            and clock - self.last_activity > retention
        )

    def clone(self) -> CaseState:
        """A copy the machine may change without touching ``self``."""
        copy = replace(self, seen=set(self.seen), pending=list(self.pending))
        if self.reply is not None:
            copy.reply = replace(self.reply)
        if self.resolution is not None:
            copy.resolution = replace(self.resolution)
        return copy

    # -- serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-friendly form; keys at their default value are left out."""
        return _compact(
            {
                "k": self.key,
                "h": self.horizon,
                "q": self.seq,
                "ids": sorted(self.seen),
                "pe": [event.to_list() for event in self.pending],
                "c": self.cycle,
                "cp": _opt(self.cycle_priority),
                "fd": self.first_done,
                "nn": self.next_n,
                "rc": None if self.reply is None else _reply_to_dict(self.reply),
                "rs": None if self.resolution is None else _resolution_to_dict(self.resolution),
                "la": self.last_activity,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseState:
        reply = data.get("rc")
        resolution = data.get("rs")
        priority = data.get("cp")
        return cls(
            key=data["k"],
            horizon=data.get("h"),
            seq=data.get("q", 0),
            seen=set(data.get("ids", ())),
            pending=[TimelineEvent.from_list(row) for row in data.get("pe", ())],
            cycle=data.get("c", 0),
            cycle_priority=None if priority is None else Priority(priority),
            first_done=data.get("fd", False),
            next_n=data.get("nn", 0),
            reply=None if reply is None else _reply_from_dict(reply),
            resolution=None if resolution is None else _resolution_from_dict(resolution),
            last_activity=data.get("la"),
        )


def _opt(value: Priority | None) -> str | None:
    return None if value is None else value.value


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None``, ``False``, empty lists and zero counters (every default is one)."""
    return {
        key: value
        for key, value in data.items()
        if not (
            value is None or value is False or value == [] or (value == 0 and key in _ZERO_DEFAULTS)
        )
    }


_ZERO_DEFAULTS = frozenset({"q", "c", "nn", "ac", "ae"})


def _reply_to_dict(clock: ReplyClock) -> dict[str, Any]:
    return _compact(
        {
            "s": clock.sla.value,
            "n": clock.n,
            "p": clock.priority.value,
            "t0": clock.started_at,
            "tg": clock.target,
            "d": clock.deadline,
            "w": clock.warn_at,
            "b": clock.bots_count,
            "x": clock.decided,
        }
    )


def _reply_from_dict(data: dict[str, Any]) -> ReplyClock:
    return ReplyClock(
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


def _resolution_to_dict(clock: ResolutionClock) -> dict[str, Any]:
    return _compact(
        {
            "p": clock.priority.value,
            "t0": clock.started_at,
            "tg": clock.target,
            "wb": clock.warn_before,
            "aa": clock.auto_after,
            "b": clock.bots_count,
            "ac": clock.accrued,
            "rs": clock.running_since,
            "d": clock.deadline,
            "w": clock.warn_at,
            "wd": clock.warned,
            "x": clock.decided,
            "ar": clock.auto_reply_at,
            "ae": clock.auto_elapsed,
            "ad": clock.auto_deadline,
        }
    )


def _resolution_from_dict(data: dict[str, Any]) -> ResolutionClock:
    return ResolutionClock(
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
