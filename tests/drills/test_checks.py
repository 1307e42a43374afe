"""The drills' own judges, without Kafka: each must see the violation it is there to see."""

from __future__ import annotations

from collections import Counter
from typing import Any

from drills.checks import compare_decisions, gauge_problems
from drills.hostile import _parse
from drills.hostile_inputs import FAMILIES, hostile_inputs
from drills.rebalance import Sample, Samples, _gained, settled
from tests.e2e.expectations import Gauges, Reference


def _decision(case: str, sla: str, outcome: str) -> dict[str, Any]:
    return {"decision_id": f"{case}|1|{sla}|1|{outcome}", "outcome": outcome, "case_key": case}


def _reference(*decisions: dict[str, Any]) -> Reference:
    return Reference(decisions={d["decision_id"]: d for d in decisions})


def test_decisions_equal_to_the_reference_with_repeats_pass() -> None:
    met = _decision("a", "first_reply", "met")
    check = compare_decisions([met, dict(met)], _reference(met))
    assert check.problems() == []
    assert check.repeats == 1


def test_a_lost_an_invented_and_a_second_outcome_are_each_reported() -> None:
    met = _decision("a", "first_reply", "met")
    breached = _decision("a", "first_reply", "breached")
    other = _decision("b", "resolution", "met")
    check = compare_decisions([met, breached], _reference(met, other))
    assert (check.lost, check.invented, check.two_outcomes) == (1, 1, 1)
    assert len(check.problems()) == 4  # three counts and the examples


def test_a_repeat_with_other_content_is_reported() -> None:
    met = _decision("a", "first_reply", "met")
    check = compare_decisions([met, {**met, "elapsed_seconds": 1}], _reference(met))
    assert check.differing == 1


def test_gauges_differing_by_one_label_set_are_reported() -> None:
    want = Gauges(open=Counter({("du", "x", "normal"): 3}))
    got = Gauges(open=Counter({("du", "x", "normal"): 4}))
    assert gauge_problems(got, want) == [
        "cases open ('du', 'x', 'normal'): /metrics 4, reference 3"
    ]
    assert gauge_problems(want, want) == []


def test_a_sum_above_the_bound_is_caught() -> None:
    samples = Samples()
    samples.add(Sample(0, open_sum=10, settled=True, bound=10, workers=2))
    samples.add(Sample(1, open_sum=13, settled=False, bound=12, workers=3))
    samples.add(Sample(2, open_sum=13, settled=False, bound=12, workers=3, straddling=True))
    assert [s.chunk for s in samples.above()] == [1]
    assert [s.chunk for s in samples.above_straddling()] == [2]  # reported, not judged


def test_a_sample_straddles_only_when_a_worker_began_counting_a_partition_in_it() -> None:
    def health(partitions: list[int], ready: list[int], generation: int = 3) -> dict[str, object]:
        return {
            "partitions": partitions,
            "ready": ready,
            "generation": generation,
            "ready_generation": generation,
        }

    owner = health([0, 1], [0, 1])
    assert not _gained(owner, owner)
    assert not _gained(owner, health([1], [1]))  # only stopped counting one
    assert not _gained(owner, {**owner, "ready": []})  # revoked, nothing loaded
    assert _gained(health([0, 1], []), owner)  # loaded its cases meanwhile
    assert _gained(None, owner)  # its web server came up with cases loaded
    assert _gained(owner, health([0, 1], [0, 1], generation=4))  # may have left and come back
    assert not _gained(owner, {**owner, "generation": 4})  # a new generation, not loaded yet


def test_settled_needs_every_partition_exactly_once_and_one_generation() -> None:
    ok = {"status": "ok", "generation": 3}
    assert settled([{**ok, "partitions": [0, 1]}, {**ok, "partitions": [2, 3]}])
    assert not settled([{**ok, "partitions": [0, 1, 2]}, {**ok, "partitions": [2, 3]}])
    assert not settled([{**ok, "partitions": [0, 1]}, {**ok, "partitions": [2]}])
    assert not settled(
        [{**ok, "partitions": [0, 1]}, {**ok, "partitions": [2, 3], "generation": 4}]
    )
    assert not settled([{**ok, "partitions": [0, 1, 2, 3]}, None])
    assert not settled([{**ok, "status": "rebalancing", "partitions": [0, 1, 2, 3]}])


def test_every_family_is_drawn_and_judged_as_labelled() -> None:
    seen: Counter[str] = Counter()
    for item in hostile_inputs(1200, seed=11):
        seen[item.family] += 1
        outcome, _ = _parse(item)
        assert not outcome.startswith("crash:"), (item.family, item.body[:200])
        if item.must_reject is True:
            assert outcome != "accepted", (item.family, item.body[:200])
        elif item.must_reject is False:
            assert outcome == "accepted", (item.family, outcome, item.body[:200])
    assert set(seen) == set(FAMILIES)
