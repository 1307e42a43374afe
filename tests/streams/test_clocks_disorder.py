"""Repeats, disorder within the lateness, stragglers, live vs replay, and ticks."""

from __future__ import annotations

from streams.clocks import CaseState, Counted, CountName, Observed, Sla, on_clock, on_event
from streams.events import Status
from tests.streams.clock_logs import (
    KEY,
    LATENESS,
    MIN,
    Book,
    Log,
    at,
    book,
    policy,
    replay,
    within_lateness,
)


def counted(effects: list[object], name: CountName) -> int:
    return sum(1 for e in effects if isinstance(e, Counted) and e.name is name)


def test_a_repeated_event_id_is_only_counted_as_a_duplicate() -> None:
    log = Log()
    message = log.message(0)
    policies = book()
    first = on_event(None, message, at(0), policies, LATENESS)
    again = on_event(first.state, message, at(30), policies, LATENESS)
    assert again.decisions == []
    assert again.effects == [Counted(CountName.DUPLICATE, "acme", "x")]
    assert again.state is first.state  # nothing changed, not even the horizon


def test_a_repeat_with_another_payload_is_still_a_duplicate() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.reply(20, event_id="e2")  # same id as the reply at 5: dropped
    out = replay(log.events, book(policy(resolution=None)))
    assert out.short() == [("first_reply", 1, "met", 5)]
    assert counted(out.effects, CountName.DUPLICATE) == 1
    assert counted(out.effects, CountName.EVENTS) == 2


def test_disorder_within_the_lateness_gives_the_sorted_result() -> None:
    log = Log()
    log.message(0)
    log.reply(0.5)  # 30 s later, delivered first
    log.message(2)
    log.reply(2.9)
    delivered = [log.events[1], log.events[0], log.events[3], log.events[2]]
    policies = book(policy(first=20.0, next_=60.0, resolution=None))
    shuffled = replay(delivered, policies)
    assert shuffled.short() == replay(log.events, policies).short()
    assert shuffled.short() == [
        ("first_reply", 1, "breached", 20 / 60),
        ("next_reply", 1, "met", 2.9),
    ]
    assert counted(shuffled.effects, CountName.LATE) == 0


def test_an_answer_at_the_deadline_arriving_exactly_lateness_later_is_met() -> None:
    log = Log()
    message, reply = log.message(0), log.reply(15)
    policies = book(policy(resolution=None))
    state = on_event(None, message, at(0), policies, LATENESS).state
    state = on_clock(state, at(15) + LATENESS, policies, LATENESS).state
    step = on_event(state, reply, at(15) + LATENESS, policies, LATENESS)
    assert [(d.sla, d.outcome) for d in step.decisions] == [("first_reply", "met")]
    assert Counted(CountName.LATE, "acme", "x") not in step.effects


def test_a_straggler_is_counted_applied_at_once_and_gets_no_second_outcome() -> None:
    log = Log()
    message, reply = log.message(0), log.reply(10)
    policies = book(policy(resolution=None))
    state = on_event(None, message, at(0), policies, LATENESS).state
    breached = on_clock(state, at(20), policies, LATENESS)
    assert [(d.sla, d.outcome) for d in breached.decisions] == [("first_reply", "breached")]
    step = on_event(breached.state, reply, at(20), policies, LATENESS)
    assert step.decisions == []
    assert Counted(CountName.LATE, "acme", "x") in step.effects
    assert [e.seconds for e in step.effects if isinstance(e, Observed)] == [10 * MIN]
    assert step.state.awaiting_since is None


def test_a_straggler_reply_from_before_the_cycle_gives_no_negative_duration() -> None:
    log = Log()
    reply, message = log.reply(5), log.message(10)
    policies = book(policy(resolution=None))
    state = on_event(None, message, at(12), policies, LATENESS).state
    state = on_clock(state, at(14), policies, LATENESS).state
    step = on_event(state, reply, at(14), policies, LATENESS)  # 5 < 14 - 1: a straggler
    assert [(d.outcome, d.elapsed_seconds) for d in step.decisions] == [("met", 0.0)]
    assert [e.seconds for e in step.effects if isinstance(e, Observed)] == [0.0]
    assert step.decisions[0].decided_at == at(14)  # stamped when it was applied


def test_late_but_still_in_order_is_counted_and_placed_on_the_timeline() -> None:
    log = Log()
    message, reply = log.message(0), log.reply(5)
    policies = book(policy(resolution=None))
    state = on_event(None, message, at(0), policies, LATENESS).state  # no tick since
    step = on_event(state, reply, at(30), policies, LATENESS)
    assert Counted(CountName.LATE, "acme", "x") in step.effects
    assert [(d.outcome, d.decided_at) for d in step.decisions] == [("met", at(5) + LATENESS)]


def test_live_and_replay_modes_give_the_same_decisions() -> None:
    log = Log()
    log.message(0)
    log.reply(3)
    log.message(10)
    log.message(12)
    log.reply(50)
    log.status(55, Status.PENDING)
    log.status(300, Status.OPEN)
    log.status(400, Status.RESOLVED)
    policies = book(policy(warn_before=5 * MIN, auto=90 * MIN))
    delays = [50.0, 0.0, 59.0, 1.0, 30.0, 10.0, 0.0, 45.0]
    arrivals = within_lateness(log.events, delays)
    by_event = {e.event_id: d for e, d in zip(log.events, delays, strict=True)}

    state: CaseState | None = None
    live = []
    for event in arrivals:  # the clock is the wall clock: the arrival instant
        arrival = event.occurred_at + by_event[event.event_id]
        while state is not None and (due := state.next_due(LATENESS)) is not None:
            if due >= arrival:
                break
            tick = on_clock(state, due + 0.5, policies, LATENESS)  # the deadline index ticks
            state = tick.state
            live += tick.decisions
        step = on_event(state, event, arrival, policies, LATENESS)
        state, live = step.state, live + step.decisions
    assert state is not None
    live += on_clock(state, at(10_000), policies, LATENESS).decisions

    replayed = replay(log.events, policies).decisions
    assert live == replayed
    assert len(replayed) >= 4


def test_decision_ids_are_deterministic() -> None:
    log = Log()
    log.message(0)
    log.reply(20)
    policies = book()
    first, second = replay(log.events, policies), replay(log.events, policies)
    assert first.ids() == second.ids()
    assert [d.to_json() for d in first.decisions] == [d.to_json() for d in second.decisions]
    assert first.ids() == [f"{KEY}|1|first_reply|1|breached", f"{KEY}|1|resolution|1|breached"]


def test_next_due_is_when_on_clock_next_has_work() -> None:
    log = Log()
    policies: Book = book(policy(resolution=None, warn_before=5 * MIN))
    state = on_event(None, log.message(0), at(0), policies, LATENESS).state
    assert state.next_due(LATENESS) == at(0) + LATENESS  # the message waits for the horizon
    early = on_clock(state, at(0) + LATENESS - 1, policies, LATENESS)
    assert (early.decisions, early.state.awaiting_since) == ([], None)
    applied = on_clock(state, at(0) + LATENESS, policies, LATENESS).state
    assert applied.awaiting_since == at(0)
    assert applied.next_due(LATENESS) == at(10) + LATENESS  # the warning
    assert on_clock(applied, at(10) + LATENESS, policies, LATENESS).decisions == []
    warned = on_clock(applied, at(10) + LATENESS + 1, policies, LATENESS)
    assert [d.outcome for d in warned.decisions] == ["warning"]
    assert warned.state.next_due(LATENESS) == at(15) + LATENESS
    done = on_event(warned.state, log.reply(12), at(12) + LATENESS, policies, LATENESS).state
    assert done.next_due(LATENESS) is None
    assert [e.sla for e in replay(log.events, policies).effects if isinstance(e, Observed)] == [
        Sla.FIRST_REPLY
    ]
