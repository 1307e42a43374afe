"""The Prometheus series of CONTRACT.md section 5: names, types, labels, buckets, and
what each clock effect, decision and scrape-time case gauge exposes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.clocks import Counted, CountName, Decision, How, Observed, Outcome, Sla, on_event
from streams.events import CareEvent, Kind, Priority
from streams.metrics import (
    BASE_BUCKETS,
    SERIES,
    CaseGauges,
    CaseView,
    ConnectorMetrics,
    StreamMetrics,
    reply_buckets,
)
from streams.policy import Policy, PolicyBook, Targets

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "CONTRACT.md"
TARGETS = (240.0, 900.0, 3600.0, 1234.5)
LANGUAGES = ("ru", "en", "ar")
WORKER_SERIES = {
    name for name in SERIES if not name.startswith("carewatch_connector_")
}  # ConnectorMetrics (the connectors' half) is not part of the worker


def contract_series() -> dict[str, tuple[str, tuple[str, ...]]]:
    """``name -> (type, labels)`` read from the table of CONTRACT.md section 5."""
    if not CONTRACT.is_file():
        pytest.skip(f"the shared contract is not at {CONTRACT}")
    text = CONTRACT.read_text(encoding="utf-8")
    section = re.search(r"^## 5\..*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "CONTRACT.md has no section 5"
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.group(0).splitlines():
        match = re.fullmatch(r"\|\s*`(carewatch_\w+)`\s*\|\s*(\w+)\s*\|(.*)\|\s*", line)
        if match is None:
            continue
        name, kind, labels = match.groups()
        labels = re.sub(r"\(.*?\)", "", labels)  # notes such as "(processing time minus ...)"
        rows[name] = (kind, tuple(label.strip() for label in labels.split(",") if label.strip()))
    assert len(rows) >= 10, f"could not read the series table of {CONTRACT}"
    return rows


def test_every_series_matches_the_contract_table() -> None:
    want = contract_series()
    have = {name: (spec.kind, spec.labels) for name, spec in SERIES.items()}
    assert have == want
    assert all(spec.name == name for name, spec in SERIES.items())


def test_label_names_are_the_bounded_set_of_the_contract() -> None:
    bounded = {"brand", "platform", "priority", "sla", "outcome", "how", "kind", "reason"}
    bounded |= {"topic", "lang", "connector"}
    assert {label for spec in SERIES.values() for label in spec.labels} <= bounded


def exposed_types(registry: CollectorRegistry) -> dict[str, str]:
    text = generate_latest(registry).decode()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_a_worker_registry_exposes_every_worker_series_with_its_type() -> None:
    registry = CollectorRegistry()
    StreamMetrics(registry, TARGETS, LANGUAGES)
    registry.register(CaseGauges(lambda: [(0.0, [OPEN_WAITING])]))
    assert exposed_types(registry) == {name: SERIES[name].kind for name in WORKER_SERIES}


def test_histograms_expose_bucket_count_and_sum() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    labels = {"brand": "du", "platform": "x", "priority": "urgent"}
    for sla in (Sla.FIRST_REPLY, Sla.NEXT_REPLY):
        metrics.apply([Observed(sla, 100.0, "du", "x", Priority.URGENT)], [])
    metrics.apply([Observed(Sla.RESOLUTION, 100.0, "du", "x", Priority.URGENT, How.STATUS)], [])
    metrics.lag("x", 1000.0, now=1000.5)
    for name, series_labels in (
        ("carewatch_first_reply_seconds", labels),
        ("carewatch_next_reply_seconds", labels),
        ("carewatch_resolution_seconds", {**labels, "how": "status"}),
        ("carewatch_event_lag_seconds", {"platform": "x"}),
    ):
        assert registry.get_sample_value(f"{name}_count", series_labels) == 1.0
        assert registry.get_sample_value(f"{name}_sum", series_labels) is not None
        inf = registry.get_sample_value(f"{name}_bucket", {**series_labels, "le": "+Inf"})
        assert inf == 1.0


def test_reply_buckets_are_the_base_bounds_plus_every_target_sorted_once() -> None:
    buckets = reply_buckets([3600, 1234.5, 3600.0, 5])
    assert list(buckets) == sorted({*map(float, BASE_BUCKETS), 1234.5, 5.0})
    assert all(isinstance(bound, float) for bound in buckets)


@pytest.mark.parametrize("target", TARGETS)
def test_every_configured_target_is_a_bucket_bound_of_every_reply_histogram(
    target: float,
) -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.apply(
        [
            Observed(Sla.FIRST_REPLY, target, "du", "x", Priority.HIGH),
            Observed(Sla.NEXT_REPLY, target, "du", "x", Priority.HIGH),
            Observed(Sla.RESOLUTION, target, "du", "x", Priority.HIGH, How.AUTO),
        ],
        [],
    )
    text = generate_latest(registry).decode()
    for name in ("first_reply", "next_reply", "resolution"):
        line = re.search(
            rf'^carewatch_{name}_seconds_bucket{{[^}}]*le="{target}"[^}}]*}} (\S+)$', text, re.M
        )
        assert line is not None, f'carewatch_{name}_seconds has no le="{target}" bucket'
        assert float(line.group(1)) == 1.0  # an answer exactly at the target is within it
    assert 'le="3600.0"' in text


def test_an_observation_just_over_a_target_is_outside_its_bucket() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.apply([Observed(Sla.FIRST_REPLY, 3600.001, "du", "x", Priority.NORMAL)], [])
    labels = {"brand": "du", "platform": "x", "priority": "normal"}
    bucket = "carewatch_first_reply_seconds_bucket"
    assert registry.get_sample_value(bucket, {**labels, "le": "3600.0"}) == 0.0
    assert registry.get_sample_value(bucket, {**labels, "le": "7200.0"}) == 1.0
    assert registry.get_sample_value("carewatch_first_reply_seconds_sum", labels) == 3600.001


def test_counted_effects_map_to_their_series_and_labels() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.apply(
        [
            Counted(CountName.EVENTS, "du", "x", kind=Kind.MESSAGE),
            Counted(CountName.EVENTS, "du", "x", kind=Kind.MESSAGE),
            Counted(CountName.EVENTS, "du", "x", kind=Kind.REPLY),
            Counted(CountName.DUPLICATE, "du", "vk"),
            Counted(CountName.LATE, "tele2_ru", "telegram"),
            Counted(CountName.BOT_REPLY, "tele2_ru", "telegram"),
            Counted(CountName.REOPENED, "du", "x", priority=Priority.URGENT),
            Counted(CountName.REOPENED, "du", "x"),
        ],
        [],
    )
    value = registry.get_sample_value
    assert value("carewatch_events_total", {"brand": "du", "platform": "x", "kind": "message"}) == 2
    assert value("carewatch_events_total", {"brand": "du", "platform": "x", "kind": "reply"}) == 1
    assert value("carewatch_events_duplicate_total", {"brand": "du", "platform": "vk"}) == 1
    tele2 = {"brand": "tele2_ru", "platform": "telegram"}
    assert value("carewatch_events_late_total", tele2) == 1
    assert value("carewatch_bot_replies_total", tele2) == 1
    assert value("carewatch_events_duplicate_total", tele2) is None
    reopened = "carewatch_cases_reopened_total"
    assert value(reopened, {"brand": "du", "platform": "x", "priority": "urgent"}) == 1
    assert value(reopened, {"brand": "du", "platform": "x", "priority": "normal"}) == 1


def test_observed_effects_go_to_the_histogram_their_sla_names() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.apply(
        [
            Observed(Sla.FIRST_REPLY, 10.0, "du", "x", Priority.URGENT),
            Observed(Sla.NEXT_REPLY, 20.0, "du", "x", Priority.LOW),
            Observed(Sla.RESOLUTION, 30.0, "du", "x", Priority.HIGH, How.AUTO),
            Observed(Sla.RESOLUTION, 40.0, "du", "x", Priority.HIGH, How.STATUS),
        ],
        [],
    )
    value = registry.get_sample_value
    du = {"brand": "du", "platform": "x"}
    assert value("carewatch_first_reply_seconds_sum", {**du, "priority": "urgent"}) == 10.0
    assert value("carewatch_next_reply_seconds_sum", {**du, "priority": "low"}) == 20.0
    assert value("carewatch_first_reply_seconds_sum", {**du, "priority": "low"}) is None
    resolution = "carewatch_resolution_seconds_sum"
    assert value(resolution, {**du, "priority": "high", "how": "auto"}) == 30.0
    assert value(resolution, {**du, "priority": "high", "how": "status"}) == 40.0


def decision(sla: Sla, outcome: Outcome, priority: Priority = Priority.HIGH) -> Decision:
    return Decision(
        "x:du:t:c", 1, sla, 1, outcome, 900.0, 900.0, 1.0e9, 1.0e9 + 60, "du", "x", priority
    )


def test_decisions_are_counted_by_priority_sla_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.apply(
        [],
        [
            decision(Sla.FIRST_REPLY, Outcome.WARNING),
            decision(Sla.FIRST_REPLY, Outcome.BREACHED),
            decision(Sla.RESOLUTION, Outcome.MET, Priority.LOW),
            decision(Sla.RESOLUTION, Outcome.MET, Priority.LOW),
        ],
    )
    du = {"brand": "du", "platform": "x"}
    value = registry.get_sample_value
    name = "carewatch_sla_decisions_total"
    first = {**du, "priority": "high", "sla": "first_reply"}
    assert value(name, {**first, "outcome": "warning"}) == 1
    assert value(name, {**first, "outcome": "breached"}) == 1
    assert value(name, {**first, "outcome": "met"}) is None
    assert value(name, {**du, "priority": "low", "sla": "resolution", "outcome": "met"}) == 2


@pytest.mark.parametrize(
    ("topic", "lang", "want_topic", "want_lang"),
    [
        ("network", "ru", "network", "ru"),
        ("billing", "fr", "billing", "other"),  # not a configured language
        (None, "en", "other", "en"),
        (None, None, "other", "other"),
        ("network", "other", "network", "other"),
        ("billing", "en-US", "billing", "en"),  # a BCP 47 tag counts under its language
        ("billing", "RU", "billing", "ru"),  # tags are case-insensitive
        ("amira_92", "en", "other", "en"),  # a token no topic rule names (a handle fits)
    ],
)
def test_mentions_bound_topic_and_language(
    topic: str | None, lang: str | None, want_topic: str, want_lang: str
) -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES, topics=("network", "billing"))
    metrics.mention("du", "x", topic, lang)
    labels = {"brand": "du", "platform": "x", "topic": want_topic, "lang": want_lang}
    assert registry.get_sample_value("carewatch_mentions_total", labels) == 1.0
    children = [
        s.labels
        for family in registry.collect()
        for s in family.samples
        if s.name == "carewatch_mentions_total"
    ]
    assert children == [labels]  # no label value outside the bounded set


def test_rejections_are_counted_by_reason() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.reject("bad_json")
    metrics.reject("bad_json")
    metrics.reject("too_large")
    value = registry.get_sample_value
    assert value("carewatch_events_rejected_total", {"reason": "bad_json"}) == 2
    assert value("carewatch_events_rejected_total", {"reason": "too_large"}) == 1


def test_event_lag_is_processing_time_minus_occurred_at_never_negative() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry, TARGETS, LANGUAGES)
    metrics.lag("telegram", 1000.0, now=1002.5)
    metrics.lag("telegram", 1000.0, now=990.0)  # a connector clock ahead of ours
    labels = {"platform": "telegram"}
    assert registry.get_sample_value("carewatch_event_lag_seconds_sum", labels) == 2.5
    assert registry.get_sample_value("carewatch_event_lag_seconds_count", labels) == 2
    bucket = {**labels, "le": "0.05"}
    assert registry.get_sample_value("carewatch_event_lag_seconds_bucket", bucket) == 1


# -- CaseGauges ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    brand: str
    platform: str
    priority: Priority
    is_open: bool
    awaiting_since: float | None


OPEN_WAITING = Case("du", "x", Priority.URGENT, True, 100.0)
Owned = list[tuple[float, list[CaseView]]]


def gauges(owned: Owned) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(CaseGauges(lambda: owned))
    return registry


def gauge(
    registry: CollectorRegistry, name: str, brand: str, platform: str, p: str
) -> float | None:
    labels = {"brand": brand, "platform": platform, "priority": p}
    return registry.get_sample_value(f"carewatch_{name}", labels)


def test_case_gauges_count_open_and_awaiting_cases_per_label_set() -> None:
    cases: list[CaseView] = [
        Case("du", "x", Priority.URGENT, True, 100.0),
        Case("du", "x", Priority.URGENT, True, 400.0),
        Case("du", "x", Priority.URGENT, True, None),  # open, answered
        Case("du", "x", Priority.LOW, True, None),
        Case("mobifone", "facebook", Priority.NORMAL, True, 700.0),
    ]
    registry = gauges([(1000.0, cases)])
    assert gauge(registry, "cases_open", "du", "x", "urgent") == 3
    assert gauge(registry, "cases_awaiting_reply", "du", "x", "urgent") == 2
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "urgent") == 900.0
    assert gauge(registry, "cases_open", "du", "x", "low") == 1
    assert gauge(registry, "cases_awaiting_reply", "du", "x", "low") == 0
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "low") == 0
    assert gauge(registry, "cases_open", "mobifone", "facebook", "normal") == 1
    assert gauge(registry, "oldest_awaiting_seconds", "mobifone", "facebook", "normal") == 300.0


def test_oldest_age_is_measured_against_each_partitions_own_clock() -> None:
    registry = gauges(
        [
            (1000.0, [Case("du", "x", Priority.HIGH, True, 900.0)]),  # waits 100 s
            (5000.0, [Case("du", "x", Priority.HIGH, True, 4500.0)]),  # waits 500 s
            (10.0, [Case("du", "x", Priority.LOW, True, 20.0)]),  # clock behind: 0, not -10
        ]
    )
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "high") == 500.0
    assert gauge(registry, "cases_awaiting_reply", "du", "x", "high") == 2
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "low") == 0.0


def test_closed_cases_are_not_counted() -> None:
    registry = gauges(
        [
            (1000.0, [Case("du", "x", Priority.HIGH, False, None)]),
            (1000.0, [Case("du", "vk", Priority.HIGH, False, 10.0), OPEN_WAITING]),
        ]
    )
    for name in ("cases_open", "cases_awaiting_reply", "oldest_awaiting_seconds"):
        assert gauge(registry, name, "du", "x", "high") is None
        assert gauge(registry, name, "du", "vk", "high") is None
    assert gauge(registry, "cases_open", "du", "x", "urgent") == 1


def test_gauges_are_built_at_each_scrape_from_what_is_owned_then() -> None:
    owned: Owned = [(1000.0, [OPEN_WAITING])]
    registry = gauges(owned)
    assert gauge(registry, "cases_open", "du", "x", "urgent") == 1
    owned.clear()  # every partition revoked
    assert gauge(registry, "cases_open", "du", "x", "urgent") is None
    owned.append((2000.0, [OPEN_WAITING, OPEN_WAITING]))
    assert gauge(registry, "cases_open", "du", "x", "urgent") == 2
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "urgent") == 1900.0


PARTITIONS: dict[int, tuple[float, list[CaseView]]] = {
    0: (1000.0, [Case("du", "x", Priority.URGENT, True, 100.0), OPEN_WAITING]),
    1: (1200.0, [Case("du", "x", Priority.URGENT, True, None)]),
    2: (900.0, [Case("du", "x", Priority.URGENT, True, 50.0), Case("du", "x", Priority.LOW, True, None)]),
    3: (1000.0, [Case("du", "x", Priority.LOW, False, None), Case("vk_b", "vk", Priority.HIGH, True, 1.0)]),
}  # fmt: skip


def worker(partitions: Iterable[int]) -> CollectorRegistry:
    owned = [PARTITIONS[p] for p in partitions]
    registry = CollectorRegistry()
    registry.register(CaseGauges(lambda: owned))
    return registry


SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def samples(registry: CollectorRegistry) -> dict[SampleKey, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


@pytest.mark.parametrize("split", [({0, 1}, {2, 3}), ({0, 2}, {1, 3}), ({3}, {0, 1, 2})])
def test_two_workers_over_disjoint_partitions_sum_to_the_whole(
    split: tuple[set[int], set[int]],
) -> None:
    whole = samples(worker(PARTITIONS))
    first, second = (samples(worker(part)) for part in split)
    for key, value in whole.items():
        parts = [s[key] for s in (first, second) if key in s]
        if key[0] == "carewatch_oldest_awaiting_seconds":
            assert max(parts) == value, key
        else:
            assert sum(parts) == value, key
    assert set(first) | set(second) == set(whole)
    assert (
        whole[
            ("carewatch_cases_open", (("brand", "du"), ("platform", "x"), ("priority", "urgent")))
        ]
        == 4
    )


def test_a_case_state_is_a_case_view() -> None:
    book = PolicyBook.uniform(Policy("test", Targets(first_reply=900.0)))
    event = CareEvent("e1", Kind.MESSAGE, "x", "du", "t1", "c1", 1000.0, priority=Priority.HIGH)
    state = on_event(None, event, 1000.0 + 60, book, 60.0).state
    registry = gauges([(1500.0, [state])])
    assert gauge(registry, "cases_open", "du", "x", "high") == 1
    assert gauge(registry, "oldest_awaiting_seconds", "du", "x", "high") == 500.0


def test_connector_series_start_down_and_count_by_bounded_labels() -> None:
    registry = CollectorRegistry()
    connector = ConnectorMetrics(registry, "x")
    assert registry.get_sample_value("carewatch_connector_up", {"connector": "x"}) == 0
    connector.up(True)
    connector.wrote("x", 3)
    connector.error("rate_limited")
    assert registry.get_sample_value("carewatch_connector_up", {"connector": "x"}) == 1
    assert (
        registry.get_sample_value(
            "carewatch_connector_events_total", {"connector": "x", "platform": "x"}
        )
        == 3
    )
    assert (
        registry.get_sample_value(
            "carewatch_connector_errors_total", {"connector": "x", "reason": "rate_limited"}
        )
        == 1
    )
