"""The case state as the table stores it, its gauges and expiry, and the decision record."""

from __future__ import annotations

import math

import orjson
import pytest

from streams.clocks import CaseMismatch, CaseState, Decision, Outcome, Sla, on_clock, on_event
from streams.events import AuthorType, Kind, Priority, Status
from tests.streams.clock_logs import (
    DAY,
    LATENESS,
    MIN,
    Log,
    NineToFive,
    at,
    book,
    policy,
    replay,
)


def busy_log() -> Log:
    log = Log()
    log.message(0, Priority.HIGH)
    log.reply(1, AuthorType.BOT)
    log.message(2)
    log.reply(20)
    log.message(25)
    log.status(30, Status.PENDING)
    log.message(100)
    log.reply(101)
    log.status(200, Status.RESOLVED)
    log.status(205, Status.REOPENED)
    log.message(300)
    return log


def through_json(state: CaseState) -> CaseState:
    return CaseState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))


def test_a_state_restored_mid_log_continues_exactly_as_the_original() -> None:
    log = busy_log()
    policies = book(policy(warn_before=5 * MIN, calendar=NineToFive(), auto=DAY))
    whole = replay(log.events, policies)
    for cut in range(1, len(log.events)):
        head = replay(log.events[:cut], policies, end=log.events[cut - 1].occurred_at)
        assert head.state is not None
        restored = through_json(head.state)
        assert restored.to_dict() == head.state.to_dict()
        tail = replay(log.events[cut:], policies, state=restored)
        assert head.decisions + tail.decisions == whole.decisions, cut
        assert head.effects + tail.effects == whole.effects, cut


def test_the_stored_state_holds_no_event_ids_or_text() -> None:
    log = Log()
    log.add(at(0), Kind.MESSAGE, event_id="e-very-secret", text="my phone is broken")
    state = replay(log.events, book(), end=at(0)).state
    assert state is not None
    stored = orjson.dumps(state.to_dict())
    assert b"secret" not in stored
    assert b"phone" not in stored
    assert len(stored) < 300


def test_the_machine_never_changes_the_state_it_is_given() -> None:
    log = busy_log()
    policies = book(policy(warn_before=5 * MIN))
    state: CaseState | None = None
    for event in log.events:
        before = None if state is None else state.to_dict()
        step = on_event(state, event, event.occurred_at, policies, LATENESS)
        assert (None if state is None else state.to_dict()) == before
        state = step.state
    assert state is not None
    before = state.to_dict()
    on_clock(state, at(1000), policies, LATENESS)
    assert state.to_dict() == before


def test_gauge_views() -> None:
    log = Log("telegram:acme-eu:chat:42:cust-7")  # a thread id may hold a ':'
    log.message(0, Priority.URGENT)
    log.reply(5)
    log.message(10)
    state = replay(log.events, book(), end=at(10) + LATENESS).state
    assert state is not None
    assert (state.brand, state.platform) == ("acme-eu", "telegram")
    assert (state.is_open, state.priority, state.awaiting_since) == (True, Priority.URGENT, at(10))


def test_expired_only_when_closed_and_idle_for_longer_than_the_retention() -> None:
    log = Log()
    log.message(0)
    log.status(10, Status.RESOLVED)
    policies = book()
    open_state = replay(log.events[:1], policies, end=at(0) + LATENESS).state
    closed = replay(log.events, policies, end=at(10) + LATENESS).state
    assert open_state is not None
    assert closed is not None
    assert not open_state.expired(at(0) + 100 * DAY, DAY)
    assert not closed.expired(at(10) + DAY, DAY)
    assert closed.expired(at(10) + DAY + 1, DAY)
    waiting = on_event(closed, Log().message(20, event_id="m2"), at(20), policies, LATENESS)
    assert waiting.state.pending  # not yet applied: must not be dropped
    assert not waiting.state.expired(at(20) + 10 * DAY, DAY)


def test_an_event_of_another_case_is_refused() -> None:
    state = replay([Log().message(0)], book(), end=at(0)).state
    assert state is not None
    other = Log("x:acme:thread-2:cust-1").message(1)
    with pytest.raises(CaseMismatch):
        on_event(state, other, at(1), book(), LATENESS)


def test_decision_record_matches_the_contract() -> None:
    decision = Decision(
        case_key="x:acme:t:c",
        cycle=2,
        sla=Sla.NEXT_REPLY,
        n=3,
        outcome=Outcome.BREACHED,
        target_seconds=1800.0,
        elapsed_seconds=1800.0000001,
        deadline=at(30),
        decided_at=at(31) + 0.25,
        brand="acme",
        platform="x",
        priority=Priority.HIGH,
    )
    assert orjson.loads(decision.to_json()) == {
        "schema": "care.sla/1",
        "decision_id": "x:acme:t:c|2|next_reply|3|breached",
        "case_key": "x:acme:t:c",
        "cycle": 2,
        "sla": "next_reply",
        "outcome": "breached",
        "target_seconds": 1800.0,
        "elapsed_seconds": 1800.0,
        "deadline": "2026-01-01T08:30:00Z",
        "decided_at": "2026-01-01T08:31:00.250000Z",
        "brand": "acme",
        "platform": "x",
        "priority": "high",
    }


def test_no_decision_for_a_deadline_the_calendar_never_reaches() -> None:
    class NeverOpen:
        def add(self, start: float, business_seconds: float) -> float:
            return start if business_seconds == 0 else math.inf

        def between(self, start: float, end: float) -> float:
            return 0.0

    log = Log()
    log.message(0)
    log.reply(10)
    out = replay(log.events, book(policy(calendar=NeverOpen())))
    assert out.decisions == []


def test_clone_copies_every_field_and_shares_nothing_mutable() -> None:
    log = busy_log()
    policies = book(policy(warn_before=5 * MIN, auto=DAY))
    for cut in range(1, len(log.events) + 1):
        state = replay(log.events[:cut], policies, end=log.events[cut - 1].occurred_at).state
        assert state is not None
        copy = state.clone()
        assert copy == state  # dataclass equality compares every field
        assert copy.seen is not state.seen
        assert copy.pending is not state.pending
        assert state.reply is None or copy.reply is not state.reply
        assert state.resolution is None or copy.resolution is not state.resolution
