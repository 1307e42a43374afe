"""Cycles, reopens and priorities (CONTRACT.md section 3)."""

from __future__ import annotations

from streams.clocks import Counted, CountName, Observed, Sla
from streams.events import Priority, Status
from tests.streams.clock_logs import KEY, LATENESS, MIN, Log, at, book, policy, replay


def reopens(effects: list[object]) -> list[Counted]:
    return [e for e in effects if isinstance(e, Counted) and e.name is CountName.REOPENED]


def test_first_message_opens_cycle_one_without_a_reopen() -> None:
    log = Log()
    log.message(0)
    out = replay(log.events, book(), end=at(1))
    assert out.state is not None
    assert out.state.is_open
    assert out.state.cycle == 1
    assert out.state.awaiting_since == at(0)
    assert reopens(out.effects) == []


def test_message_after_resolution_starts_a_new_cycle_and_counts_one_reopen() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(10, Status.RESOLVED)
    log.message(20)
    log.reply(30)
    out = replay(log.events, book())
    assert out.short() == [
        ("first_reply", 1, "met", 5),
        ("resolution", 1, "met", 10),
        ("first_reply", 1, "met", 30),
        ("resolution", 1, "breached", 20 + 240),
    ]
    assert [d.cycle for d in out.decisions] == [1, 1, 2, 2]
    assert out.ids()[2] == f"{KEY}|2|first_reply|1|met"
    assert reopens(out.effects) == [
        Counted(CountName.REOPENED, "acme", "x", priority=Priority.NORMAL)
    ]


def test_status_reopened_starts_a_cycle_whose_first_reply_clock_waits_for_a_message() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(10, Status.RESOLVED)
    log.status(20, Status.REOPENED)
    log.message(100)
    log.reply(110)
    out = replay(log.events, book())
    cycle_two = [(d.sla, d.outcome, d.deadline) for d in out.decisions if d.cycle == 2]
    assert cycle_two == [
        ("first_reply", "met", at(115)),  # from the message at 100, not from the status
        ("resolution", "breached", at(20 + 240)),  # from the reopening status
    ]
    assert len(reopens(out.effects)) == 1


def test_status_open_on_a_resolved_case_reopens_it_too() -> None:
    log = Log()
    log.message(0)
    log.status(10, Status.RESOLVED)
    log.status(20, Status.OPEN)
    out = replay(log.events, book(), end=at(21) + LATENESS)
    assert out.state is not None
    assert out.state.is_open
    assert out.state.cycle == 2
    assert out.state.awaiting_since is None  # no message yet: nobody is waiting
    assert len(reopens(out.effects)) == 1


def test_reply_and_status_without_an_open_cycle_change_no_clock() -> None:
    log = Log()
    log.reply(0)
    log.status(1, Status.PENDING)
    log.status(2, Status.RESOLVED)
    log.status(3, Status.REOPENED)  # never opened, so nothing to reopen
    log.message(10)
    log.reply(20)
    out = replay(log.events, book())
    assert out.short() == [("first_reply", 1, "met", 20), ("resolution", 1, "breached", 250)]
    assert out.decisions[0].elapsed_seconds == 10 * MIN
    assert reopens(out.effects) == []
    events = [e for e in out.effects if isinstance(e, Counted) and e.name is CountName.EVENTS]
    assert len(events) == 6


def test_reopened_status_on_an_open_case_only_resumes_it() -> None:
    log = Log()
    log.message(0)
    log.status(10, Status.PENDING)
    log.status(70, Status.REOPENED)
    out = replay(log.events, book(policy(first=None)))
    assert [(d.cycle, d.sla, d.outcome, d.deadline) for d in out.decisions] == [
        (1, "resolution", "breached", at(240 + 60))
    ]
    assert reopens(out.effects) == []


def test_a_clock_keeps_the_priority_of_its_start_and_the_highest_priority_wins() -> None:
    urgent = policy(first=5 * MIN, next_=10 * MIN, resolution=60 * MIN)
    log = Log()
    log.message(0)
    log.message(2, Priority.URGENT)
    log.reply(10)
    log.message(20, Priority.LOW)  # never lowers the case priority
    log.reply(25)
    out = replay(log.events, book(urgent=urgent))
    assert [(d.sla, d.outcome, d.priority, d.target_seconds) for d in out.decisions] == [
        ("first_reply", "met", "normal", 15 * MIN),  # started at 0 as normal
        ("next_reply", "met", "urgent", 10 * MIN),
        ("resolution", "breached", "normal", 240 * MIN),
    ]
    observed = [e for e in out.effects if isinstance(e, Observed)]
    assert [(o.sla, o.priority) for o in observed] == [
        (Sla.FIRST_REPLY, Priority.NORMAL),
        (Sla.NEXT_REPLY, Priority.URGENT),
    ]  # never resolved: no resolution time
    assert out.state is not None
    assert out.state.priority is Priority.URGENT


def test_priority_of_the_opening_message_applies_to_its_clocks() -> None:
    log = Log()
    log.message(0, Priority.HIGH)
    log.reply(3)
    log.status(4, Status.RESOLVED)
    out = replay(log.events, book(high=policy(first=2 * MIN)))
    assert [(d.sla, d.outcome, d.priority) for d in out.decisions] == [
        ("first_reply", "breached", "high"),
        ("resolution", "met", "high"),
    ]


def test_a_new_cycle_starts_again_from_normal() -> None:
    log = Log()
    log.message(0, Priority.URGENT)
    log.status(1, Status.RESOLVED)
    log.message(10)
    out = replay(log.events, book(), end=at(11))
    assert out.state is not None
    assert out.state.priority is Priority.NORMAL
    assert reopens(out.effects)[0].priority is Priority.NORMAL


def test_priority_stated_outside_a_cycle_is_ignored() -> None:
    log = Log()
    log.reply(0, priority=Priority.URGENT)
    log.message(5)
    out = replay(log.events, book(), end=at(6))
    assert out.state is not None
    assert out.state.priority is Priority.NORMAL


def test_no_target_means_no_decisions_but_reply_times_are_observed() -> None:
    log = Log()
    log.message(0)
    log.reply(50)
    log.message(60)
    log.reply(200)
    log.status(300, Status.RESOLVED)
    out = replay(log.events, book(policy(first=None, next_=None, resolution=None)))
    assert out.decisions == []
    observed = [(e.sla, e.seconds) for e in out.effects if isinstance(e, Observed)]
    assert observed == [
        (Sla.FIRST_REPLY, 50 * MIN),
        (Sla.NEXT_REPLY, 140 * MIN),
        (Sla.RESOLUTION, 300 * MIN),
    ]
