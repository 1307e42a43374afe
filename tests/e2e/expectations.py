"""What the stream must produce for a whole log, from the per-case reference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.clocks import Counted, CountName, Observed
from streams.events import CareEvent, Kind, Priority
from streams.policy import PolicyBook
from tests.e2e.logs import by_case
from tests.streams.reference import ReferenceCase, expected

Key = tuple[str, tuple[tuple[str, str], ...]]

# Series compared sample by sample (gauges and event lag depend on time, not on the log).
COMPARED = (
    "carewatch_events_total",
    "carewatch_events_rejected_total",
    "carewatch_events_duplicate_total",
    "carewatch_events_late_total",
    "carewatch_sla_decisions_total",
    "carewatch_cases_reopened_total",
    "carewatch_bot_replies_total",
    "carewatch_mentions_total",
    "carewatch_first_reply_seconds_count",
    "carewatch_next_reply_seconds_count",
    "carewatch_resolution_seconds_count",
    "carewatch_first_reply_seconds_sum",
    "carewatch_next_reply_seconds_sum",
    "carewatch_resolution_seconds_sum",
)


def _key(name: str, **labels: str) -> Key:
    return (name, tuple(sorted(labels.items())))


@dataclass
class Reference:
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: Counter[Key] = field(default_factory=Counter)


def reference(events: Sequence[CareEvent], policies: PolicyBook, lateness: float) -> Reference:
    ref = Reference()
    for case_events in by_case(list(events)).values():
        result = expected(case_events, policies, lateness)
        for d in result.decisions:
            ref.decisions[d.decision_id] = d.to_dict()
            ref.samples[
                _key(
                    "carewatch_sla_decisions_total",
                    brand=d.brand,
                    platform=d.platform,
                    priority=d.priority.value,
                    sla=d.sla.value,
                    outcome=d.outcome.value,
                )
            ] += 1
        for effect in result.effects:
            if isinstance(effect, Observed):
                labels = {
                    "brand": effect.brand,
                    "platform": effect.platform,
                    "priority": effect.priority.value,
                }
                if effect.how is not None:
                    labels["how"] = effect.how.value
                name = f"carewatch_{effect.sla.value}_seconds"
                ref.samples[_key(f"{name}_count", **labels)] += 1
                ref.samples[_key(f"{name}_sum", **labels)] += effect.seconds
            else:
                _count(ref, effect, case_events)
    return ref


def _count(ref: Reference, c: Counted, case_events: Sequence[CareEvent]) -> None:
    bp = {"brand": c.brand, "platform": c.platform}
    if c.name is CountName.EVENTS:
        assert c.kind is not None
        ref.samples[_key("carewatch_events_total", kind=c.kind.value, **bp)] += 1
        if c.kind is Kind.MESSAGE:  # the log carries no topic or lang: both count as "other"
            ref.samples[_key("carewatch_mentions_total", topic="other", lang="other", **bp)] += 1
    elif c.name is CountName.DUPLICATE:
        ref.samples[_key("carewatch_events_duplicate_total", **bp)] += 1
    elif c.name is CountName.LATE:
        ref.samples[_key("carewatch_events_late_total", **bp)] += 1
    elif c.name is CountName.BOT_REPLY:
        ref.samples[_key("carewatch_bot_replies_total", **bp)] += 1
    elif c.name is CountName.REOPENED:
        assert c.priority is not None
        ref.samples[_key("carewatch_cases_reopened_total", priority=c.priority.value, **bp)] += 1


def compare_samples(observed: dict[Key, float], ref: Reference) -> list[str]:
    """Differences between /metrics (summed over workers) and the reference, as readable lines."""
    problems = []
    names = set(COMPARED)
    seen = {k: v for k, v in observed.items() if k[0] in names}
    for key in sorted(set(seen) | {k for k in ref.samples if k[0] in names}):
        want = float(ref.samples.get(key, 0.0))
        got = seen.get(key, 0.0)
        if abs(want - got) > 1e-6 * max(1.0, abs(want)):
            problems.append(f"{key}: expected {want}, /metrics says {got}")
    return problems


ROOT_POLICIES = str(Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml")


Labels = tuple[str, str, str]


@dataclass
class Gauges:
    """The three case gauges, by (brand, platform, priority)."""

    open: Counter[Labels] = field(default_factory=Counter)
    awaiting: Counter[Labels] = field(default_factory=Counter)
    oldest: dict[Labels, float] = field(default_factory=dict)


def final_cases(
    events: Sequence[CareEvent], policies: PolicyBook, lateness: float, clock: float
) -> Iterator[tuple[CareEvent, ReferenceCase]]:
    """Each case of the log walked by the reference to ``clock - lateness``."""
    for case_events in by_case(list(events)).values():
        first = case_events[0]
        case = ReferenceCase(first.case_key, first.brand, first.platform, policies, lateness)
        kept = list({e.event_id: e for e in reversed(case_events)}.values())[::-1]
        for event in sorted(kept, key=lambda e: e.occurred_at):
            case.fire_alarms_before(event.occurred_at)
            case.handle(event)
        case.fire_alarms_before(clock - lateness)
        yield first, case


def reference_gauges(
    events: Sequence[CareEvent], policies: PolicyBook, lateness: float, clock: float
) -> Gauges:
    """The gauges at stream clock ``clock``: the reference walked to ``clock - lateness``."""
    gauges = Gauges()
    for first, case in final_cases(events, policies, lateness, clock):
        cycle = case.cycle
        if cycle is None:
            continue
        labels = (first.brand, first.platform, (cycle.priority or Priority.NORMAL).value)
        gauges.open[labels] += 1
        gauges.awaiting[labels] += 0
        gauges.oldest.setdefault(labels, 0.0)
        if cycle.wait is not None:
            gauges.awaiting[labels] += 1
            gauges.oldest[labels] = max(gauges.oldest[labels], clock - cycle.wait.since)
    return gauges


def reference_waiting(
    events: Sequence[CareEvent], policies: PolicyBook, lateness: float, clock: float
) -> list[tuple[float, str]]:
    """(waiting since, case key) of every case waiting for a reply at ``clock``, oldest first."""
    waiting = [
        (case.cycle.wait.since, first.case_key)
        for first, case in final_cases(events, policies, lateness, clock)
        if case.cycle is not None and case.cycle.wait is not None
    ]
    return sorted(waiting)


def observed_gauges(samples: Sequence[dict[Key, float]]) -> Gauges:
    """Gauges from several workers' /metrics: counts summed, oldest wait the maximum."""
    gauges = Gauges()
    for worker in samples:
        for (name, labels), value in worker.items():
            d = dict(labels)
            key = (d.get("brand", ""), d.get("platform", ""), d.get("priority", ""))
            if name == "carewatch_cases_open":
                gauges.open[key] += int(value)
            elif name == "carewatch_cases_awaiting_reply":
                gauges.awaiting[key] += int(value)
            elif name == "carewatch_oldest_awaiting_seconds":
                gauges.oldest[key] = max(gauges.oldest.get(key, 0.0), value)
    return gauges
