"""Case logs for the clock tests: a builder for hand-written logs, test policies and
calendars, the two ways of delivering a log to the machine, and hypothesis strategies
for random logs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from hypothesis import strategies as st

from streams.calendar import ALWAYS_OPEN, BusinessCalendar, Calendar
from streams.clocks import CaseState, Decision, Effect, on_clock, on_event
from streams.events import AuthorType, CareEvent, Kind, Priority, Status, Visibility
from streams.policy import Policy, Targets

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0
T0 = 1_767_254_400.0  # 2026-01-01T08:00:00Z: an hour before the fake office opens
LATENESS = 60.0
KEY = "x:acme:thread-1:cust-1"


# -- calendars and policies ------------------------------------------------------------


class NineToFive:
    """Business hours 09:00-17:00 UTC every day: a deliberately simple :class:`Calendar`."""

    OPEN = 9 * HOUR
    CLOSE = 17 * HOUR

    def between(self, start: float, end: float) -> float:
        total = 0.0
        day = math.floor(start / DAY) * DAY
        while day < end:
            low, high = max(start, day + self.OPEN), min(end, day + self.CLOSE)
            total += max(0.0, high - low)
            day += DAY
        return total

    def add(self, start: float, business_seconds: float) -> float:
        if business_seconds <= 0:
            return start
        remaining, at = business_seconds, start
        day = math.floor(start / DAY) * DAY
        while True:
            low, high = max(at, day + self.OPEN), day + self.CLOSE
            if high > low:
                if low + remaining <= high:
                    return low + remaining
                remaining -= high - low
            day += DAY
            at = day


@dataclass(frozen=True)
class Book:
    """A tiny ``PolicyLookup``: one policy, optionally another per priority."""

    default: Policy
    by_priority: dict[Priority, Policy] = field(default_factory=dict)

    def match(self, brand: str, platform: str, priority: Priority) -> Policy:
        return self.by_priority.get(priority, self.default)


def policy(
    first: float | None = 15 * MIN,
    next_: float | None = 30 * MIN,
    resolution: float | None = 4 * HOUR,
    *,
    warn_before: float | None = None,
    calendar: Calendar = ALWAYS_OPEN,
    bots: bool = False,
    auto: float | None = None,
    name: str = "test",
) -> Policy:
    return Policy(name, Targets(first, next_, resolution), warn_before, calendar, bots, auto)


def book(default: Policy | None = None, **by_priority: Policy) -> Book:
    return Book(default or policy(), {Priority(name): value for name, value in by_priority.items()})


# -- the builder -----------------------------------------------------------------------


class Log:
    """Events of one case, written in minutes after ``T0``; ids are numbered in order."""

    def __init__(self, key: str = KEY) -> None:
        self.platform, self.brand, rest = key.split(":", 2)
        self.thread, self.customer = rest.rsplit(":", 1)
        self.events: list[CareEvent] = []

    def _add(self, minute: float, kind: Kind, **fields: object) -> CareEvent:
        return self.add(T0 + minute * MIN, kind, **fields)

    def add(self, instant: float, kind: Kind, **fields: object) -> CareEvent:
        """An event at an absolute instant (POSIX seconds)."""
        event = CareEvent(
            event_id=str(fields.pop("event_id", f"e{len(self.events) + 1}")),
            kind=kind,
            platform=self.platform,
            brand=self.brand,
            thread_id=self.thread,
            customer_id=self.customer,
            occurred_at=instant,
            **fields,  # type: ignore[arg-type]
        )
        self.events.append(event)
        return event

    def message(self, minute: float, priority: Priority | None = None, **kw: object) -> CareEvent:
        return self._add(minute, Kind.MESSAGE, priority=priority, **kw)

    def reply(
        self,
        minute: float,
        author: AuthorType = AuthorType.HUMAN,
        visibility: Visibility = Visibility.PUBLIC,
        priority: Priority | None = None,
        **kw: object,
    ) -> CareEvent:
        return self._add(
            minute,
            Kind.REPLY,
            author_type=author,
            visibility=visibility,
            priority=priority,
            **kw,
        )

    def status(
        self, minute: float, status: Status, priority: Priority | None = None, **kw: object
    ) -> CareEvent:
        return self._add(minute, Kind.STATUS, status=status, priority=priority, **kw)


def at(minute: float) -> float:
    return T0 + minute * MIN


# -- delivering a log ------------------------------------------------------------------


@dataclass
class Delivery:
    """Everything the machine produced for one delivery of a log."""

    decisions: list[Decision] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    state: CaseState | None = None

    def ids(self) -> list[str]:
        return [decision.decision_id for decision in self.decisions]

    def short(self) -> list[tuple[str, int, str, float]]:
        """``(sla, n, outcome, minutes after T0 of the virtual instant)`` per decision."""
        return [
            (str(d.sla), d.n, str(d.outcome), (d.decided_at - LATENESS - T0) / MIN)
            for d in self.decisions
        ]


def replay(
    events: Iterable[CareEvent],
    policies: Book,
    lateness: float = LATENESS,
    *,
    end: float | None = None,
    state: CaseState | None = None,
) -> Delivery:
    """Replay mode: the clock is the watermark; then the clock is advanced to ``end``
    (default: far past the last event)."""
    out = Delivery(state=state)
    watermark = -math.inf
    for event in events:
        watermark = max(watermark, event.occurred_at)
        step = on_event(out.state, event, watermark, policies, lateness)
        out.state = step.state
        out.decisions += step.decisions
        out.effects += step.effects
    if out.state is not None:
        final = end if end is not None else watermark + 365 * DAY
        step = on_clock(out.state, final, policies, lateness)
        out.state = step.state
        out.decisions += step.decisions
        out.effects += step.effects
    return out


def within_lateness(
    events: Sequence[CareEvent], delays: Sequence[float], ties: Sequence[int] | None = None
) -> list[CareEvent]:
    """Arrival order when each event arrives ``delays[i]`` (``<= lateness``) after it
    occurred: any two events swap only if they are at most the lateness apart.
    Events arriving at the same instant come in ``ties`` order (default: log order)."""
    rank = ties if ties is not None else range(len(events))
    order = sorted(range(len(events)), key=lambda i: (events[i].occurred_at + delays[i], rank[i]))
    return [events[i] for i in order]


# -- hypothesis strategies -------------------------------------------------------------

NINE_TO_FIVE = NineToFive()
# The real calendar too: split days, a 24-hour day, a closed Sunday, a holiday, and
# the DST changes the random logs run across.
BERLIN_OFFICE = BusinessCalendar(
    "Europe/Berlin",
    {
        "mon": [("09:00", "12:00"), ("13:00", "17:30")],
        "tue": [("09:00", "17:30")],
        "wed": [("00:00", "24:00")],
        "thu": [("08:00", "12:00"), ("12:30", "20:00")],
        "fri": [("09:00", "15:00")],
        "sat": [("10:00", "14:00")],
    },
    holiday_dates=[date(2026, 1, 6)],
)
CALENDARS = st.sampled_from([ALWAYS_OPEN, NINE_TO_FIVE, BERLIN_OFFICE])
GAPS = st.one_of(
    st.just(0),
    st.integers(0, 24).map(lambda fives: fives * 300),  # round gaps: instants coincide
    st.integers(0, 90),
    st.integers(0, 3600),
    st.integers(0, int(8 * HOUR)),
    st.integers(0, int(2 * DAY)),
)
PRIORITIES = st.sampled_from([None, None, None, *Priority])
TARGETS = st.sampled_from([None, 60.0, 300.0, 900.0, HOUR, 4 * HOUR, DAY])
WARNINGS = st.sampled_from([None, 0.0, 60.0, 600.0, 1200.0])
AUTO = st.sampled_from([None, None, 600.0, HOUR, DAY])

# A coarse grid, where instants coincide often: every tie rule is exercised.
GRID_GAPS = st.integers(0, 6).map(lambda fives: fives * 300)
GRID_TARGETS = st.sampled_from([None, 300.0, 600.0, 900.0, 1800.0])
GRID_WARNINGS = st.sampled_from([None, 300.0, 600.0])
GRID_AUTO = st.sampled_from([None, 300.0, 600.0, 900.0])


@st.composite
def case_logs(draw: st.DrawFn, max_events: int = 24, *, grid: bool = False) -> list[CareEvent]:
    """One case's events in occurred_at order (ties possible), with repeats mixed in
    (each after its original, so the first arrival of every id is in order)."""
    log = Log()
    # January 1st, or the day before a DST change in Berlin (March 29, October 25)
    season = draw(st.sampled_from([0.0, 86 * DAY, 296 * DAY]))
    instant = (
        T0
        + season
        + draw(st.integers(0, 24 * 12).map(lambda fives: fives * 300) | st.integers(0, int(DAY)))
    )
    gaps = GRID_GAPS if grid else GAPS
    for _ in range(draw(st.integers(1, max_events))):
        instant += draw(gaps)
        kind = draw(st.sampled_from([Kind.MESSAGE] * 4 + [Kind.REPLY] * 4 + [Kind.STATUS] * 2))
        priority = draw(PRIORITIES)
        if kind is Kind.MESSAGE:
            log.add(instant, kind, priority=priority)
        elif kind is Kind.REPLY:
            author = draw(st.sampled_from([AuthorType.HUMAN] * 3 + [*AuthorType]))
            visibility = draw(st.sampled_from([Visibility.PUBLIC] * 3 + [*Visibility]))
            log.add(instant, kind, priority=priority, author_type=author, visibility=visibility)
        else:
            log.add(instant, kind, priority=priority, status=draw(st.sampled_from(Status)))
    events = log.events
    repeats = draw(st.lists(st.tuples(st.integers(0), st.integers(0)), max_size=3))
    for original, later in repeats:  # a repeat arrives some time after the original
        index = original % len(events)
        events.insert(index + 1 + later % (len(events) - index), events[index])
    return events


@st.composite
def policies(draw: st.DrawFn, *, grid: bool = False) -> Book:
    """A default policy and up to two per-priority ones, with every option in play."""
    targets = GRID_TARGETS if grid else TARGETS
    warnings = GRID_WARNINGS if grid else WARNINGS
    auto = GRID_AUTO if grid else AUTO

    def one() -> Policy:
        return policy(
            draw(targets),
            draw(targets),
            draw(targets),
            warn_before=draw(warnings),
            calendar=draw(CALENDARS),
            bots=draw(st.booleans()),
            auto=draw(auto),
        )

    overrides = draw(st.lists(st.sampled_from(Priority), max_size=2, unique=True))
    return Book(one(), {priority: one() for priority in overrides})
