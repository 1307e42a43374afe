"""First and next reply clocks, qualifying replies and warnings (CONTRACT.md section 3)."""

from __future__ import annotations

from streams.clocks import Counted, CountName, Observed, Sla, on_clock, on_event
from streams.events import AuthorType, Visibility
from tests.streams.clock_logs import LATENESS, MIN, Log, at, book, policy, replay

NO_RESOLUTION = policy(resolution=None)


def observed(effects: list[object], sla: Sla) -> list[float]:
    return [e.seconds for e in effects if isinstance(e, Observed) and e.sla is sla]


def test_first_reply_at_the_deadline_is_met() -> None:
    log = Log()
    log.message(0)
    log.reply(15)
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "met", 15)]
    decision = out.decisions[0]
    assert (decision.elapsed_seconds, decision.target_seconds) == (15 * MIN, 15 * MIN)
    assert decision.deadline == at(15)
    assert decision.decided_at == at(15) + LATENESS
    assert observed(out.effects, Sla.FIRST_REPLY) == [15 * MIN]


def test_late_first_reply_is_breached_at_the_deadline_and_only_observed_later() -> None:
    log = Log()
    log.message(0)
    log.reply(16)
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "breached", 15)]
    assert out.decisions[0].elapsed_seconds == 15 * MIN
    assert observed(out.effects, Sla.FIRST_REPLY) == [16 * MIN]


def test_breach_is_decided_once_the_stream_clock_passes_deadline_plus_lateness() -> None:
    log = Log()
    message = log.message(0)
    policies = book(NO_RESOLUTION)
    state = on_event(None, message, at(0), policies, LATENESS).state
    assert on_clock(state, at(15) + LATENESS, policies, LATENESS).decisions == []
    step = on_clock(state, at(15) + LATENESS + 0.001, policies, LATENESS)
    assert [(d.sla, d.outcome) for d in step.decisions] == [("first_reply", "breached")]


def test_bot_and_automation_replies_never_stop_a_clock_and_are_counted() -> None:
    log = Log()
    log.message(0)
    log.reply(1, AuthorType.BOT)
    log.reply(2, AuthorType.AUTOMATION)
    log.reply(20)
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "breached", 15)]
    assert observed(out.effects, Sla.FIRST_REPLY) == [20 * MIN]
    bots = [e for e in out.effects if isinstance(e, Counted) and e.name is CountName.BOT_REPLY]
    assert bots == [Counted(CountName.BOT_REPLY, "acme", "x")] * 2


def test_internal_notes_never_stop_a_clock() -> None:
    log = Log()
    log.message(0)
    log.reply(1, visibility=Visibility.INTERNAL)
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "breached", 15)]
    assert observed(out.effects, Sla.FIRST_REPLY) == []


def test_a_private_human_reply_qualifies() -> None:
    log = Log()
    log.message(0)
    log.reply(3, visibility=Visibility.PRIVATE)
    assert replay(log.events, book(NO_RESOLUTION)).short() == [("first_reply", 1, "met", 3)]


def test_bot_replies_stop_clocks_where_the_policy_counts_them() -> None:
    log = Log()
    log.message(0)
    log.reply(1, AuthorType.BOT, Visibility.INTERNAL)  # a note is never a reply
    log.reply(5, AuthorType.AUTOMATION)
    out = replay(log.events, book(policy(resolution=None, bots=True)))
    assert out.short() == [("first_reply", 1, "met", 5)]
    bots = [e for e in out.effects if isinstance(e, Counted) and e.name is CountName.BOT_REPLY]
    assert len(bots) == 2  # still counted apart


def test_next_reply_is_measured_from_the_oldest_unanswered_message() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.message(10)
    log.message(20)  # does not restart the wait
    log.reply(35)
    out = replay(log.events, book(NO_RESOLUTION), end=at(35))
    assert out.short() == [("first_reply", 1, "met", 5)]
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "met", 5), ("next_reply", 1, "met", 35)]
    assert out.decisions[1].elapsed_seconds == 25 * MIN
    assert out.decisions[1].deadline == at(40)
    assert observed(out.effects, Sla.NEXT_REPLY) == [25 * MIN]


def test_awaiting_since_is_the_oldest_unanswered_message() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.message(10)
    log.message(20)
    out = replay(log.events, book(NO_RESOLUTION), end=at(21) + LATENESS)
    assert out.state is not None
    assert out.state.awaiting_since == at(10)


def test_next_reply_waits_are_numbered_within_the_cycle() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.message(10)
    log.reply(15)
    log.message(20)
    log.reply(60)
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [
        ("first_reply", 1, "met", 5),
        ("next_reply", 1, "met", 15),
        ("next_reply", 2, "breached", 50),
    ]
    assert out.ids()[2].endswith("|1|next_reply|2|breached")


def test_messages_before_the_first_reply_start_no_next_wait() -> None:
    log = Log()
    log.message(0)
    log.message(5)
    log.reply(10)
    log.reply(11)  # nothing left to answer
    out = replay(log.events, book(NO_RESOLUTION))
    assert out.short() == [("first_reply", 1, "met", 10)]
    assert observed(out.effects, Sla.NEXT_REPLY) == []


def test_one_warning_before_the_breach() -> None:
    log = Log()
    log.message(0)
    out = replay(log.events, book(policy(resolution=None, warn_before=5 * MIN)))
    assert out.short() == [("first_reply", 1, "warning", 10), ("first_reply", 1, "breached", 15)]
    assert out.decisions[0].elapsed_seconds == 10 * MIN
    assert out.decisions[0].deadline == at(15)


def test_no_warning_when_the_answer_comes_first_even_at_the_warning_instant() -> None:
    policies = book(policy(resolution=None, warn_before=5 * MIN))
    for minute, expected in [
        (9, [("first_reply", 1, "met", 9)]),
        (10, [("first_reply", 1, "met", 10)]),
        (12, [("first_reply", 1, "warning", 10), ("first_reply", 1, "met", 12)]),
    ]:
        log = Log()
        log.message(0)
        log.reply(minute)
        assert replay(log.events, policies).short() == expected


def test_a_warning_window_longer_than_the_target_warns_at_the_start() -> None:
    log = Log()
    log.message(0)
    log.reply(3)
    out = replay(log.events, book(policy(resolution=None, warn_before=20 * MIN)))
    assert out.short() == [("first_reply", 1, "warning", 0), ("first_reply", 1, "met", 3)]
    assert out.decisions[0].elapsed_seconds == 0
