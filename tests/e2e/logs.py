"""Seeded case logs for end-to-end runs: many cases over several brands, platforms and
priorities, with bots, internal notes, pending, resolutions, reopens and repeated ids.

The log is in ``occurred_at`` order except for shuffles smaller than the allowed
lateness, so no event is a straggler on any partition and the stream must give exactly
the reference's results.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

from streams.events import AuthorType, CareEvent, Kind, Priority, Status, Visibility

BRANDS = ("du", "tele2_ru", "mobifone", "china_mobile", "beeline_kz")  # the last: defaults
PLATFORMS = ("x", "facebook", "telegram", "webchat", "email")
START = 1_790_000_000.0  # 2026-09-21T14:13:20Z, a Monday


def _case_events(rng: random.Random, n: int, start: float) -> Iterator[CareEvent]:
    brand = rng.choice(BRANDS)
    platform = rng.choice(PLATFORMS)
    base = CareEvent(
        event_id="",
        kind=Kind.MESSAGE,
        platform=platform,
        brand=brand,
        thread_id=f"th{n // 3}",  # several customers share a thread, as on X
        customer_id=f"cu{n}",
        occurred_at=start,
    )
    t = start
    seq = 0

    def make(kind: Kind, **fields: object) -> CareEvent:
        nonlocal seq
        seq += 1
        at = round(t, 3)  # platforms give milliseconds; RFC 3339 keeps them exactly
        return replace(base, event_id=f"ev-{n}-{seq}", kind=kind, occurred_at=at, **fields)  # type: ignore[arg-type]

    priority = rng.choice(
        [None, None, Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
    )
    for _cycle in range(rng.choice([1, 1, 1, 2])):
        for _turn in range(rng.randint(1, 3)):
            for _ in range(rng.randint(1, 2)):
                yield make(Kind.MESSAGE, priority=priority if rng.random() < 0.5 else None)
                t += rng.uniform(5, 300)
            if rng.random() < 0.3:
                yield make(
                    Kind.REPLY, author_type=rng.choice([AuthorType.BOT, AuthorType.AUTOMATION])
                )
                t += rng.uniform(1, 30)
            if rng.random() < 0.15:
                yield make(Kind.REPLY, author_type=AuthorType.HUMAN, visibility=Visibility.INTERNAL)
            if rng.random() < 0.1:
                yield make(Kind.STATUS, status=Status.PENDING)
                t += rng.uniform(60, 7200)
            t += rng.expovariate(1 / 1800)  # agents answer in half an hour on average
            if rng.random() < 0.85:
                visibility = rng.choice([Visibility.PUBLIC, Visibility.PUBLIC, Visibility.PRIVATE])
                yield make(Kind.REPLY, author_type=AuthorType.HUMAN, visibility=visibility)
            t += rng.uniform(60, 3600)
        if rng.random() < 0.6:
            t += rng.uniform(0, 20 * 3600)
            yield make(Kind.STATUS, status=Status.RESOLVED)
        t += rng.uniform(3600, 3 * 86400)
        if rng.random() < 0.1:
            yield make(Kind.STATUS, status=Status.REOPENED)


def generate(cases: int, seed: int = 7, lateness: float = 60.0) -> list[CareEvent]:
    """About ``cases * 6`` events in arrival order (the order they are to be sent in)."""
    rng = random.Random(seed)
    events: list[CareEvent] = []
    span = cases * 20.0  # a new case every 20 s on average
    for n in range(cases):
        events.extend(_case_events(rng, n, START + rng.uniform(0, span)))
    events.sort(key=lambda e: e.occurred_at)
    # Repeats: the same event twice (a connector's retry), soon after the first.
    for i in rng.sample(range(len(events)), k=len(events) // 50):
        events.insert(min(len(events), i + rng.randint(1, 5)), events[i])
    # Disorder within the lateness: swap neighbours less than lateness/2 apart, each
    # event moving one place at most.
    i = 0
    while i < len(events) - 1:
        a, b = events[i], events[i + 1]
        if rng.random() < 0.2 and abs(b.occurred_at - a.occurred_at) < lateness / 2:
            events[i], events[i + 1] = b, a
            i += 2
        else:
            i += 1
    return events


def by_case(events: list[CareEvent]) -> dict[str, list[CareEvent]]:
    cases: dict[str, list[CareEvent]] = defaultdict(list)
    for event in events:
        cases[event.case_key].append(event)
    return cases
