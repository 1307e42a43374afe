"""The machine against the reference computation, on random case logs (hypothesis).

(a) in order, replay mode, with the state passed through JSON at random points;
(b) shuffled within the lateness, replay mode, also on a coarse grid of instants;
(c) live mode, the clock being the arrival instant, ticked only when ``next_due`` says;
(d) any arrival order at all: never raises, never decides one deadline twice.
In (a)-(c) decisions must equal the reference's, in order, and effects as a multiset.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.clocks import (
    CaseState,
    Counted,
    CountName,
    Decision,
    Effect,
    Observed,
    Outcome,
    on_clock,
    on_event,
)
from streams.events import CareEvent
from tests.streams.clock_logs import (
    DAY,
    Book,
    Delivery,
    case_logs,
    policies,
    replay,
    within_lateness,
)
from tests.streams.reference import expected

LATENESSES = st.sampled_from([1.0, 60.0, 900.0])
EXAMPLES = int(os.environ.get("CAREWATCH_CLOCK_EXAMPLES", "250"))  # raise it for a long hunt
RANDOM_LOGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def delays(lateness: float, count: int) -> st.SearchStrategy[list[float]]:
    """How long after it occurred each event arrives: up to the lateness, inclusive."""
    return st.lists(st.floats(0, lateness), min_size=count, max_size=count)


def assert_equal_to_reference(
    out: Delivery, delivered: Sequence[CareEvent], book: Book, lateness: float
) -> None:
    reference = expected(delivered, book, lateness)
    assert out.decisions == reference.decisions
    assert Counter(out.effects) == Counter(reference.effects)


def through_json(state: CaseState) -> CaseState:
    return CaseState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))


@RANDOM_LOGS
@given(case_logs(), policies(), LATENESSES, st.data())
def test_in_order_with_restored_states_equals_the_reference(
    events: list[CareEvent], book: Book, lateness: float, data: st.DataObject
) -> None:
    restore = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    out = Delivery()
    watermark = -math.inf
    for event, restored in zip(events, restore, strict=True):
        watermark = max(watermark, event.occurred_at)
        if restored and out.state is not None:
            out.state = through_json(out.state)
        step = on_event(out.state, event, watermark, book, lateness)
        out.state, out.decisions, out.effects = (
            step.state,
            out.decisions + step.decisions,
            out.effects + step.effects,
        )
    assert out.state is not None
    final = on_clock(through_json(out.state), watermark + 30 * DAY, book, lateness)
    out.decisions += final.decisions
    out.effects += final.effects
    assert_equal_to_reference(out, events, book, lateness)


@RANDOM_LOGS
@given(case_logs(), policies(), LATENESSES, st.data())
def test_shuffled_within_the_lateness_equals_the_reference(
    events: list[CareEvent], book: Book, lateness: float, data: st.DataObject
) -> None:
    late_by = data.draw(delays(lateness, len(events)))
    ties = data.draw(st.permutations(range(len(events))))
    arrivals = within_lateness(events, late_by, ties)
    out = replay(arrivals, book, lateness)
    assert_equal_to_reference(out, arrivals, book, lateness)
    assert not [e for e in out.effects if isinstance(e, Counted) and e.name is CountName.LATE]


@RANDOM_LOGS
@given(case_logs(grid=True), policies(grid=True), st.sampled_from([60.0, 300.0]), st.data())
def test_on_a_coarse_grid_shuffled_within_the_lateness_equals_the_reference(
    events: list[CareEvent], book: Book, lateness: float, data: st.DataObject
) -> None:
    """Instants coincide often here: event-before-timer and timer-order ties matter."""
    late_by = data.draw(
        st.lists(st.sampled_from([0.0, lateness]), min_size=len(events), max_size=len(events))
    )
    ties = data.draw(st.permutations(range(len(events))))
    arrivals = within_lateness(events, late_by, ties)
    assert_equal_to_reference(replay(arrivals, book, lateness), arrivals, book, lateness)


@RANDOM_LOGS
@given(case_logs(), policies(), LATENESSES, st.data())
def test_live_mode_ticked_when_due_equals_the_reference(
    events: list[CareEvent], book: Book, lateness: float, data: st.DataObject
) -> None:
    late_by = data.draw(delays(lateness, len(events)))
    arrivals = within_lateness(events, late_by)
    arrival_at = sorted(e.occurred_at + d for e, d in zip(events, late_by, strict=True))
    jitter = st.floats(0.0, 30.0)
    out = Delivery()
    clock = -math.inf
    for event, now in zip(arrivals, arrival_at, strict=True):
        while out.state is not None and (due := out.state.next_due(lateness)) is not None:
            if clock < due - 0.001 <= now:  # before it is due, a tick finds nothing to do
                early = on_clock(out.state, due - 0.001, book, lateness)
                assert (early.decisions, early.effects) == ([], [])
                out.state, clock = early.state, due - 0.001
            tick = max(due + data.draw(jitter), clock + 0.001)  # at ``due`` or after it
            if tick > now:
                break
            step = on_clock(out.state, tick, book, lateness)
            out.state, clock = step.state, tick
            out.decisions += step.decisions
            out.effects += step.effects
        step = on_event(out.state, event, now, book, lateness)
        out.state, clock = step.state, now
        out.decisions += step.decisions
        out.effects += step.effects
    assert out.state is not None
    final = on_clock(out.state, clock + 30 * DAY, book, lateness)
    out.decisions += final.decisions
    out.effects += final.effects
    assert_equal_to_reference(out, arrivals, book, lateness)


def assert_one_outcome_per_deadline(decisions: list[Decision]) -> None:
    ids = [d.decision_id for d in decisions]
    assert len(ids) == len(set(ids))
    seen: dict[str, list[Outcome]] = {}
    for decision in decisions:
        seen.setdefault(decision.deadline_id, []).append(decision.outcome)
    for outcomes in seen.values():
        assert outcomes in (
            [Outcome.WARNING],
            [Outcome.MET],
            [Outcome.BREACHED],
            [Outcome.WARNING, Outcome.MET],
            [Outcome.WARNING, Outcome.BREACHED],
        ), outcomes


def assert_no_negative_durations(decisions: list[Decision], effects: list[Effect]) -> None:
    assert all(d.elapsed_seconds >= 0 for d in decisions)
    assert all(e.seconds >= 0 for e in effects if isinstance(e, Observed))


@RANDOM_LOGS
@given(case_logs(), policies(), LATENESSES, st.data())
def test_any_arrival_order_never_raises_nor_decides_a_deadline_twice(
    events: list[CareEvent], book: Book, lateness: float, data: st.DataObject
) -> None:
    arrivals = data.draw(st.permutations(events))
    # How far the partition's clock moves after each event, and whether this case is
    # ticked then (False: not due in the deadline index, so its horizon lags).
    ticks = data.draw(
        st.lists(
            st.tuples(st.floats(0, DAY), st.booleans()), min_size=len(events), max_size=len(events)
        )
    )
    out = Delivery()
    clock = -math.inf
    late, ids = 0, set()
    for event, (tick, ticked) in zip(arrivals, ticks, strict=True):
        clock = max(clock, event.occurred_at)
        late += event.event_id not in ids and event.occurred_at < clock - lateness
        ids.add(event.event_id)
        step = on_event(out.state, event, clock, book, lateness)
        out.state = through_json(step.state)
        out.decisions += step.decisions
        out.effects += step.effects
        clock += tick  # the partition's clock moves on with other cases' events
        if ticked:
            step = on_clock(out.state, clock, book, lateness)
            out.state = step.state
            out.decisions += step.decisions
            out.effects += step.effects
    assert out.state is not None
    final = on_clock(out.state, clock + 30 * DAY, book, lateness)
    out.decisions += final.decisions
    out.effects += final.effects
    assert_one_outcome_per_deadline(out.decisions)
    assert_no_negative_durations(out.decisions, out.effects)
    counted = Counter(e.name for e in out.effects if isinstance(e, Counted))
    assert counted[CountName.EVENTS] + counted[CountName.DUPLICATE] == len(events)
    assert counted[CountName.LATE] == late
    assert final.state.next_due(lateness) is None or final.state.pending == []
