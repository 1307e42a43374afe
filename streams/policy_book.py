"""The SLA policy model: targets per brand, narrowed by platform and priority.

A :class:`PolicyBook` is a stack of :class:`PolicyEntry` layers. Each entry selects cases
by any of brand, platform and priority (``defaults`` selects every case) and sets some
fields; a field it leaves out is inherited from the less specific entries that match the
same case. Specificity ranks brand over priority over platform::

    defaults < */x/* < */*/urgent < */x/urgent < du/*/* < du/x/* < du/*/urgent < du/x/urgent

so for a case of brand ``du`` on ``x`` with priority ``urgent`` every field comes from the
most specific matching entry that sets it; :meth:`PolicyBook.match` is a dictionary
lookup. The YAML form is read by :mod:`streams.policy`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from streams.calendar import ALWAYS_OPEN, Calendar
from streams.errors import ConfigError
from streams.events import Priority

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
TARGET_NAMES = ("first_reply", "next_reply", "resolution")


@dataclass(frozen=True, slots=True)
class Targets:
    """Targets in seconds (business seconds where the policy has a calendar); ``None``: no SLA."""

    first_reply: float | None = None
    next_reply: float | None = None
    resolution: float | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A fully resolved policy. ``name`` names the most specific entry that matched
    (``du/x/urgent``, ``du/*/*``, ``defaults``); ``warn_before`` and
    ``auto_resolve_after`` are seconds or ``None`` (no warning, no auto-resolution)."""

    name: str
    targets: Targets
    warn_before: float | None = None
    calendar: Calendar = field(default=ALWAYS_OPEN)
    bot_replies_count: bool = False
    auto_resolve_after: float | None = None


class Inherit(Enum):
    """Marks a field an entry leaves to less specific entries."""

    INHERIT = "inherit"


INHERIT = Inherit.INHERIT
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Selector:
    """Which cases an entry applies to; ``None`` matches any value."""

    brand: str | None = None
    platform: str | None = None
    priority: Priority | None = None

    @property
    def rank(self) -> int:
        """Specificity: brand outweighs priority, which outweighs platform."""
        return (
            4 * (self.brand is not None)
            + 2 * (self.priority is not None)
            + (self.platform is not None)
        )

    @property
    def name(self) -> str:
        if self.rank == 0:
            return "defaults"
        return "/".join(part or "*" for part in (self.brand, self.platform, self.priority))

    def covers(self, brand: str | None, platform: str | None, priority: Priority) -> bool:
        return (
            self.brand in (None, brand)
            and self.platform in (None, platform)
            and self.priority in (None, priority)
        )


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One layer: a selector and the fields it sets (``INHERIT``: left to less specific
    entries). ``source`` is the entry's path in the configuration, for error messages."""

    selector: Selector
    source: str
    first_reply: float | Inherit | None = INHERIT
    next_reply: float | Inherit | None = INHERIT
    resolution: float | Inherit | None = INHERIT
    warn_before: float | Inherit | None = INHERIT
    calendar: Calendar | Inherit = INHERIT
    bot_replies_count: bool | Inherit = INHERIT
    auto_resolve_after: float | Inherit | None = INHERIT

    def target(self, name: str) -> float | Inherit | None:
        value: float | Inherit | None = getattr(self, name)
        return value


def _layered(values: Iterable[T | Inherit], default: T) -> T:
    """The last value that is not ``INHERIT``, else ``default``."""
    chosen = default
    for value in values:
        if not isinstance(value, Inherit):
            chosen = value
    return chosen


_Key = tuple[str | None, str | None, Priority]


class PolicyBook:
    """All policies of a deployment; :meth:`match` picks the most specific one.

    Construction checks the entries as a whole (duplicate selectors, ``warn_before`` not
    shorter than a target in any combination) and raises ``ConfigError``. A book without
    entries gives every case ``Policy("defaults", Targets())``: 24/7, no targets.
    """

    def __init__(self, entries: Sequence[PolicyEntry] = ()) -> None:
        seen: dict[Selector, PolicyEntry] = {}
        for entry in entries:
            if entry.selector in seen:
                other = seen[entry.selector]
                raise ConfigError(entry.source, f"{entry.selector.name} repeats {other.source}")
            seen[entry.selector] = entry
        self._entries = sorted(entries, key=lambda entry: entry.selector.rank)
        self._brands = frozenset(e.selector.brand for e in entries if e.selector.brand)
        self._platforms = frozenset(e.selector.platform for e in entries if e.selector.platform)
        self._resolved: dict[_Key, Policy] = {}
        for brand in (*sorted(self._brands), None):
            for platform in (*sorted(self._platforms), None):
                for priority in Priority:
                    self._resolved[(brand, platform, priority)] = self._resolve(
                        (brand, platform, priority)
                    )

    @classmethod
    def uniform(cls, policy: Policy) -> PolicyBook:
        """A book that gives every case ``policy`` (for tests and single-policy setups)."""
        targets = policy.targets
        entry = PolicyEntry(
            Selector(), "defaults", targets.first_reply, targets.next_reply, targets.resolution,
            policy.warn_before, policy.calendar, policy.bot_replies_count,
            policy.auto_resolve_after,
        )  # fmt: skip
        return cls([entry])

    def match(self, brand: str, platform: str, priority: Priority) -> Policy:
        """The resolved policy of a case: a dictionary lookup, precomputed at construction
        for every listed brand and platform (others share the ``*`` policies)."""
        brand_key = brand if brand in self._brands else None
        platform_key = platform if platform in self._platforms else None
        return self._resolved[(brand_key, platform_key, Priority(priority))]

    def target_seconds(self) -> frozenset[float]:
        """Every configured target, for histogram bucket bounds."""
        return frozenset(
            value
            for entry in self._entries
            for name in TARGET_NAMES
            if isinstance(value := entry.target(name), float | int)
        )

    def policies(self) -> Mapping[tuple[str | None, str | None, Priority], Policy]:
        """The resolved policy of every (brand, platform, priority) combination of listed
        brands and platforms; ``None`` stands for any brand or platform no entry names."""
        return dict(self._resolved)

    def _resolve(self, key: _Key) -> Policy:
        chain = [entry for entry in self._entries if entry.selector.covers(*key)]
        targets = Targets(*(_layered((e.target(n) for e in chain), None) for n in TARGET_NAMES))
        policy = Policy(
            name=chain[-1].selector.name if chain else "defaults",
            targets=targets,
            warn_before=_layered((e.warn_before for e in chain), None),
            calendar=_layered((e.calendar for e in chain), ALWAYS_OPEN),
            bot_replies_count=_layered((e.bot_replies_count for e in chain), False),
            auto_resolve_after=_layered((e.auto_resolve_after for e in chain), None),
        )
        _check_warning(policy, chain, "/".join(part or "*" for part in key))
        return policy


def _last_setter(chain: Sequence[PolicyEntry], name: str) -> PolicyEntry:
    return [entry for entry in chain if not isinstance(getattr(entry, name), Inherit)][-1]


def _check_warning(policy: Policy, chain: Sequence[PolicyEntry], case: str) -> None:
    """``warn_before`` must be shorter than every target; blame the more specific of the
    two entries that set the clashing values (``warn_before`` when it is the same one)."""
    warn = policy.warn_before
    if warn is None:
        return
    warn_entry = _last_setter(chain, "warn_before")
    for name in TARGET_NAMES:
        target = getattr(policy.targets, name)
        if target is None or warn < target:
            continue
        target_entry = _last_setter(chain, name)
        if chain.index(warn_entry) >= chain.index(target_entry):
            where = f"{warn_entry.source}.warn_before"
        else:
            where = f"{target_entry.source}.targets.{name}"
        raise ConfigError(
            where,
            f"warn_before {format_duration(warn)} (from {warn_entry.source}) must be shorter "
            f"than targets.{name} {format_duration(target)} (from {target_entry.source}) "
            f"for cases {case}",
        )


def parse_duration(value: object, field: str) -> float:
    """Seconds of a positive duration: a number of seconds, or ``90s``, ``15m``,
    ``1h30m``, ``2d`` (units d, h, m, s in that order, whole numbers)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _duration_text(value)
    if seconds is None or not math.isfinite(seconds):
        raise ConfigError(field, f"expected a duration such as 90s, 15m, 1h30m, 2d, got {value!r}")
    if seconds <= 0:
        raise ConfigError(field, f"must be positive, got {value!r}")
    return seconds


def _duration_text(text: str) -> float | None:
    if _NUMBER.fullmatch(text):
        return float(text)
    found = _DURATION.fullmatch(text) if text else None
    if found is None:
        return None
    return float(
        sum(int(n or 0) * unit for n, (_, unit) in zip(found.groups(), _UNITS, strict=True))
    )


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`: ``5400`` -> ``1h30m``; a fraction of a
    second as the plain number (``2.5``)."""
    if not (math.isfinite(seconds) and seconds > 0 and seconds == int(seconds)):
        return repr(float(seconds))
    rest, parts = int(seconds), []
    for suffix, unit in _UNITS:
        count, rest = divmod(rest, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)
