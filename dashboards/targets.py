"""SLA targets of the policy file as PromQL label matchers.

A :class:`~streams.policy.PolicyBook` resolves a policy for every combination of listed
brand, listed platform and priority, with ``None`` standing for "any brand (platform) no
entry names". :func:`target_blocks` merges the combinations with equal target into as
few disjoint blocks as it can (priorities first, then platforms, then brands), and
:meth:`TargetBlock.matchers` writes a block as label matchers: a listed value is matched
by name, the ``None`` wildcard by excluding every listed value. So each case label set
of the stream matches exactly the block of the policy the stream applies to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from streams.calendar import AlwaysOpen
from streams.events import Priority
from streams.policy import TARGET_NAMES, Policy, PolicyBook

ALWAYS = "24x7"  # the ``calendar`` label: deadlines in calendar time ...
BUSINESS = "business"  # ... or in business hours (calendar-time gauges cannot compare)

_Value = tuple[float, str]  # target seconds, calendar kind


@dataclass(frozen=True, slots=True)
class TargetBlock:
    sla: str
    seconds: float
    calendar: str
    brands: frozenset[str | None]
    platforms: frozenset[str | None]
    priorities: frozenset[Priority]

    def matchers(self, listed_brands: Iterable[str], listed_platforms: Iterable[str]) -> str:
        """``brand!~"du|mobifone",priority=~"high|normal"``; empty when it matches all."""
        parts = [
            _matcher("brand", self.brands, frozenset(listed_brands)),
            _matcher("platform", self.platforms, frozenset(listed_platforms)),
        ]
        if set(self.priorities) != set(Priority):
            parts.append(_matcher("priority", frozenset(p.value for p in self.priorities), None))
        return ",".join(p for p in parts if p)


def _matcher(label: str, chosen: frozenset[str | None], listed: frozenset[str] | None) -> str:
    if None in chosen:
        excluded = sorted((listed or frozenset()) - chosen)
        return f'{label}!~"{"|".join(excluded)}"' if excluded else ""
    values = sorted(v for v in chosen if v is not None)
    if len(values) == 1:
        return f'{label}="{values[0]}"'
    return f'{label}=~"{"|".join(values)}"'


def calendar_kind(policy: Policy) -> str:
    return ALWAYS if isinstance(policy.calendar, AlwaysOpen) else BUSINESS


def listed(book: PolicyBook) -> tuple[list[str], list[str]]:
    """The brands and platforms policy entries name."""
    keys = book.policies()
    return sorted({b for b, _, _ in keys if b}), sorted({p for _, p, _ in keys if p})


def slas(book: PolicyBook) -> list[str]:
    """The SLAs some policy sets a target for, in the contract's order."""
    policies = book.policies().values()
    return [n for n in TARGET_NAMES if any(getattr(p.targets, n) is not None for p in policies)]


def target_blocks(book: PolicyBook) -> list[TargetBlock]:
    """Disjoint blocks covering every combination that has a target, per SLA."""
    blocks: list[TargetBlock] = []
    for sla in TARGET_NAMES:
        cells: dict[tuple[str | None, str | None, Priority], _Value] = {}
        for key, policy in book.policies().items():
            seconds = getattr(policy.targets, sla)
            if seconds is not None:
                cells[key] = (float(seconds), calendar_kind(policy))
        blocks.extend(_merge(sla, cells))
    return blocks


def _merge(
    sla: str, cells: dict[tuple[str | None, str | None, Priority], _Value]
) -> list[TargetBlock]:
    by_priority: dict[tuple[str | None, str | None, _Value], set[Priority]] = defaultdict(set)
    for (brand, platform, priority), value in cells.items():
        by_priority[(brand, platform, value)].add(priority)
    by_platform: dict[tuple[str | None, frozenset[Priority], _Value], set[str | None]]
    by_platform = defaultdict(set)
    for (brand, platform, value), chosen in by_priority.items():
        by_platform[(brand, frozenset(chosen), value)].add(platform)
    by_brand: dict[tuple[frozenset[str | None], frozenset[Priority], _Value], set[str | None]]
    by_brand = defaultdict(set)
    for (brand, priorities, value), platform_set in by_platform.items():
        by_brand[(frozenset(platform_set), priorities, value)].add(brand)
    blocks = [
        TargetBlock(sla, value[0], value[1], frozenset(brands), platforms, priorities)
        for (platforms, priorities, value), brands in by_brand.items()
    ]
    return sorted(blocks, key=_order)


def _order(block: TargetBlock) -> tuple[str, ...]:
    def names(values: Iterable[str | None]) -> str:
        return ",".join(sorted(v or "*" for v in values))

    return (
        names(block.brands),
        names(block.platforms),
        names(p.value for p in block.priorities),
        f"{block.seconds:020.3f}",
    )
