"""Policy targets as label matchers: every case label set matches exactly one block per
SLA, and that block carries the target the stream's policy lookup gives the case."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards.targets import ALWAYS, BUSINESS, TargetBlock, listed, slas, target_blocks
from streams.events import Priority
from streams.policy import TARGET_NAMES, PolicyBook, parse_policies

BRANDS = ("du", "tele2_ru", "mobifone", "beeline_kz")
PLATFORMS = ("x", "telegram", "webchat")
_MATCHER = re.compile(r'(\w+)(=~|!~|=|!=)"([^"]*)"')


def matches(block: TargetBlock, book: PolicyBook, labels: dict[str, str]) -> bool:
    """Prometheus' semantics: regex matchers are anchored at both ends."""
    text = block.matchers(*listed(book))
    for label, op, value in _MATCHER.findall(text):
        actual = labels.get(label, "")
        if op == "=" and actual != value:
            return False
        if op == "=~" and not re.fullmatch(value, actual):
            return False
        if op == "!~" and re.fullmatch(value, actual):
            return False
    return True


def check(book: PolicyBook) -> None:
    blocks = target_blocks(book)
    for brand in BRANDS:
        for platform in PLATFORMS:
            for priority in Priority:
                labels = {"brand": brand, "platform": platform, "priority": priority.value}
                policy = book.match(brand, platform, priority)
                for sla in TARGET_NAMES:
                    hits = [b for b in blocks if b.sla == sla and matches(b, book, labels)]
                    want = getattr(policy.targets, sla)
                    if want is None:
                        assert hits == [], (labels, sla)
                        continue
                    assert len(hits) == 1, (labels, sla, hits)
                    assert hits[0].seconds == want
                    assert hits[0].calendar in (ALWAYS, BUSINESS)


def test_the_example_policy(book: PolicyBook) -> None:
    check(book)
    assert slas(book) == ["first_reply", "next_reply", "resolution"]
    urgent_x = [b for b in target_blocks(book) if b.seconds == 240]
    assert len(urgent_x) == 1
    assert urgent_x[0].calendar == BUSINESS  # du works in UAE business hours
    assert urgent_x[0].matchers(*listed(book)) == 'brand="du",platform="x",priority="urgent"'


durations = st.sampled_from(["4m", "15m", "30m", "1h", "2h", "1d", None])
entries = st.fixed_dictionaries(
    {
        "brand": st.sampled_from([None, *BRANDS[:3]]),
        "platform": st.sampled_from([None, *PLATFORMS[:2]]),
        "priority": st.sampled_from([None, *(p.value for p in Priority)]),
        "targets": st.dictionaries(st.sampled_from(TARGET_NAMES), durations, max_size=3),
        "calendar": st.sampled_from([None, "office", "absent"]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(entries, max_size=8), st.dictionaries(st.sampled_from(TARGET_NAMES), durations))
def test_random_policies(items: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    policies, seen = [], set()
    for item in items:
        key = (item["brand"], item["platform"], item["priority"])
        if key in seen or key == (None, None, None):
            continue
        seen.add(key)
        entry = {k: v for k, v in item.items() if v is not None and k != "calendar"}
        if item["calendar"] == "office":
            entry["calendar"] = "office"
        policies.append(entry)
    document = {
        "calendars": {"office": {"timezone": "Europe/Tallinn", "hours": {"mon": ["09:00-17:00"]}}},
        "defaults": {"targets": defaults},
        "policies": policies,
    }
    check(parse_policies(document))
