"""A traffic simulator: telecom customers writing to their operators, and the care teams
(bots first at night, people by day) answering them. It writes contract events
(``care.event/1``) and nothing else, so the stream cannot tell it from real connectors.

:class:`Simulation` is pure and repeatable: for one seed, scenario and start instant it
yields the same events however its simulated clock is advanced (each brand and each
case draws from a random generator of its own). :func:`run` paces it against the wall
clock, ``speed`` simulated seconds per wall second, and sends the events keyed by case
key; about once per wall second it sends a clock marker (:mod:`streams.control`) to
every partition at the simulated now, so replay-mode workers keep time with it even on
a partition no event reached (docs/enrichment.md, "How the demo keeps time").

Customers write without ``lang`` or ``topic`` (the stream enriches them), except that
:data:`GIVEN_LANG_SHARE` of messages carry the ``lang`` a platform would report.

Scenarios:

* ``normal``: people answer within the example policy's targets (deploy/policies.example
  .yaml), by day and by night, so no deadline of a 24/7 brand is missed and the alerts
  stay quiet; see :data:`DAY_DELAY` and its siblings.
* ``outage``: a network failure at :data:`OUTAGE_BRAND`, from :data:`OUTAGE_START` after
  the start for :data:`OUTAGE_HOURS`: :data:`OUTAGE_SURGE` times its traffic, mostly about
  the network, and its people answer in 30 minutes to 3 hours (:data:`OUTAGE_DELAY`), so
  the oldest wait passes every target and most first-reply deadlines are breached. When
  the network is back the team clears the backlog: every message written during the
  outage is answered within :data:`OUTAGE_CATCH_UP` of its end, after which the brand is
  back to normal. At ``--speed 60`` the outage runs from 30 s to 150 s of wall time and
  its backlog is gone by 200 s, which is what lets the alerts fire and resolve in a few
  minutes (docs/demo.md).
* ``bots``: bots answer every message day and night, which stops no clock, while fewer
  people answer, :data:`BOTS_SLOWDOWN` times slower.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import orjson
from kafka import KafkaProducer

from connectors.simulator_phrases import FOLLOW_UPS, MESSAGES
from streams.control import clock_marker
from streams.errors import CarewatchError
from streams.events import (
    AuthorType,
    CareEvent,
    Kind,
    Priority,
    Status,
    Visibility,
    encode_event,
)
from streams.settings import Settings

SCENARIOS: Final = ("normal", "outage", "bots")
TOPICS: Final = ("network_quality", "billing", "products_promotions", "customer_care", "other")
TOPIC_WEIGHTS: Final = (0.25, 0.2, 0.2, 0.15, 0.2)
OUTAGE_BRAND: Final = "tele2_ru"
OUTAGE_START: Final = 1800.0  # simulated seconds after the start: half an hour of calm first
OUTAGE_HOURS: Final = 2.0
OUTAGE_SURGE: Final = 5.0  # times the brand's usual rate of new cases
GIVEN_LANG_SHARE: Final = 0.15
CASES_PER_HOUR: Final = 40.0  # per brand, by day; a third of that at night
SHIFT: Final = (8, 22)  # the day shift, local time; at night bots answer first

# How long a person takes to answer, in simulated seconds: (low, mode, high) of a
# triangular draw. Bounded on purpose: the tightest targets of the example policy are
# 4 min (du's urgent cases on X, in business hours), 15 min (urgent) and 30 min (next
# reply on Tele2's Telegram; the oldest-wait alert holds every wait of a label set against
# the stricter of its first and next reply targets), and a wait shows in the oldest-wait
# gauge up to the allowed lateness plus one clock marker (a simulated minute or two)
# after its answer. So outside an outage the longest waits, 4 min by day and 8 min at
# night for urgent cases, 20 and 25 min for the others, miss no reply deadline and set
# off no alert.
DAY_DELAY: Final = (60.0, 300.0, 1200.0)
DAY_URGENT_DELAY: Final = (20.0, 60.0, 240.0)
NIGHT_DELAY: Final = (120.0, 900.0, 1500.0)  # a small night crew, behind the bots
NIGHT_URGENT_DELAY: Final = (40.0, 150.0, 480.0)
OUTAGE_DELAY: Final = (1800.0, 5400.0, 10800.0)  # 30 min to 3 h: most first replies late
OUTAGE_CATCH_UP: Final = (600.0, 3000.0)  # every outage message answered this soon after
BOTS_SLOWDOWN: Final = 4.0  # the bots scenario's people, this many times slower


@dataclass(frozen=True, slots=True)
class Brand:
    name: str
    utc_offset: float  # hours; the brand's local time decides who is on shift
    languages: tuple[tuple[str, float], ...]  # (lang, weight)
    platforms: tuple[str, ...]


BRANDS: Final = (
    Brand("du", 4, (("ar", 0.6), ("en", 0.4)), ("x", "facebook", "webchat", "email")),
    Brand("tele2_ru", 3, (("ru", 1.0),), ("telegram", "webchat", "email", "x")),
    Brand("mobifone", 7, (("vi", 0.9), ("en", 0.1)), ("facebook", "webchat", "email")),
    Brand("china_mobile", 8, (("zh", 1.0),), ("webchat", "email")),
    Brand("tele2_ee", 2, (("et", 0.6), ("ru", 0.3), ("en", 0.1)), ("facebook", "x", "webchat")),
)


class Simulation:
    """Customer cases of every brand, generated lazily in ``occurred_at`` order."""

    def __init__(self, scenario: str = "normal", seed: int = 1, start: float = 1.79e9) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
        self.scenario = scenario
        self.seed = seed
        self.start = start
        self.now = start
        self._queue: list[tuple[float, int, int, int, CareEvent]] = []
        self._rngs = [random.Random(f"{seed}/{b.name}") for b in BRANDS]
        self._cases = [0] * len(BRANDS)
        self._next = [start + self._gap(i, start) for i in range(len(BRANDS))]

    def advance(self, until: float) -> list[CareEvent]:
        """Every event with ``occurred_at <= until`` not returned before, in time order."""
        for index in range(len(BRANDS)):
            while self._next[index] <= until:
                at = self._next[index]
                for seq, event in enumerate(self._script(index, at)):
                    key = (event.occurred_at, index, self._cases[index], seq, event)
                    heapq.heappush(self._queue, key)
                self._cases[index] += 1
                self._next[index] = at + self._gap(index, at)
        self.now = max(self.now, until)
        out = []
        while self._queue and self._queue[0][0] <= until:
            out.append(heapq.heappop(self._queue)[-1])
        return out

    # -- the world -----------------------------------------------------------------

    @property
    def outage_begins(self) -> float:
        return self.start + OUTAGE_START

    @property
    def outage_ends(self) -> float:
        return self.outage_begins + OUTAGE_HOURS * 3600

    def in_outage(self, brand: Brand, at: float) -> bool:
        return (
            self.scenario == "outage"
            and brand.name == OUTAGE_BRAND
            and self.outage_begins <= at < self.outage_ends
        )

    def on_shift(self, brand: Brand, at: float) -> bool:
        hour = ((at / 3600 + brand.utc_offset) % 24 + 24) % 24
        return SHIFT[0] <= hour < SHIFT[1]

    def _gap(self, index: int, at: float) -> float:
        """Simulated seconds to the brand's next new case (Poisson, rate of the moment)."""
        brand = BRANDS[index]
        rate = CASES_PER_HOUR * (1.0 if self.on_shift(brand, at) else 1 / 3)
        if self.in_outage(brand, at):
            rate *= OUTAGE_SURGE
        return self._rngs[index].expovariate(rate / 3600)

    def _person_answers_at(
        self, rng: random.Random, brand: Brand, since: float, priority: Priority | None
    ) -> float:
        """When a person answers a wait that began at ``since``: within minutes by day,
        a little later at night, 30 minutes to 3 hours in an outage but never later than
        the backlog's catch-up after it (the constants above)."""
        if self.in_outage(brand, since):
            low, mode, high = OUTAGE_DELAY
            caught_up = self.outage_ends + rng.uniform(*OUTAGE_CATCH_UP)
            return min(since + rng.triangular(low, high, mode), caught_up)
        urgent = priority is Priority.URGENT
        if self.on_shift(brand, since):
            low, mode, high = DAY_URGENT_DELAY if urgent else DAY_DELAY
        else:
            low, mode, high = NIGHT_URGENT_DELAY if urgent else NIGHT_DELAY
        slowdown = BOTS_SLOWDOWN if self.scenario == "bots" else 1.0
        return since + slowdown * rng.triangular(low, high, mode)

    # -- one case ------------------------------------------------------------------

    def _script(self, index: int, start: float) -> Iterator[CareEvent]:
        brand = BRANDS[index]
        n = self._cases[index]
        rng = random.Random(f"{self.seed}/{brand.name}/{n}")
        platform = rng.choice(brand.platforms)
        lang = rng.choices([lg for lg, _ in brand.languages], [w for _, w in brand.languages])[0]
        weights = (0.8, 0.05, 0.05, 0.05, 0.05) if self.in_outage(brand, start) else TOPIC_WEIGHTS
        topic = rng.choices(TOPICS, weights)[0]
        # On X several customers answer one brand post: a shared thread, separate cases.
        thread = f"{brand.name}-post-{n // 4}" if platform == "x" else f"{brand.name}-t{n}"
        priority = rng.choices([None, Priority.LOW, Priority.HIGH, Priority.URGENT], [7, 1, 1, 1])[
            0
        ]
        base = CareEvent("", Kind.MESSAGE, platform, brand.name, thread, f"cust-{n}", start)
        seq = 0

        def event(kind: Kind, at: float, **fields: object) -> CareEvent:
            nonlocal seq
            seq += 1
            event_id = f"sim{self.seed}-{brand.name}-{n}-{seq}"
            return CareEvent(
                event_id, kind, platform, brand.name, thread, base.customer_id,
                round(at, 3), **fields,  # type: ignore[arg-type]
            )  # fmt: skip

        def says(text: str, at: float) -> CareEvent:
            given = lang if rng.random() < GIVEN_LANG_SHARE else None
            return event(Kind.MESSAGE, at, text=text, lang=given, priority=priority)

        def answer(at: float, waited_since: float) -> Iterator[CareEvent]:
            bots = self.scenario == "bots" or not self.on_shift(brand, at)
            if bots or rng.random() < 0.1:
                author = AuthorType.BOT if rng.random() < 0.8 else AuthorType.AUTOMATION
                yield event(Kind.REPLY, at + rng.uniform(3, 30), author_type=author,
                            text="Thanks for writing, an agent will answer soon.")  # fmt: skip
            reply_at = self._person_answers_at(rng, brand, waited_since, priority)
            if reply_at - at > 900 and rng.random() < 0.5:  # a follow-up while waiting
                yield says(rng.choice(FOLLOW_UPS[lang]), at + rng.uniform(300, reply_at - at))
            if rng.random() < 0.1:
                yield event(Kind.REPLY, reply_at, author_type=AuthorType.HUMAN,
                            visibility=Visibility.INTERNAL, agent_id=f"agent-{rng.randint(1, 40)}")  # fmt: skip
            visibility = (
                Visibility.PRIVATE if platform in ("telegram", "email") else Visibility.PUBLIC
            )
            yield event(Kind.REPLY, reply_at, author_type=AuthorType.HUMAN, visibility=visibility,
                        agent_id=f"agent-{rng.randint(1, 40)}")  # fmt: skip

        t = start
        yield says(rng.choice(MESSAGES[lang][topic]), t)
        replies = list(answer(t, t))
        yield from replies
        t = max(e.occurred_at for e in replies)
        if rng.random() < 0.1:  # waiting on the customer
            yield event(Kind.STATUS, t + rng.uniform(30, 300), status=Status.PENDING)
            t += rng.uniform(600, 3600)
            yield says(rng.choice(MESSAGES[lang][topic]), t)
            replies = list(answer(t, t))
            yield from replies
            t = max(e.occurred_at for e in replies)
        elif rng.random() < 0.35:  # the customer writes again: a next-reply wait
            t += rng.uniform(60, 1200)
            yield says(rng.choice(MESSAGES[lang][topic]), t)
            replies = list(answer(t, t))
            yield from replies
            t = max(e.occurred_at for e in replies)
        # Resolved minutes after the answer, or (a quarter of the cases) once the customer
        # has stayed silent for hours: every case well within its resolution target (12
        # business hours at the least), so that clock is breached only in an outage.
        t += rng.uniform(120, 1800) if rng.random() < 0.75 else rng.uniform(3600, 6 * 3600)
        yield event(Kind.STATUS, t, status=Status.RESOLVED)
        if rng.random() < 0.12:  # reopened: the customer comes back, or an agent reopens
            t += rng.uniform(1800, 6 * 3600)
            if rng.random() < 0.8:
                yield says(rng.choice(MESSAGES[lang]["other"] + FOLLOW_UPS[lang]), t)
            else:
                yield event(Kind.STATUS, t, status=Status.REOPENED)
            replies = list(answer(t, t))
            yield from replies
            t = max(e.occurred_at for e in replies) + rng.uniform(120, 1800)
            yield event(Kind.STATUS, t, status=Status.RESOLVED)


# -- pacing and sending ------------------------------------------------------------


@dataclass(slots=True)
class RunStatus:
    """What :func:`run` has done so far (written to ``status_path`` once per second)."""

    scenario: str
    speed: float
    start: float  # simulated start, POSIX seconds
    sim_time: float  # simulated now
    events: int = 0
    markers: int = 0
    wall_seconds: float = 0.0


def run(
    simulation: Simulation,
    *,
    bootstrap: str,
    topic: str,
    speed: float,
    stop: threading.Event,
    duration: float | None = None,
    status_path: Path | None = None,
    wall_clock: Callable[[], float] = time.monotonic,
) -> RunStatus:
    """Send the simulation's events as simulated time passes, ``speed`` times the wall
    clock, until ``stop`` is set or ``duration`` wall seconds pass.

    Ordering: within a partition, every event of a simulated instant is sent before the
    marker that moves the stream clock past it (one producer, one in-flight request per
    connection, so no retry reorders them). Blocks; returns after flushing.
    """
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=50, retries=10,
        max_in_flight_requests_per_connection=1,
    )  # fmt: skip
    try:
        partitions = sorted(producer.partitions_for(topic) or ())
        if not partitions:
            raise CarewatchError(f"topic {topic} has no partitions (create the topics first)")
        began = wall_clock()
        status = RunStatus(simulation.scenario, speed, simulation.start, simulation.start)
        next_marker = began
        while not stop.is_set():
            elapsed = wall_clock() - began
            if duration is not None and elapsed >= duration:
                break
            now = simulation.start + elapsed * speed
            for event in simulation.advance(now):
                producer.send(topic, key=event.case_key.encode(), value=encode_event(event))
                status.events += 1
            if wall_clock() >= next_marker:
                headers, value = clock_marker(now)
                for partition in partitions:
                    producer.send(topic, value=value, headers=headers, partition=partition)
                status.markers += 1
                status.sim_time, status.wall_seconds = now, elapsed
                next_marker += 1.0
                if status_path is not None:
                    _write_status(status_path, status)
            stop.wait(0.1)
        producer.flush()
        if status_path is not None:
            _write_status(status_path, status)
        return status
    finally:
        producer.close()


def _write_status(path: Path, status: RunStatus) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(asdict(status)))
    tmp.replace(path)  # atomic: a reader never sees half a file


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.simulator``: simulated traffic into ``care.events.v1``."""
    parser = argparse.ArgumentParser(prog="python -m connectors.simulator", description=__doc__)
    parser.add_argument("--scenario", choices=SCENARIOS, default="normal")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated s per wall s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=float, help="simulated start, POSIX s (default now)")
    parser.add_argument("--duration", type=float, help="wall seconds (default: until stopped)")
    parser.add_argument("--status", type=Path, help="JSON status file, rewritten each second")
    parser.add_argument("--bootstrap", help="Kafka host:port (default $CAREWATCH_BOOTSTRAP)")
    args = parser.parse_args(argv)
    if not 0 < args.speed < math.inf:
        parser.error("--speed must be a positive number")
    settings = Settings.from_env(bootstrap=args.bootstrap)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    start = args.start if args.start is not None else round(time.time())
    status = run(
        Simulation(args.scenario, args.seed, start),
        bootstrap=settings.bootstrap,
        topic=settings.events_topic,
        speed=args.speed,
        stop=stop,
        duration=args.duration,
        status_path=args.status,
    )
    print(f"simulator: {status.events} events, {status.markers} clock markers, "
          f"{status.sim_time - start:.0f} simulated s in {status.wall_seconds:.0f} wall s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
