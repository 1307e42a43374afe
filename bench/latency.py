"""Live mode: decision latency and breach detection delay, under paced traffic.

One run: a carewatch worker in ``live`` mode (the stream clock is the wall clock,
ticked every ``CAREWATCH_TICK_INTERVAL`` = 1 s, the default) with an allowed lateness of
1 s (``CAREWATCH_LATENESS``) and a policy file written here: first and next reply within
5 s, resolution within 1 h, no warnings. The harness produces events at a fixed rate for
a fixed time, each stamped ``occurred_at`` = the wall clock when it is produced: a new
case's first message, and, for 90 % of cases, a human reply 0.2-3 s later (the other
10 % are never answered). Every case gets exactly one first-reply outcome.

What is measured, per decision, is *decision produced minus decision due*: the Kafka
timestamp of the decision in ``care.sla.v1`` (the topic is created with
``message.timestamp.type=LogAppendTime``, so it is the instant the broker appended it)
minus its ``decided_at``. By design (README, "The stream clock, lateness and
exactness") a decision is due one lateness after the instant it is about:

- ``met``: the reply's ``occurred_at`` + 1 s. Event produced to decision is therefore
  this figure plus the 1 s lateness (reported beside it);
- ``breached`` (breach detection delay): the deadline + 1 s, i.e. the time from
  "deadline plus the allowed lateness" to the decision being in Kafka.
"""

from __future__ import annotations

import heapq
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # type: ignore[import-untyped]

from bench.cluster import BenchError, GroupWatch, Sender, create_topics
from bench.logs import BRANDS, LANGS, MESSAGE, PLATFORMS, REPLY, Case, encode
from bench.processes import Processes, Worker
from bench.throughput import Target, worker_settings

LATENESS = 1.0
TARGET = 5.0
POLICY = """# written by the benchmark (bench/latency.py)
defaults:
  targets: {first_reply: 5s, next_reply: 5s, resolution: 1h}
  warn_before: null
"""
ANSWERED = 0.9
REPLY_AFTER = (0.2, 3.0)  # seconds after the message


@dataclass(frozen=True, slots=True)
class Quantiles:
    n: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Quantiles:
        if not values:
            raise BenchError("no decisions to measure")
        ordered = sorted(values)
        return cls(len(ordered), quantile(ordered, 0.5), quantile(ordered, 0.99), ordered[-1])


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(slots=True)
class Traffic:
    events: int = 0
    cases: int = 0
    answered: int = 0
    in_window: int = 0  # events sent within the paced seconds (not the replies after)


@dataclass(frozen=True, slots=True)
class LiveResult:
    rate: float  # the rate asked for, events/s
    achieved: float  # the rate produced within the paced seconds, events/s
    met: Quantiles  # decision produced - decided_at, seconds
    breached: Quantiles
    other: dict[str, int] = field(default_factory=dict)


def pace(
    sender: Sender,
    topic: str,
    rate: float,
    seconds: float,
    seed: int,
    advance: Callable[[int], None],
) -> Traffic:
    """Produce new cases and their replies at ``rate`` events/s for ``seconds`` (replies
    still due afterwards follow at their time). ``occurred_at`` is the wall clock."""
    rng = random.Random(seed)
    traffic = Traffic()
    replies: list[tuple[float, int, Case]] = []
    started = time.time()
    while True:
        now = time.time()
        elapsed = now - started
        if elapsed >= seconds and not replies:
            break
        allowed = int(rate * elapsed) - traffic.events
        while allowed > 0:
            if replies and replies[0][0] <= now:
                _, _, case = heapq.heappop(replies)
                kind = REPLY
            elif elapsed < seconds:
                case = Case(
                    traffic.cases,
                    rng.choice(BRANDS),
                    rng.choice(PLATFORMS),
                    rng.choice(LANGS),
                    None,
                )
                traffic.cases += 1
                kind = MESSAGE
                if rng.random() < ANSWERED:
                    traffic.answered += 1
                    due = now + rng.uniform(*REPLY_AFTER)
                    heapq.heappush(replies, (due, case.number, case))
            else:
                break
            at = round(time.time(), 3)
            line = encode(case, seed, 0 if kind == MESSAGE else 1, kind, at, rng)
            sender.send(topic, case.key(seed).encode(), line)
            traffic.events += 1
            traffic.in_window += elapsed < seconds
            allowed -= 1
        sender.poll()
        advance(traffic.events)
        time.sleep(0.002)
    sender.flush()
    return traffic


def decisions(
    bootstrap: str, topic: str, partitions: int, cases: int, timeout: float
) -> list[tuple[dict[str, object], float]]:
    """Read ``topic`` until it holds a final first-reply outcome for ``cases`` cases:
    ``(decision, Kafka timestamp in seconds)``, each decision id once."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen: dict[str, tuple[dict[str, object], float]] = {}
    finals = 0
    deadline = time.monotonic() + timeout
    try:
        while finals < cases:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{topic}: {finals} of {cases} first-reply outcomes after {timeout:.0f} s"
                )
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error() is not None:
                    continue
                decision = orjson.loads(message.value())
                if decision["decision_id"] in seen:
                    continue
                seen[decision["decision_id"]] = (decision, message.timestamp()[1] / 1000)
                if decision["sla"] == "first_reply" and decision["outcome"] in ("met", "breached"):
                    finals += 1
    finally:
        consumer.close()
    return list(seen.values())


def _instant(text: object) -> float:
    return datetime.fromisoformat(str(text)).timestamp()


def live(
    bootstrap: str,
    processes: Processes,
    label: str,
    rate: float,
    seconds: float,
    partitions: int,
    advance: Callable[[int], None],
) -> LiveResult:
    """One live run at ``rate`` events/s for ``seconds`` (module docstring)."""
    topic = f"bench.live.{label}"
    group = f"bench-live-{label}"
    target = Target(bootstrap, topic, partitions, 0, label)
    settings = worker_settings(target, group, "live", "memory")
    policy = processes.home / f"policy-{label}.yaml"
    policy.write_text(POLICY)
    settings |= {"CAREWATCH_LATENESS": str(LATENESS), "CAREWATCH_POLICY_FILE": str(policy)}
    create_topics(bootstrap, [topic, settings["CAREWATCH_DEADLETTER_TOPIC"]], partitions)
    create_topics(bootstrap, [settings["CAREWATCH_SLA_TOPIC"]], partitions, append_time=True)
    worker = Worker(processes, group, settings)
    with processes.running(worker.process):
        watch = GroupWatch(bootstrap, group, topic, partitions)
        try:
            watch.wait_owned(1, 180, worker.process.check)
        finally:
            watch.close()
        worker.wait_health(lambda h: len(h["partitions"]) == partitions, 120, "ready")
        sender = Sender(bootstrap, partitions, linger_ms=5)
        traffic = pace(sender, topic, rate, seconds, seed=_seed(label), advance=advance)
        got = decisions(
            bootstrap, settings["CAREWATCH_SLA_TOPIC"], partitions, traffic.cases, 120 + seconds
        )
        worker.process.check()
    met = [ts - _instant(d["decided_at"]) for d, ts in got if d["outcome"] == "met"]
    breached = [ts - _instant(d["decided_at"]) for d, ts in got if d["outcome"] == "breached"]
    other = {"cases": traffic.cases, "events": traffic.events, "decisions": len(got)}
    return LiveResult(
        rate, traffic.in_window / seconds, Quantiles.of(met), Quantiles.of(breached), other
    )


def _seed(label: str) -> int:
    """A number from the run's label, so each live run writes ids of its own."""
    return zlib.crc32(label.encode()) % 1_000_000
