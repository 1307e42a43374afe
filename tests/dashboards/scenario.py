"""A care day with an outage, to replay through a real worker while Prometheus watches.

Three phases of steps; each step is :data:`STEP` seconds of event time, sent as one batch
and followed by a clock marker on every partition (replay mode: the stream clock moves
only with what is sent), so the series move in wall time as the steps are played:

* ``baseline``: the 24/7 combinations of :data:`COMBOS` open a case per step (tele2_ru/x
  about ``network`` every other step), the business-hours ones every third step; agents
  answer in minutes; some customers write again, some cases are resolved and reopened;
  bots answer a third; one event per step is sent twice; now and then a straggler
  arrives later than the allowed lateness.
* ``slow`` (a network outage): five more ``network`` cases per step on tele2_ru/x (a
  mention spike); agents answer 30 % of messages 62-90 minutes late and the rest only
  when the outage ends, so deadlines are breached, waits grow past target and p90 first
  reply time rises; a broken source sends invalid lines. The business-hours brands (du,
  mobifone) open no cases then, so no calendar decides whether theirs breach. Customers
  of the outage neither write again nor reopen (no second wave of mentions afterwards).
* ``recovery``: the backlog is answered within minutes of the end of the outage, and the
  day goes on as in the baseline.

Everything is drawn from a seeded ``random.Random``, so a scenario is reproducible.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace

from streams.events import AuthorType, CareEvent, Kind, Priority, Status, encode_event

STEP = 300.0  # event seconds per step
MINUTE = 60.0
# brand, platform, priority, topic, lang ("kk" is no configured language: ``other``)
COMBOS = (
    ("tele2_ru", "x", Priority.NORMAL, "network_quality", "ru"),
    ("tele2_ru", "telegram", Priority.URGENT, "billing", "ru"),
    ("china_mobile", "facebook", Priority.NORMAL, "billing", "zh"),
    ("beeline_kz", "webchat", Priority.HIGH, "other", "kk"),
    ("du", "x", Priority.URGENT, "network_quality", "ar"),
    ("mobifone", "facebook", Priority.NORMAL, "other", "vi"),
)
BUSINESS_HOURS_BRANDS = ("du", "mobifone")  # a case every third step, none in the outage
SPIKE = COMBOS[0]
SPIKE_EXTRA = 5
INVALID = (b"not json at all", b'{"schema": "care.event/1"}')


@dataclass
class Step:
    index: int
    phase: str
    until: float  # the stream clock after this step (event time)
    lines: list[tuple[bytes | None, bytes]] = field(default_factory=list)  # (key, value)


class Scenario:
    def __init__(
        self, start: float, baseline: int, slow: int, recovery: int, seed: int = 5
    ) -> None:
        self.start = start
        self.counts = {"baseline": baseline, "slow": slow, "recovery": recovery}
        self.slow_start = start + baseline * STEP
        self.recovery_start = self.slow_start + slow * STEP
        self.end = self.recovery_start + recovery * STEP
        self.rng = random.Random(seed)
        self.cases = 0

    def phase(self, at: float) -> str:
        if at < self.slow_start:
            return "baseline"
        return "slow" if at < self.recovery_start else "recovery"

    def answer_at(self, asked: float, priority: Priority) -> float:
        """When an agent answers a message written at ``asked``."""
        rng = self.rng
        if self.phase(asked) == "slow":
            late = asked + rng.uniform(62, 90) * MINUTE
            if rng.random() < 0.3 and late < self.recovery_start:
                return late
            return self.recovery_start + rng.uniform(0.5, 5) * MINUTE
        if priority is Priority.URGENT:
            return asked + rng.uniform(0.5, 3) * MINUTE  # du/x/urgent has 4 minutes
        return asked + rng.uniform(2, 20) * MINUTE

    def case(self, opened: float, combo: tuple[str, str, Priority, str, str]) -> list[CareEvent]:
        brand, platform, priority, topic, lang = combo
        n = self.cases
        calm = self.phase(opened) != "slow"
        self.cases += 1
        base = CareEvent(
            event_id="",
            kind=Kind.MESSAGE,
            platform=platform,
            brand=brand,
            thread_id=f"t{n}",
            customer_id=f"c{n}",
            occurred_at=opened,
        )
        events: list[CareEvent] = []

        def add(kind: Kind, at: float, **fields: object) -> None:
            event_id = f"sc-{n}-{len(events)}"
            event = replace(base, event_id=event_id, kind=kind, occurred_at=round(at, 3))
            events.append(replace(event, **fields))  # type: ignore[arg-type]

        def message(at: float) -> None:
            add(Kind.MESSAGE, at, priority=priority, topic=topic, lang=lang)

        def reply(at: float) -> None:
            add(Kind.REPLY, at, author_type=AuthorType.HUMAN)

        message(opened)
        if n % 3 == 0:
            add(Kind.REPLY, opened + MINUTE, author_type=AuthorType.BOT)
        last = self.answer_at(opened, priority)
        reply(last)
        if calm and n % 2 == 0:  # the customer writes again: a next reply wait
            again = last + self.rng.uniform(10, 30) * MINUTE
            message(again)
            last = self.answer_at(again, priority)
            reply(last)
        if n % 3 != 2:
            resolved = last + self.rng.uniform(10, 40) * MINUTE
            add(Kind.STATUS, resolved, status=Status.RESOLVED)
            if calm and n % 5 == 0:  # reopened by a new message: a new cycle
                message(resolved + 20 * MINUTE)
                reply(self.answer_at(resolved + 20 * MINUTE, priority))
        return events

    def steps(self) -> list[Step]:
        total = sum(self.counts.values())
        buckets: dict[int, list[CareEvent]] = defaultdict(list)
        stragglers: dict[int, list[CareEvent]] = defaultdict(list)
        for index in range(total):
            at = self.start + index * STEP
            phase = self.phase(at)
            combos = [c for c in COMBOS if phase != "slow" or c[0] not in BUSINESS_HOURS_BRANDS]
            if phase == "slow":
                combos += [SPIKE] * SPIKE_EXTRA
            for combo in combos:
                events = self.case(at + self.rng.uniform(0, STEP - 1), combo)
                for event in events:
                    buckets[int((event.occurred_at - self.start) // STEP)].append(event)
                if phase != "slow" and index % 5 == 1 and combo is COMBOS[2]:
                    # A bot reply that reaches the stream three steps (15 min) late.
                    late = replace(
                        events[0],
                        event_id=f"{events[0].event_id}-late",
                        kind=Kind.REPLY,
                        author_type=AuthorType.BOT,
                        occurred_at=events[0].occurred_at + 90,
                        priority=None,
                        topic=None,
                        lang=None,
                    )
                    stragglers[index + 3].append(late)
        out = []
        for index in range(total):
            until = self.start + (index + 1) * STEP
            step = Step(index, self.phase(until - 1), until)
            events = sorted(buckets.get(index, []), key=lambda e: e.occurred_at)
            for event in [*events, *stragglers.get(index, [])]:
                step.lines.append((event.case_key.encode(), encode_event(event)))
            if step.lines:  # a connector's retry: the first event of the step again
                step.lines.append(step.lines[0])
            if step.phase == "slow":
                step.lines += [(None, line) for line in INVALID]
            out.append(step)
        return out
