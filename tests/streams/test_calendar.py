"""Business calendars: examples, daylight-saving days, errors, and properties checked
against a brute-force minute-by-minute reference."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.calendar import (
    ALWAYS_OPEN,
    MAX_CLOSED_DAYS,
    WEEKDAYS,
    BusinessCalendar,
    Calendar,
)
from streams.errors import ConfigError

HOUR = 3600.0
NEW_YORK = ZoneInfo("America/New_York")
TALLINN = ZoneInfo("Europe/Tallinn")

Weekly = Mapping[int | str, Sequence[tuple[str, str]]]


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """POSIX seconds of a local wall-clock time (the earlier one when repeated)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


def local(zone: ZoneInfo, instant: float) -> datetime:
    return datetime.fromtimestamp(instant, zone)


OFFICE: Weekly = {day: [("09:00", "12:00"), ("13:00", "17:00")] for day in WEEKDAYS[:5]}


@pytest.fixture(scope="module")
def office() -> BusinessCalendar:
    """New York, Mon-Fri 09-12 and 13-17, US holidays and 2026-03-13 (a Friday) closed."""
    return BusinessCalendar("America/New_York", OFFICE, {date(2026, 3, 13)}, [("US", None)])


# -- examples ---------------------------------------------------------------------------


def test_always_open_is_calendar_time() -> None:
    calendar: Calendar = ALWAYS_OPEN
    assert calendar.add(100.5, 60.0) == 160.5
    assert calendar.between(100.0, 160.5) == 60.5
    assert calendar.between(160.0, 100.0) == 0.0
    with pytest.raises(ValueError, match="business_seconds"):
        calendar.add(0.0, -1.0)


def test_add_within_one_interval(office: BusinessCalendar) -> None:
    start = at(NEW_YORK, 2026, 3, 10, 9, 30)  # a Tuesday
    assert local(NEW_YORK, office.add(start, HOUR)) == datetime(
        2026, 3, 10, 10, 30, tzinfo=NEW_YORK
    )


def test_add_skips_the_lunch_break(office: BusinessCalendar) -> None:
    start = at(NEW_YORK, 2026, 3, 10, 11, 30)
    assert office.add(start, HOUR) == at(NEW_YORK, 2026, 3, 10, 13, 30)


def test_add_from_closed_time_starts_at_next_opening(office: BusinessCalendar) -> None:
    start = at(NEW_YORK, 2026, 3, 10, 20, 0)
    assert office.add(start, 60.0) == at(NEW_YORK, 2026, 3, 11, 9, 1)


def test_add_zero_is_the_start_even_when_closed(office: BusinessCalendar) -> None:
    start = at(NEW_YORK, 2026, 3, 10, 20, 0)
    assert office.add(start, 0.0) == start


def test_add_ending_exactly_at_closing_returns_the_closing(office: BusinessCalendar) -> None:
    start = at(NEW_YORK, 2026, 3, 10, 16, 0)
    assert office.add(start, HOUR) == at(NEW_YORK, 2026, 3, 10, 17, 0)


def test_add_skips_weekend_and_holidays(office: BusinessCalendar) -> None:
    # Thu 2026-03-12 16:00 + 2 h: 1 h on Thursday, Friday 13th is an explicit holiday,
    # the weekend is closed, so the second hour ends Monday 10:00.
    assert office.add(at(NEW_YORK, 2026, 3, 12, 16), 2 * HOUR) == at(NEW_YORK, 2026, 3, 16, 10)
    # Fri 2026-07-03 is Independence Day (observed) from the holidays library.
    assert office.add(at(NEW_YORK, 2026, 7, 2, 16), 2 * HOUR) == at(NEW_YORK, 2026, 7, 6, 10)
    assert office.is_holiday(date(2026, 7, 3))
    assert not office.is_holiday(date(2026, 7, 2))


def test_between_counts_only_open_intervals(office: BusinessCalendar) -> None:
    monday, next_monday = at(NEW_YORK, 2026, 3, 9), at(NEW_YORK, 2026, 3, 16)
    assert office.between(monday, next_monday) == 4 * 7 * HOUR  # Friday the 13th closed
    assert office.between(next_monday, monday) == 0.0
    assert office.between(monday, monday) == 0.0
    assert office.between(at(NEW_YORK, 2026, 3, 9, 11, 59), at(NEW_YORK, 2026, 3, 9, 13, 1)) == 120


def test_midnight_intervals_join() -> None:
    night = BusinessCalendar(
        "Europe/Tallinn", {"mon": [("22:00", "24:00")], "tue": [("00:00", "02:00")]}
    )
    start = at(TALLINN, 2026, 3, 2, 23)
    assert night.add(start, 2 * HOUR) == at(TALLINN, 2026, 3, 3, 1)
    assert night.add(start, HOUR) == at(TALLINN, 2026, 3, 3, 0)
    assert night.between(start, at(TALLINN, 2026, 3, 3, 1)) == 2 * HOUR
    assert (
        night.open_intervals(date(2026, 3, 2))[-1][1]
        == night.open_intervals(date(2026, 3, 3))[0][0]
    )


def _day_length(zone_name: str, interval: tuple[str, str], day: date) -> float:
    weekday = WEEKDAYS[day.weekday()]
    calendar = BusinessCalendar(zone_name, {weekday: [interval]})
    zone = ZoneInfo(zone_name)
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), zone).timestamp()
    return calendar.between(start, start + 3 * 86400) / HOUR


@pytest.mark.parametrize(
    ("zone", "day", "interval", "hours"),
    [
        ("America/New_York", date(2026, 3, 8), ("09:00", "17:00"), 8),
        ("America/New_York", date(2026, 3, 8), ("00:00", "24:00"), 23),
        ("America/New_York", date(2026, 3, 8), ("01:00", "04:00"), 2),
        ("America/New_York", date(2026, 3, 8), ("02:00", "03:00"), 0),
        ("America/New_York", date(2026, 3, 8), ("02:30", "04:00"), 1),
        ("America/New_York", date(2026, 3, 8), ("01:30", "02:30"), 0.5),
        ("America/New_York", date(2026, 11, 1), ("09:00", "17:00"), 8),
        ("America/New_York", date(2026, 11, 1), ("00:00", "24:00"), 25),
        ("America/New_York", date(2026, 11, 1), ("01:00", "04:00"), 4),
        ("America/New_York", date(2026, 11, 1), ("02:00", "03:00"), 1),
        ("America/New_York", date(2026, 11, 1), ("00:00", "01:30"), 1.5),
        ("Europe/Tallinn", date(2026, 3, 29), ("00:00", "24:00"), 23),
        ("Europe/Tallinn", date(2026, 3, 29), ("03:00", "04:00"), 0),
        ("Europe/Tallinn", date(2026, 3, 29), ("02:00", "05:00"), 2),
        ("Europe/Tallinn", date(2026, 10, 25), ("00:00", "24:00"), 25),
        ("Europe/Tallinn", date(2026, 10, 25), ("03:00", "04:00"), 2),
        ("Europe/Tallinn", date(2026, 10, 25), ("09:00", "17:00"), 8),
    ],
)
def test_daylight_saving_days_have_their_real_length(
    zone: str, day: date, interval: tuple[str, str], hours: float
) -> None:
    assert _day_length(zone, interval, day) == hours


def test_add_across_spring_forward() -> None:
    calendar = BusinessCalendar("America/New_York", {"sun": [("01:00", "04:00")]})
    start = at(NEW_YORK, 2026, 3, 8, 1, 30)
    # 30 min to the jump at 02:00 EST, then 03:00 EDT + 30 min.
    assert local(NEW_YORK, calendar.add(start, HOUR)) == datetime(
        2026, 3, 8, 3, 30, tzinfo=NEW_YORK
    )


def test_a_30_day_target_walks_few_days(office: BusinessCalendar) -> None:
    counting = _CountingCalendar("America/New_York", OFFICE, (), [("US", None)])
    start = at(NEW_YORK, 2026, 1, 5, 9)
    end = counting.add(start, 30 * 86400)
    # 30 days of 7 business hours a day = about 103 weekdays = about 145 calendar days.
    assert counting.days_visited <= 160
    assert counting.between(start, end) == 30 * 86400
    # The office calendar also closes Friday 2026-03-13: one business day (7 h) less.
    assert office.between(start, end) == 30 * 86400 - 7 * HOUR


class _CountingCalendar(BusinessCalendar):
    days_visited = 0

    def open_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        self.days_visited += 1
        return super().open_intervals(day)


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "weekly", "countries", "field"),
    [
        ("Mars/Olympus", {"mon": [("09:00", "17:00")]}, [], "cal.timezone"),
        ("", {"mon": [("09:00", "17:00")]}, [], "cal.timezone"),
        ("UTC", {}, [], "cal.hours"),
        ("UTC", {"mon": []}, [], "cal.hours"),
        ("UTC", {"monday": [("09:00", "17:00")]}, [], "cal.hours.monday"),
        ("UTC", {7: [("09:00", "17:00")]}, [], "cal.hours.7"),
        ("UTC", {"mon": [("09:00", "17:00")], 0: [("09:00", "17:00")]}, [], "cal.hours.0"),
        ("UTC", {"mon": [("9:00", "17:00")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("09:00", "17:60")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("24:00", "24:00")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("09:00", "24:01")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("17:00", "09:00")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("09:00", "09:00")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("12:00", "18:00"), ("09:00", "13:00")]}, [], "cal.hours.mon[0]"),
        ("UTC", {"mon": [("09:00", "17:00")]}, [("XX", None)], "cal.holidays.countries[0]"),
        (
            "UTC",
            {"mon": [("09:00", "17:00")]},
            [("AE", None), ("US", "ZZ")],
            "cal.holidays.countries[1]",
        ),
    ],
)
def test_bad_calendars_are_rejected(
    tz: str, weekly: Weekly, countries: list[tuple[str, str | None]], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        BusinessCalendar(tz, weekly, (), countries, field="cal")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_explicit_dates_closing_every_open_day_for_years_are_rejected() -> None:
    mondays = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(MAX_CLOSED_DAYS // 7 + 10)]
    with pytest.raises(ConfigError) as caught:
        BusinessCalendar("UTC", {"mon": [("09:00", "17:00")]}, mondays, field="cal")
    assert caught.value.field == "cal.holidays.dates"
    BusinessCalendar("UTC", {"mon": [("09:00", "17:00")]}, mondays[:100], field="cal")


class _NeverOpen(BusinessCalendar):
    def is_holiday(self, day: date) -> bool:
        return True


def test_add_gives_up_with_infinity_when_nothing_ever_opens() -> None:
    calendar = _NeverOpen("UTC", {"mon": [("09:00", "17:00")]})
    start = at(ZoneInfo("UTC"), 2026, 1, 1)
    assert calendar.add(start, 1.0) == math.inf
    assert calendar.add(start, 0.0) == start
    assert calendar.between(start, start + 365 * 86400) == 0.0


def test_negative_or_nan_amount_is_rejected(office: BusinessCalendar) -> None:
    for amount in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="business_seconds"):
            office.add(0.0, amount)
    with pytest.raises(ValueError, match="finite"):
        office.between(0.0, math.inf)


# -- properties -------------------------------------------------------------------------

CALENDAR_SPECS: dict[str, tuple[str, Weekly, frozenset[date], str | None]] = {
    "new_york": (
        "America/New_York",
        {
            "sun": [("01:00", "02:30"), ("03:00", "24:00")],
            "mon": [("00:00", "09:00"), ("09:00", "12:00"), ("13:00", "17:00")],
            "wed": [("09:00", "17:00")],
            "fri": [("23:00", "24:00")],
            "sat": [("00:00", "01:00"), ("01:30", "03:00")],
        },
        frozenset({date(2026, 3, 11), date(2027, 3, 15)}),
        "US",
    ),
    "tallinn": (
        "Europe/Tallinn",
        {
            "sun": [("02:30", "03:30"), ("03:45", "04:30"), ("22:00", "24:00")],
            "mon": [("00:00", "02:00"), ("08:00", "16:00")],
            "thu": [("09:00", "18:00")],
        },
        frozenset({date(2026, 10, 26)}),
        "EE",
    ),
    "dubai": (
        "Asia/Dubai",
        {
            day: [("08:00", "13:00"), ("14:00", "20:00")]
            for day in ("sun", "mon", "tue", "wed", "thu")
        },
        frozenset(),
        "AE",
    ),
}
CALENDARS = {
    name: BusinessCalendar(tz, weekly, dates, [(country, None)] if country else [])
    for name, (tz, weekly, dates, country) in CALENDAR_SPECS.items()
}
TRANSITIONS = [
    at(NEW_YORK, 2026, 3, 8, 1, 59),
    at(NEW_YORK, 2026, 11, 1, 1, 59),
    at(NEW_YORK, 2027, 3, 14, 1, 59),
    at(TALLINN, 2026, 3, 29, 2, 59),
    at(TALLINN, 2026, 10, 25, 3, 59),
]
SPAN_START, SPAN_END = at(ZoneInfo("UTC"), 2025, 12, 1), at(ZoneInfo("UTC"), 2027, 12, 31)

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
instants = st.one_of(
    st.floats(SPAN_START, SPAN_END),
    st.sampled_from(TRANSITIONS).flatmap(lambda t: st.floats(t - 3 * 86400, t + 3 * 86400)),
)
amounts = st.floats(0.001, 40 * 86400)


@given(calendars, instants, amounts)
def test_between_inverts_add(calendar: BusinessCalendar, start: float, amount: float) -> None:
    assert abs(calendar.between(start, calendar.add(start, amount)) - amount) <= 1e-6


@given(calendars, instants, st.floats(0, 20 * 86400), st.floats(0, 20 * 86400))
def test_between_is_additive(
    calendar: BusinessCalendar, start: float, first: float, second: float
) -> None:
    middle, end = start + first, start + first + second
    whole = calendar.between(start, end)
    assert abs(whole - calendar.between(start, middle) - calendar.between(middle, end)) <= 1e-6
    assert 0 <= whole <= end - start


@given(calendars, instants, amounts, amounts)
def test_add_is_monotonic(calendar: BusinessCalendar, start: float, one: float, two: float) -> None:
    low, high = sorted((one, two))
    assert start <= calendar.add(start, low) <= calendar.add(start, high)


@given(instants, st.floats(0, 40 * 86400), st.floats(-86400, 40 * 86400))
def test_always_open_is_identity(start: float, amount: float, span: float) -> None:
    assert ALWAYS_OPEN.add(start, amount) == start + amount
    assert ALWAYS_OPEN.between(start, start + span) == max(0.0, (start + span) - start)
    always = BusinessCalendar("UTC", {day: [("00:00", "24:00")] for day in WEEKDAYS})
    assert always.add(start, amount) == pytest.approx(start + amount, abs=1e-6)
    assert always.between(start, start + span) == pytest.approx(max(0.0, span), abs=1e-6)


def _reference_minutes(name: str, start: int, end: int) -> list[bool]:
    """Brute force, independent of the implementation: for each minute of [start, end),
    whether it is business time. The wall clock "reached" is the highest local time shown
    so far (so skipped times count as reached when jumped over, and a repeated hour stays
    at the time the clocks went back); a minute is open when that time is in an interval
    of its date and the date is not a holiday."""
    tz, weekly, dates, country = CALENDAR_SPECS[name]
    zone = ZoneInfo(tz)
    named = {WEEKDAYS.index(str(day)): intervals for day, intervals in weekly.items()}
    public = holidays.country_holidays(country) if country else {}
    reached: datetime | None = None
    result = []
    for minute in range(start - 6 * 3600, end, 60):
        wall = datetime.fromtimestamp(minute, zone).replace(tzinfo=None)
        reached = wall if reached is None or wall > reached else reached
        if minute < start:
            continue
        day, clock = reached.date(), reached.strftime("%H:%M")
        closed = day in dates or day in public
        result.append(
            not closed
            and any(s <= clock < e for s, e in named.get(day.weekday(), []))  # "24:00" sorts last
        )
    return result


ZONE_OF_TRANSITION = ["new_york"] * 3 + ["tallinn"] * 2
near_transitions = st.sampled_from(list(zip(ZONE_OF_TRANSITION, TRANSITIONS, strict=True)))
anywhere = st.tuples(st.sampled_from(sorted(CALENDAR_SPECS)), st.floats(SPAN_START, SPAN_END))


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(near_transitions, anywhere),
    st.integers(-30 * 60, 6 * 60),
    st.integers(0, 40 * 60),
)
def test_matches_minute_by_minute_reference(
    calendar_and_anchor: tuple[str, float], shift: int, span: int
) -> None:
    name, anchor = calendar_and_anchor
    calendar = CALENDARS[name]
    start = int(anchor) // 60 * 60 + shift * 60
    open_minutes = _reference_minutes(name, start, start + span * 60)
    assert calendar.between(start, start + span * 60) == 60 * sum(open_minutes)
    # add: the earliest minute boundary by which the first k open minutes have passed.
    total = sum(open_minutes)
    ends = [index + 1 for index, is_open in enumerate(open_minutes) if is_open]
    for k in {k for k in (1, total // 2, total) if 0 < k <= total}:
        assert calendar.add(start, 60.0 * k) == start + 60 * ends[k - 1]
