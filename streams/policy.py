"""Reading SLA policies from YAML (docs/policies.md), checked at start-up.

:func:`load_policies` reads the file, :func:`parse_policies` checks the parsed document
and builds a :class:`~streams.policy_book.PolicyBook`; any fault is a ``ConfigError``
naming the dotted path of the offending field (``policies[2].targets.first_reply``).
The model itself (and its names, re-exported here) lives in :mod:`streams.policy_book`;
business calendars in :mod:`streams.calendar`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, datetime

import yaml

from streams.calendar import ALWAYS_OPEN, WEEKDAYS, BusinessCalendar, Calendar
from streams.config_checks import require_list, require_mapping
from streams.errors import ConfigError
from streams.events import Priority
from streams.policy_book import (
    INHERIT,
    TARGET_NAMES,
    Inherit,
    Policy,
    PolicyBook,
    PolicyEntry,
    Selector,
    Targets,
    format_duration,
    parse_duration,
)

__all__ = [
    "INHERIT",
    "TARGET_NAMES",
    "Inherit",
    "Policy",
    "PolicyBook",
    "PolicyEntry",
    "Selector",
    "Targets",
    "calendar_from_config",
    "format_duration",
    "load_policies",
    "parse_duration",
    "parse_policies",
]

_BRAND = re.compile(r"[a-z0-9_-]{1,64}")
_PLATFORM = re.compile(r"[a-z0-9_]{1,32}")
_SETTINGS = ("targets", "warn_before", "calendar", "bot_replies_count", "auto_resolve_after")
_SELECTORS = ("brand", "platform", "priority")


def load_policies(path: str | os.PathLike[str]) -> PolicyBook:
    """Read and check a policy file (docs/policies.md); ``ConfigError`` on any fault."""
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(str(path), f"cannot read: {error.strerror}") from error
    except (yaml.YAMLError, ValueError) as error:  # PyYAML raises ValueError for 2026-13-01
        raise ConfigError(str(path), f"invalid YAML: {error}") from error
    return parse_policies(data, str(path))


def parse_policies(data: object, source: str = "<policies>") -> PolicyBook:
    """Check the parsed YAML document ``data`` and build its book. A ``ConfigError``
    names the dotted field path (``policies[2].targets.first_reply``) and, in its
    detail, ``source``."""
    try:
        return _parse(data)
    except ConfigError as error:
        raise ConfigError(error.field, f"{error.detail} (in {source})") from error


def _parse(data: object) -> PolicyBook:
    if not isinstance(data, Mapping):
        raise ConfigError("(document)", f"expected a mapping, got {type(data).__name__}")
    document = require_mapping(data, "", ("calendars", "defaults", "policies"))
    calendars: dict[str, BusinessCalendar] = {}
    for name, config in require_mapping(document.get("calendars", {}), "calendars", None).items():
        if not isinstance(name, str) or not _BRAND.fullmatch(name):
            raise ConfigError(f"calendars.{name}", "a calendar name must match [a-z0-9_-]{1,64}")
        calendars[name] = calendar_from_config(config, f"calendars.{name}")
    if "defaults" not in document:
        raise ConfigError("defaults", "required: the policy of brands no entry names")
    entries = [_entry(document["defaults"], "defaults", calendars)]
    for index, item in enumerate(require_list(document.get("policies", []), "policies")):
        entries.append(_entry(item, f"policies[{index}]", calendars))
    return PolicyBook(entries)


def _entry(data: object, path: str, calendars: Mapping[str, Calendar]) -> PolicyEntry:
    allowed = _SETTINGS if path == "defaults" else (*_SELECTORS, *_SETTINGS)
    config = require_mapping(data, path, allowed)
    selector = Selector(
        brand=_token(config, "brand", _BRAND, path),
        platform=_token(config, "platform", _PLATFORM, path),
        priority=_priority(config, path),
    )
    if path != "defaults" and selector.rank == 0:
        raise ConfigError(
            path, "names no brand, platform or priority; that is what defaults is for"
        )
    targets = require_mapping(config.get("targets", {}), f"{path}.targets", TARGET_NAMES)
    first, following, resolution = (
        _optional_duration(targets, name, f"{path}.targets") for name in TARGET_NAMES
    )
    return PolicyEntry(
        selector=selector,
        source=path,
        first_reply=first,
        next_reply=following,
        resolution=resolution,
        warn_before=_optional_duration(config, "warn_before", path),
        calendar=_calendar(config, path, calendars),
        bot_replies_count=_flag(config, "bot_replies_count", path),
        auto_resolve_after=_optional_duration(config, "auto_resolve_after", path),
    )


def _token(
    config: Mapping[str, object], key: str, pattern: re.Pattern[str], path: str
) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{path}.{key}", f"{value!r} does not match {pattern.pattern}")
    return value


def _priority(config: Mapping[str, object], path: str) -> Priority | None:
    value = config.get("priority")
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return Priority(value)
    except ValueError:
        names = ", ".join(priority.value for priority in Priority)
        raise ConfigError(f"{path}.priority", f"{value!r} is not one of {names}") from None


def _optional_duration(config: Mapping[str, object], key: str, path: str) -> float | Inherit | None:
    """Absent: inherit; ``null``: explicitly none; else a positive duration."""
    if key not in config:
        return INHERIT
    value = config[key]
    return None if value is None else parse_duration(value, f"{path}.{key}")


def _calendar(
    config: Mapping[str, object], path: str, calendars: Mapping[str, Calendar]
) -> Calendar | Inherit:
    """Absent: inherit; ``null``: 24/7; else the name of a calendar under ``calendars``."""
    if "calendar" not in config:
        return INHERIT
    name = config["calendar"]
    if name is None:
        return ALWAYS_OPEN
    if not isinstance(name, str) or name not in calendars:
        known = ", ".join(sorted(calendars)) or "none defined"
        raise ConfigError(f"{path}.calendar", f"unknown calendar {name!r} (known: {known})")
    return calendars[name]


def _flag(config: Mapping[str, object], key: str, path: str) -> bool | Inherit:
    if key not in config:
        return INHERIT
    value = config[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", f"expected true or false, got {value!r}")
    return value


def calendar_from_config(data: object, field: str) -> BusinessCalendar:
    """Build a calendar from its YAML form (docs/policies.md), e.g.::

        timezone: Asia/Dubai
        hours: {sun: ["08:00-20:00"], thu: ["08:00-13:00", "14:00-20:00"]}
        holidays: {dates: ["2026-12-02"], countries: ["AE", "US-CA"]}

    Every error is a ``ConfigError`` whose field is the dotted path below ``field``.
    """
    config = require_mapping(data, field, ("timezone", "hours", "holidays"))
    for required in ("timezone", "hours"):
        if required not in config:
            raise ConfigError(f"{field}.{required}", "required")
    hours = require_mapping(config["hours"], f"{field}.hours", WEEKDAYS)
    weekly: dict[int | str, list[tuple[str, str]]] = {
        str(day): [
            _split_interval(text, f"{field}.hours.{day}[{index}]")
            for index, text in enumerate(require_list(intervals, f"{field}.hours.{day}"))
        ]
        for day, intervals in hours.items()
    }
    dates: list[date] = []
    countries: list[tuple[str, str | None]] = []
    if "holidays" in config:
        closed = require_mapping(config["holidays"], f"{field}.holidays", ("dates", "countries"))
        path = f"{field}.holidays"
        dates = [
            _holiday_date(item, f"{path}.dates[{index}]")
            for index, item in enumerate(require_list(closed.get("dates", []), f"{path}.dates"))
        ]
        countries = [
            _country(item, f"{path}.countries[{index}]")
            for index, item in enumerate(
                require_list(closed.get("countries", []), f"{path}.countries")
            )
        ]
    timezone = config["timezone"]
    if not isinstance(timezone, str):
        raise ConfigError(f"{field}.timezone", f"expected a time zone name, got {timezone!r}")
    return BusinessCalendar(timezone, weekly, dates, countries, field=field)


def _split_interval(text: object, field: str) -> tuple[str, str]:
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise ConfigError(field, f"expected an interval HH:MM-HH:MM, got {text!r}")
    return parts[0].strip(), parts[1].strip()


def _holiday_date(value: object, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(field, f"expected a date YYYY-MM-DD, got {value!r}")


def _country(value: object, field: str) -> tuple[str, str | None]:
    """``"AE"`` or ``"US-CA"`` (ISO 3166-1 country, optional ISO 3166-2 subdivision)."""
    if not isinstance(value, str) or not value:
        hint = " (quote it: YAML reads NO as false)" if isinstance(value, bool) else ""
        raise ConfigError(field, f"expected a country code such as 'AE' or 'US-CA'{hint}")
    country, _, subdivision = value.partition("-")
    return country, subdivision or None
