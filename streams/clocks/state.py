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

from dataclasses import dataclass, field
from typing import Any

from streams.clocks.sla_clocks import ReplyClock, ResolutionClock, compact
from streams.clocks.timeline import TimelineEvent, Timer
from streams.events import Priority


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
        """A copy the machine may change without touching ``self`` (hot path: no
        ``dataclasses.replace``, which costs several times more)."""
        copy = object.__new__(CaseState)
        copy.key, copy.brand, copy.platform = self.key, self.brand, self.platform
        copy.horizon, copy.seq = self.horizon, self.seq
        copy.seen, copy.pending = set(self.seen), list(self.pending)
        copy.cycle, copy.cycle_priority = self.cycle, self.cycle_priority
        copy.first_done, copy.next_n = self.first_done, self.next_n
        copy.reply = None if self.reply is None else self.reply.clone()
        copy.resolution = None if self.resolution is None else self.resolution.clone()
        copy.last_activity = self.last_activity
        return copy

    # -- serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-friendly form; keys at their default value are left out."""
        return compact(
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
                "rc": None if self.reply is None else self.reply.to_dict(),
                "rs": None if self.resolution is None else self.resolution.to_dict(),
                "la": self.last_activity,
            },
            zero_defaults=("q", "c", "nn"),
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
            reply=None if reply is None else ReplyClock.from_dict(reply),
            resolution=None if resolution is None else ResolutionClock.from_dict(resolution),
            last_activity=data.get("la"),
        )


def _opt(value: Priority | None) -> str | None:
    return None if value is None else value.value
