"""Business calendars: which instants count as business time for an SLA policy.

Instants are POSIX seconds (UTC) everywhere. A :class:`BusinessCalendar` is a time zone,
weekly opening hours (several intervals a day) and holidays (explicit dates and/or a
country's public holidays from the ``holidays`` library). It answers two questions
exactly, without per-second loops, by walking day by day over the open intervals:

- :meth:`Calendar.between`: how much business time lies in ``[start, end)``;
- :meth:`Calendar.add`: when will ``business_seconds`` of business time have passed.

Wall-clock intervals are converted to instants per local day, so daylight-saving
changes give a day its real length: an interval opens at the first instant the local
wall clock shows its start (or the first instant after, when that time is skipped by a
spring-forward change) and closes at the first instant it shows its end. So
``01:00-04:00`` lasts 2 h on a spring-forward day and 4 h on a fall-back day, and
``02:00-03:00`` on a day that skips that hour lasts nothing.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from streams.errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names, indexed like :meth:`datetime.date.weekday` (Monday is 0)."""

MAX_CLOSED_DAYS = 3 * 366
"""``add`` gives up (returns ``math.inf``) after this many consecutive days without business
time; explicit holiday dates that close this many days in a row are rejected at load."""

_DAY_CACHE_SIZE = 4096
_HHMM = re.compile(r"(\d{2}):(\d{2})")
_MINUTES_PER_DAY = 24 * 60


class Calendar(Protocol):
    """Business time. Instants are POSIX seconds (UTC).

    Both methods are pure and exact: ``between(a, add(a, s)) == s`` for ``s > 0`` (up to
    float rounding), ``between`` is additive over adjacent spans, and ``add`` is
    monotonic in ``business_seconds``.
    """

    def add(self, start: float, business_seconds: float) -> float:
        """The earliest instant at which ``business_seconds`` of business time have
        passed since ``start``.

        ``add(t, 0) == t`` always, even outside business hours. For ``s > 0`` the clock
        starts at the next opening when ``start`` is outside business hours, and the
        result may be a closing instant (when the time runs out exactly as an interval
        ends). ``business_seconds`` must be finite and ``>= 0`` (else ``ValueError``).
        ``math.inf`` means never: no business time follows ``start`` (a safety net; a
        loaded calendar always opens again within three years).
        """
        ...

    def between(self, start: float, end: float) -> float:
        """Business seconds in ``[start, end)``; ``0.0`` when ``end <= start``. Both
        instants must be finite (:class:`BusinessCalendar` raises ``ValueError``)."""
        ...


def _check_amount(business_seconds: float) -> None:
    if not math.isfinite(business_seconds) or business_seconds < 0:
        raise ValueError(f"business_seconds must be finite and >= 0, not {business_seconds!r}")


class AlwaysOpen:
    """The 24/7 calendar: business time is calendar time."""

    def add(self, start: float, business_seconds: float) -> float:
        _check_amount(business_seconds)
        return start + business_seconds

    def between(self, start: float, end: float) -> float:
        return max(0.0, end - start)

    def __repr__(self) -> str:
        return "ALWAYS_OPEN"


ALWAYS_OPEN = AlwaysOpen()


def parse_hhmm(text: str, field: str, *, allow_24: bool) -> int:
    """Minutes after midnight of a ``HH:MM`` wall-clock time; ``24:00`` only if ``allow_24``."""
    found = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ConfigError(field, f"expected a time HH:MM, got {text!r}")
    hours, minutes = int(found[1]), int(found[2])
    if (hours, minutes) == (24, 0) and allow_24:
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        limit = "00:00-24:00" if allow_24 else "00:00-23:59"
        raise ConfigError(field, f"time {text!r} is outside {limit}")
    return hours * 60 + minutes


def _weekday_index(key: int | str, field: str) -> int:
    if isinstance(key, str) and key in WEEKDAYS:
        return WEEKDAYS.index(key)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(WEEKDAYS):
        return key
    raise ConfigError(f"{field}.{key}", f"unknown weekday; use one of {', '.join(WEEKDAYS)}")


def _day_intervals(
    key: int | str, intervals: Sequence[tuple[str, str]], field: str
) -> list[tuple[int, int]]:
    """One day's intervals as sorted ``(start, end)`` minutes, checked for order and overlap."""
    checked: list[tuple[int, int, int]] = []
    for index, (start_text, end_text) in enumerate(intervals):
        path = f"{field}.{key}[{index}]"
        start = parse_hhmm(start_text, path, allow_24=False)
        end = parse_hhmm(end_text, path, allow_24=True)
        if end <= start:
            raise ConfigError(path, f"interval {start_text}-{end_text} ends before it starts")
        checked.append((start, end, index))
    checked.sort()
    for (_, previous_end, previous), (start, _, index) in itertools.pairwise(checked):
        if start < previous_end:
            raise ConfigError(f"{field}.{key}[{index}]", f"overlaps {field}.{key}[{previous}]")
    return [(start, end) for start, end, _ in checked]


class BusinessCalendar:
    """Weekly business hours in a time zone, minus holidays. Implements :class:`Calendar`.

    ``weekly`` maps a weekday (``"mon"`` ... ``"sun"``, or ``0`` = Monday ... ``6``) to
    its ``("HH:MM", "HH:MM")`` intervals; an end may be ``"24:00"``; a missing day is
    closed. Intervals of one day must not overlap (touching is fine); an interval ending
    ``24:00`` and one starting ``00:00`` the next day form one continuous opening.
    ``holiday_dates`` and the public holidays of ``holiday_countries`` (``(country,
    subdivision or None)``, ISO codes as the ``holidays`` library knows them) are closed
    all day, in the calendar's time zone. ``field`` prefixes the dotted path of every
    ``ConfigError`` raised for bad arguments (``calendars.uae.hours.mon[1]: ...``).

    Day intervals and per-year holiday sets are cached; the object is otherwise
    immutable and safe to share between policies.
    """

    def __init__(
        self,
        tz: str,
        weekly: Mapping[int | str, Sequence[tuple[str, str]]],
        holiday_dates: Iterable[date] = (),
        holiday_countries: Iterable[tuple[str, str | None]] = (),
        *,
        field: str = "calendar",
    ) -> None:
        self._field = field
        self._zone = _zone(tz, f"{field}.timezone")
        self._weekly: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
        seen: dict[int, int | str] = {}
        for key, intervals in weekly.items():
            weekday = _weekday_index(key, f"{field}.hours")
            if weekday in seen:
                raise ConfigError(f"{field}.hours.{key}", f"same weekday as {seen[weekday]!r}")
            seen[weekday] = key
            self._weekly[weekday] = _day_intervals(key, intervals, f"{field}.hours")
        if not any(self._weekly):
            raise ConfigError(f"{field}.hours", "no business hours on any weekday")
        self._holiday_dates = frozenset(holiday_dates)
        self._check_closures()
        self._countries = tuple(holiday_countries)
        for index, (country, subdivision) in enumerate(self._countries):
            try:
                holidays.country_holidays(country, subdiv=subdivision)
            except NotImplementedError as error:
                raise ConfigError(f"{field}.holidays.countries[{index}]", str(error)) from error
        self._country_holidays: dict[int, frozenset[date]] = {}
        self._days: dict[date, tuple[tuple[float, float], ...]] = {}

    def _check_closures(self) -> None:
        """Reject explicit holiday dates that close every open day for MAX_CLOSED_DAYS
        days in a row: ``add`` would find no business time there."""
        if not self._holiday_dates:
            return
        day, last, closed = min(self._holiday_dates), max(self._holiday_dates), 0
        while day <= last and closed < MAX_CLOSED_DAYS:
            shut = day in self._holiday_dates or not self._weekly[day.weekday()]
            closed = closed + 1 if shut else 0
            day += timedelta(days=1)
        if closed >= MAX_CLOSED_DAYS:
            where = f"{self._field}.holidays.dates"
            raise ConfigError(where, f"close every business day for {MAX_CLOSED_DAYS} days")

    def __repr__(self) -> str:
        return f"BusinessCalendar({self._zone.key!r}, field={self._field!r})"

    def between(self, start: float, end: float) -> float:
        """Business seconds in ``[start, end)``; ``0.0`` when ``end <= start``.

        Cost: one step per local day of the span plus one per open interval. A non-finite
        bound raises ``ValueError``.
        """
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"between needs finite instants, not {start!r}, {end!r}")
        if end <= start:
            return 0.0
        total = 0.0
        day, last_day = self._local_date(start), self._local_date(end) + timedelta(days=1)
        while day <= last_day:
            for opens, closes in self.open_intervals(day):
                low, high = max(opens, start), min(closes, end)
                if high > low:
                    total += high - low
            day += timedelta(days=1)
        return total

    def add(self, start: float, business_seconds: float) -> float:
        """See :meth:`Calendar.add`; ``math.inf`` when no business time follows ``start``
        within :data:`MAX_CLOSED_DAYS` days. Cost: one step per local day walked."""
        _check_amount(business_seconds)
        if business_seconds == 0:
            return start
        remaining = business_seconds
        day, closed_days = self._local_date(start), 0
        while closed_days <= MAX_CLOSED_DAYS:
            closed_days += 1
            for opens, closes in self.open_intervals(day):
                if closes <= start:
                    continue
                closed_days = 0
                begin = max(opens, start)
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
            day += timedelta(days=1)
        return math.inf

    def open_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        """The instants ``(opens, closes)`` of the local date's business intervals, in
        order; empty on a holiday or a closed weekday. Intervals of later days come later."""
        cached = self._days.get(day)
        if cached is None:
            cached = self._compute_intervals(day)
            if len(self._days) >= _DAY_CACHE_SIZE:
                self._days.clear()
            self._days[day] = cached
        return cached

    def is_holiday(self, day: date) -> bool:
        """Whether the local date is closed all day as a holiday."""
        return day in self._holiday_dates or day in self._holidays_of(day.year)

    def _compute_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        if self.is_holiday(day):
            return ()
        found = []
        for start, end in self._weekly[day.weekday()]:
            opens, closes = self._first_instant(day, start), self._first_instant(day, end)
            if closes > opens:
                found.append((opens, closes))
        return tuple(found)

    def _holidays_of(self, year: int) -> frozenset[date]:
        cached = self._country_holidays.get(year)
        if cached is None:
            found: set[date] = set()
            for country, subdivision in self._countries:
                found.update(holidays.country_holidays(country, subdiv=subdivision, years=year))
            cached = self._country_holidays[year] = frozenset(found)
        return cached

    def _local_date(self, instant: float) -> date:
        return datetime.fromtimestamp(instant, self._zone).date()

    def _first_instant(self, day: date, minute: int) -> float:
        """The first instant at which the local wall clock reads ``minute`` minutes after
        midnight of ``day`` or later (``1440`` is the next midnight)."""
        day, minute = day + timedelta(days=minute // _MINUTES_PER_DAY), minute % _MINUTES_PER_DAY
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        # fold=0: the earlier of two readings of a repeated time; for a skipped time,
        # the offset before the change, which lands after the gap.
        after = wall.replace(tzinfo=self._zone).timestamp()
        if datetime.fromtimestamp(after, self._zone).replace(tzinfo=None) == wall:
            return after
        before = wall.replace(tzinfo=self._zone, fold=1).timestamp()
        return self._transition(math.floor(before), math.ceil(after))

    def _transition(self, low: int, high: int) -> float:
        """The first whole second in ``(low, high]`` with the UTC offset of ``high``
        (the instant of the clock change; tz transitions fall on whole seconds)."""
        target = datetime.fromtimestamp(high, self._zone).utcoffset()
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, self._zone).utcoffset() == target:
                high = middle
            else:
                low = middle
        return float(high)


def _zone(name: str, field: str) -> ZoneInfo:
    if not isinstance(name, str):
        raise ConfigError(field, f"expected an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(field, f"unknown time zone {name!r}") from error
