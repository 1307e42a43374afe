"""SLA policies: the example file, specificity and inheritance, every validation error
with its exact field path, and durations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from streams.calendar import ALWAYS_OPEN, BusinessCalendar
from streams.errors import ConfigError
from streams.events import Priority
from streams.policy import (
    Policy,
    PolicyBook,
    Targets,
    format_duration,
    load_policies,
    parse_duration,
    parse_policies,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"
MIN, HOUR = 60.0, 3600.0
URGENT, HIGH, NORMAL, LOW = Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW


def book_of(text: str) -> PolicyBook:
    return parse_policies(yaml.safe_load(text), "test.yaml")


# -- the example file -------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> PolicyBook:
    return load_policies(EXAMPLE)


@pytest.mark.parametrize(
    ("brand", "platform", "priority", "name", "first", "next_", "resolution"),
    [
        ("du", "x", URGENT, "du/x/urgent", 4 * MIN, HOUR, 24 * HOUR),
        ("du", "facebook", URGENT, "du/*/*", 15 * MIN, HOUR, 24 * HOUR),
        ("du", "x", NORMAL, "du/*/*", HOUR, HOUR, 24 * HOUR),
        ("tele2_ru", "telegram", NORMAL, "tele2_ru/telegram/*", HOUR, 30 * MIN, 24 * HOUR),
        ("tele2_ru", "vk", URGENT, "tele2_ru/*/*", 15 * MIN, HOUR, 24 * HOUR),
        ("mobifone", "facebook", HIGH, "mobifone/*/*", HOUR, HOUR, 12 * HOUR),
        ("china_mobile", "webchat", LOW, "china_mobile/*/low", 2 * HOUR, HOUR, None),
        ("china_mobile", "webchat", NORMAL, "china_mobile/*/*", HOUR, HOUR, 48 * HOUR),
        ("elisa", "x", URGENT, "*/*/urgent", 15 * MIN, HOUR, 24 * HOUR),
        ("elisa", "email", NORMAL, "defaults", HOUR, HOUR, 24 * HOUR),
    ],
)
def test_example_file_targets(
    example: PolicyBook,
    brand: str,
    platform: str,
    priority: Priority,
    name: str,
    first: float,
    next_: float,
    resolution: float | None,
) -> None:
    policy = example.match(brand, platform, priority)
    assert policy.name == name
    assert policy.targets == Targets(first, next_, resolution)
    assert policy.warn_before is not None
    assert all(policy.warn_before < t for t in (first, next_, resolution) if t is not None)


def test_example_file_settings(example: PolicyBook) -> None:
    du = example.match("du", "x", URGENT)
    assert isinstance(du.calendar, BusinessCalendar)
    assert du.warn_before == MIN
    assert du.calendar is example.match("du", "email", LOW).calendar
    # Thursday 2026-12-03 is a UAE National Day holiday; Sunday 12-06 opens at 08:00 Dubai.
    thursday_noon = 1796284800.0  # 2026-12-03 12:00 Asia/Dubai
    assert du.calendar.add(thursday_noon, 60) == 1796529660.0  # 2026-12-06 08:01 Dubai
    tele2 = example.match("tele2_ru", "telegram", NORMAL)
    assert tele2.calendar is ALWAYS_OPEN
    assert tele2.bot_replies_count is False
    assert tele2.auto_resolve_after == 48 * HOUR
    assert example.match("china_mobile", "x", NORMAL).auto_resolve_after is None
    assert example.target_seconds() == {
        4 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR
    }  # fmt: skip


# -- specificity and inheritance --------------------------------------------------------

LAYERS = """
defaults:
  targets: {first_reply: 1h, next_reply: 1h, resolution: 24h}
  warn_before: 2m
  auto_resolve_after: 7d
policies:
  - platform: x
    targets: {resolution: 20h}
  - priority: urgent
    targets: {first_reply: 30m}
  - brand: acme
    targets: {next_reply: 50m}
    bot_replies_count: true
  - brand: acme
    platform: x
    targets: {first_reply: 40m, resolution: 10h}
    auto_resolve_after: null
  - brand: acme
    priority: urgent
    targets: {first_reply: 10m}
  - brand: acme
    platform: x
    priority: low
    targets: {first_reply: 3h, resolution: null}
"""


@pytest.mark.parametrize(
    ("brand", "platform", "priority", "name", "targets", "bots", "auto"),
    [
        ("other", "email", NORMAL, "defaults", (60, 60, 1440), False, 7 * 1440),
        ("other", "x", NORMAL, "*/x/*", (60, 60, 1200), False, 7 * 1440),
        ("other", "x", URGENT, "*/*/urgent", (30, 60, 1200), False, 7 * 1440),
        ("acme", "email", NORMAL, "acme/*/*", (60, 50, 1440), True, 7 * 1440),
        # a brand entry beats every entry that names no brand: urgent 30m is not used
        ("acme", "email", URGENT, "acme/*/urgent", (10, 50, 1440), True, 7 * 1440),
        ("acme", "x", NORMAL, "acme/x/*", (40, 50, 600), True, None),
        # priority beats platform field by field; the rest still comes from acme/x
        ("acme", "x", URGENT, "acme/*/urgent", (10, 50, 600), True, None),
        ("acme", "x", LOW, "acme/x/low", (180, 50, None), True, None),
    ],
)
def test_most_specific_entry_sets_each_field(
    brand: str,
    platform: str,
    priority: Priority,
    name: str,
    targets: tuple[float | None, ...],
    bots: bool,
    auto: float | None,
) -> None:
    policy = book_of(LAYERS).match(brand, platform, priority)
    minutes = tuple(None if t is None else t * MIN for t in targets)
    expected_auto = None if auto is None else auto * MIN
    assert policy == Policy(name, Targets(*minutes), 2 * MIN, ALWAYS_OPEN, bots, expected_auto)


def test_order_of_entries_does_not_matter() -> None:
    data = yaml.safe_load(LAYERS)
    reversed_data = {**data, "policies": list(reversed(data["policies"]))}
    forward, backward = parse_policies(data), parse_policies(reversed_data)
    for key in forward.policies():
        brand, platform, priority = (part or "unlisted" for part in key)
        assert forward.match(brand, platform, Priority(priority)) == backward.match(
            brand, platform, Priority(priority)
        )


def test_match_is_cached_and_accepts_plain_strings() -> None:
    book = book_of(LAYERS)
    first = book.match("acme", "x", URGENT)
    assert book.match("acme", "x", "urgent") is first  # type: ignore[arg-type]
    assert book.match("nobody", "nowhere", LOW) is book.match("someone", "elsewhere", LOW)
    with pytest.raises(ValueError, match="critical"):
        book.match("acme", "x", "critical")  # type: ignore[arg-type]


def test_calendar_null_means_24_7_and_calendars_inherit() -> None:
    book = book_of(
        """
calendars:
  office: {timezone: Europe/Tallinn, hours: {mon: ["09:00-17:00"]}}
defaults: {calendar: office, targets: {first_reply: 1h}}
policies:
  - {brand: night, calendar: null}
"""
    )
    assert isinstance(book.match("any", "x", NORMAL).calendar, BusinessCalendar)
    assert book.match("night", "x", NORMAL).calendar is ALWAYS_OPEN


def test_empty_and_uniform_books() -> None:
    assert PolicyBook().match("a", "b", NORMAL) == Policy("defaults", Targets())
    assert PolicyBook().target_seconds() == frozenset()
    policy = Policy("defaults", Targets(60.0, None, 3600.0), warn_before=30.0)
    book = PolicyBook.uniform(policy)
    assert book.match("a", "b", URGENT) == policy
    assert book.target_seconds() == {60.0, 3600.0}


# -- validation: one case per error, with the exact field path ---------------------------

D = "defaults: {targets: {first_reply: 1h, next_reply: 1h, resolution: 24h}, warn_before: 15m}\n"
CAL = "calendars:\n  c: {timezone: UTC, hours: {mon: ['09:00-17:00']}}\n"


def _cal(body: str) -> str:
    """A document with the calendar ``c`` written as ``body``."""
    return f"calendars:\n  c: {body}\n{D}"


def _office(extra: str) -> str:
    """A document whose valid calendar ``c`` has one more key."""
    return _cal(f"{{timezone: UTC, hours: {{mon: ['09:00-17:00']}}, {extra}}}")


def _entries(entries: str) -> str:
    """A document with valid defaults and these policy entries."""
    return f"{D}policies: [{entries}]"


INVALID = [
    ("document not a mapping", "- just a list", "(document)"),
    ("unknown top-level key", D + "polices: []", "polices"),
    ("missing defaults", "policies: []", "defaults"),
    ("defaults not a mapping", "defaults: 1h", "defaults"),
    ("defaults with a selector", "defaults: {brand: du}", "defaults.brand"),
    ("policies not a list", D + "policies: {brand: du}", "policies"),
    ("entry not a mapping", _entries("du"), "policies[0]"),
    ("unknown entry key", _entries("{brand: du, target: {first_reply: 1h}}"), "policies[0].target"),
    ("unknown target", _entries("{brand: du, targets: {first_response: 1h}}"), "policies[0].targets.first_response"),
    ("bad duration", _entries("{brand: du, targets: {first_reply: 5x}}"), "policies[0].targets.first_reply"),
    ("duration units out of order", _entries("{brand: du, targets: {first_reply: 30m1h}}"), "policies[0].targets.first_reply"),
    ("zero target", _entries("{brand: du, targets: {first_reply: 0}}"), "policies[0].targets.first_reply"),
    ("zero target with units", _entries("{brand: du, targets: {next_reply: 0h0m}}"), "policies[0].targets.next_reply"),
    ("negative target", _entries("{brand: du, targets: {resolution: -60}}"), "policies[0].targets.resolution"),
    ("boolean target", _entries("{brand: du, targets: {resolution: true}}"), "policies[0].targets.resolution"),
    ("bad warn_before", _entries("{brand: du, warn_before: soon}"), "policies[0].warn_before"),
    ("zero auto_resolve_after", _entries("{brand: du, auto_resolve_after: 0s}"), "policies[0].auto_resolve_after"),
    ("bot flag not boolean", _entries("{brand: du, bot_replies_count: 'yes'}"), "policies[0].bot_replies_count"),
    ("warn_before equal to own target", "defaults: {targets: {first_reply: 15m}, warn_before: 15m}", "defaults.warn_before"),
    ("warn_before longer than inherited target", _entries("{brand: du, warn_before: 2h}"), "policies[0].warn_before"),
    ("target shorter than inherited warn_before", _entries("{brand: du}, {brand: du, platform: x, targets: {first_reply: 4m}}"), "policies[1].targets.first_reply"),
    ("clash only in a combination", _entries("{priority: urgent, targets: {first_reply: 10m}, warn_before: 5m}, {brand: du, warn_before: 12m}"), "policies[1].warn_before"),
    ("unknown calendar", _entries("{brand: du, calendar: office}"), "policies[0].calendar"),
    ("bad brand token", _entries("{brand: DU}"), "policies[0].brand"),
    ("brand too long", D + f"policies: [{{brand: {'a' * 65}}}]", "policies[0].brand"),
    ("bad platform token", _entries("{brand: du, platform: x-com}"), "policies[0].platform"),
    ("numeric platform", _entries("{brand: du, platform: 7}"), "policies[0].platform"),
    ("unknown priority", _entries("{brand: du, priority: critical}"), "policies[0].priority"),
    ("entry without selector", _entries("{targets: {first_reply: 1h}}"), "policies[0]"),
    ("duplicate entry", _entries("{brand: du, platform: x}, {brand: du}, {platform: x, brand: du}"), "policies[2]"),
    ("calendars not a mapping", "calendars: [c]\n" + D, "calendars"),
    ("bad calendar name", "calendars:\n  Office: {timezone: UTC, hours: {mon: ['09:00-17:00']}}\n" + D, "calendars.Office"),
    ("calendar not a mapping", _cal("UTC"), "calendars.c"),
    ("unknown calendar key", _office("open: true"), "calendars.c.open"),
    ("missing timezone", _cal("{hours: {mon: ['09:00-17:00']}}"), "calendars.c.timezone"),
    ("bad timezone", _cal("{timezone: Mars/Olympus, hours: {mon: ['09:00-17:00']}}"), "calendars.c.timezone"),
    ("missing hours", _cal("{timezone: UTC}"), "calendars.c.hours"),
    ("no hours at all", _cal("{timezone: UTC, hours: {mon: []}}"), "calendars.c.hours"),
    ("unknown weekday", _cal("{timezone: UTC, hours: {monday: ['09:00-17:00']}}"), "calendars.c.hours.monday"),
    ("hours not a list", _cal("{timezone: UTC, hours: {mon: '09:00-17:00'}}"), "calendars.c.hours.mon"),
    ("not an interval", _cal("{timezone: UTC, hours: {mon: ['09:00']}}"), "calendars.c.hours.mon[0]"),
    ("bad HH:MM", _cal("{timezone: UTC, hours: {mon: ['09:00-17:00', '9am-5pm']}}"), "calendars.c.hours.mon[1]"),
    ("hour out of range", _cal("{timezone: UTC, hours: {tue: ['25:00-26:00']}}"), "calendars.c.hours.tue[0]"),
    ("inverted interval", _cal("{timezone: UTC, hours: {wed: ['17:00-09:00']}}"), "calendars.c.hours.wed[0]"),
    ("overlapping intervals", _cal("{timezone: UTC, hours: {thu: ['09:00-13:00', '12:00-18:00']}}"), "calendars.c.hours.thu[1]"),
    ("unknown holiday key", _office("holidays: {days: []}"), "calendars.c.holidays.days"),
    ("unknown holiday country", _office("holidays: {countries: [AE, XX]}"), "calendars.c.holidays.countries[1]"),
    ("unknown subdivision", _office("holidays: {countries: [US-ZZ]}"), "calendars.c.holidays.countries[0]"),
    ("unquoted NO", _office("holidays: {countries: [NO]}"), "calendars.c.holidays.countries[0]"),
    ("bad holiday date", _office("holidays: {dates: ['2026-13-01']}"), "calendars.c.holidays.dates[0]"),
    ("holiday with a time", _office("holidays: {dates: [2026-12-01T10:00:00]}"), "calendars.c.holidays.dates[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_configuration_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        book_of(text)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert str(caught.value).endswith("(in test.yaml)")


def test_every_valid_case_of_the_table_base_loads() -> None:
    """The invalid cases differ from these valid documents by the one fault."""
    book_of(D + "policies: [{brand: du, platform: x, priority: urgent}]")
    book_of(CAL + D + "policies: [{brand: du, calendar: c}]")
    book_of(_cal("{timezone: UTC, hours: {mon: ['09:00-17:00']}, holidays: {countries: ['NO']}}"))


def test_warn_before_clash_message_names_both_sources() -> None:
    with pytest.raises(ConfigError) as caught:
        book_of(D + "policies: [{brand: du}, {brand: du, platform: x, targets: {first_reply: 4m}}]")
    assert "warn_before 15m (from defaults)" in str(caught.value)
    assert "targets.first_reply 4m (from policies[1])" in str(caught.value)
    assert "du/x/" in str(caught.value)


def test_load_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_policies(missing)
    assert caught.value.field == str(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("defaults: {targets: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML") as caught:
        load_policies(broken)
    assert caught.value.field == str(broken)
    bad_date = tmp_path / "bad_date.yaml"
    bad_date.write_text(_cal("{timezone: UTC, holidays: {dates: [2026-13-01]}}"), encoding="utf-8")
    with pytest.raises(ConfigError, match="month") as caught:
        load_policies(bad_date)
    assert caught.value.field == str(bad_date)


# -- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90), ("15m", 900), ("1h30m", 5400), ("24h", 86400), ("2d", 172800),
        ("1d2h3m4s", 93784), ("90", 90), (90, 90), (2.5, 2.5), ("2.5", 2.5), ("0h1s", 1),
        ("1e-05", 1e-05),
    ],
)  # fmt: skip
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text, "f") == seconds


@pytest.mark.parametrize(
    "text", ["", "h", "1.5h", "1 h", "1H", "-5m", "5", None, True, math.inf, math.nan, -1, 0]
)
def test_parse_duration_rejects(text: object) -> None:
    if text == "5":
        assert parse_duration(text, "f") == 5  # a plain number string is seconds
        return
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "a.b")
    assert caught.value.field == "a.b"


@given(st.integers(1, 10**9))
def test_duration_round_trip(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text, "f") == seconds
    assert parse_duration(yaml.safe_load(text), "f") == seconds  # also as a YAML scalar


@given(st.lists(st.integers(0, 10**5), min_size=4, max_size=4).filter(any))
def test_duration_units_add_up(counts: list[int]) -> None:
    days, hours, minutes, seconds = counts
    text = "".join(f"{n}{u}" for n, u in zip(counts, "dhms", strict=True) if n)
    assert parse_duration(text, "f") == days * 86400 + hours * 3600 + minutes * 60 + seconds


@given(st.floats(0.001, 1e9))
def test_fractional_durations_round_trip(seconds: float) -> None:
    assert parse_duration(format_duration(seconds), "f") == seconds
