"""Resolution: by status, automatic, paused, and business time (CONTRACT.md section 3)."""

from __future__ import annotations

from streams.clocks import How, Observed, Sla
from streams.events import AuthorType, Status, Visibility
from tests.streams.clock_logs import (
    HOUR,
    LATENESS,
    MIN,
    Log,
    NineToFive,
    at,
    book,
    policy,
    replay,
)


def resolutions(effects: list[object]) -> list[tuple[float, How | None]]:
    return [
        (e.seconds, e.how) for e in effects if isinstance(e, Observed) and e.sla is Sla.RESOLUTION
    ]


def test_resolved_at_the_deadline_is_met_and_observed() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(240, Status.RESOLVED)
    out = replay(log.events, book())
    assert out.short() == [("first_reply", 1, "met", 5), ("resolution", 1, "met", 240)]
    assert out.decisions[1].elapsed_seconds == 4 * HOUR
    assert resolutions(out.effects) == [(4 * HOUR, How.STATUS)]
    assert out.state is not None
    assert not out.state.is_open


def test_resolved_after_the_deadline_was_breached_at_the_deadline() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(241, Status.RESOLVED)
    out = replay(log.events, book())
    assert out.short()[1:] == [("resolution", 1, "breached", 240)]
    assert resolutions(out.effects) == [(241 * MIN, How.STATUS)]


def test_resolution_answers_a_running_reply_clock_without_a_reply_time() -> None:
    log = Log()
    log.message(0)
    log.status(10, Status.RESOLVED)  # closing spam without a reply is not a breach
    out = replay(log.events, book())
    assert out.short() == [("first_reply", 1, "met", 10), ("resolution", 1, "met", 10)]
    assert out.decisions[0].elapsed_seconds == 10 * MIN
    observed = [e.sla for e in out.effects if isinstance(e, Observed)]
    assert observed == [Sla.RESOLUTION]


def test_resolution_gives_no_second_outcome_to_a_breached_reply_clock() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.message(10)
    log.status(100, Status.RESOLVED)
    out = replay(log.events, book())
    assert out.short() == [
        ("first_reply", 1, "met", 5),
        ("next_reply", 1, "breached", 40),
        ("resolution", 1, "met", 100),
    ]


def test_auto_resolution_after_the_customer_stays_silent() -> None:
    log = Log()
    log.message(0)
    log.reply(10)
    log.message(80)
    out = replay(log.events, book(policy(auto=60 * MIN)))
    assert out.short()[:2] == [("first_reply", 1, "met", 10), ("resolution", 1, "met", 70)]
    resolution = out.decisions[1]
    assert (resolution.cycle, resolution.elapsed_seconds) == (1, 10 * MIN)
    assert resolution.decided_at == at(70) + LATENESS
    assert resolutions(out.effects)[0] == (10 * MIN, How.AUTO)
    assert out.state is not None
    assert out.state.cycle == 2  # the message at 80 reopened the case


def test_a_customer_message_cancels_the_auto_resolution() -> None:
    log = Log()
    log.message(0)
    log.reply(10)
    log.message(30)
    out = replay(log.events, book(policy(resolution=None, auto=60 * MIN)))
    assert resolutions(out.effects) == []
    assert out.state is not None
    assert out.state.is_open
    log.reply(40)  # the next qualifying reply arms it again
    out = replay(log.events, book(policy(auto=60 * MIN)))
    assert ("resolution", 1, "met", 100) in out.short()
    assert resolutions(out.effects) == [(40 * MIN, How.AUTO)]


def test_only_qualifying_replies_arm_the_auto_resolution() -> None:
    log = Log()
    log.message(0)
    log.reply(10, AuthorType.BOT)
    log.reply(11, visibility=Visibility.INTERNAL)
    out = replay(log.events, book(policy(resolution=None, auto=60 * MIN)))
    assert resolutions(out.effects) == []
    out = replay(log.events, book(policy(resolution=None, auto=60 * MIN, bots=True)))
    assert resolutions(out.effects) == [(10 * MIN, How.AUTO)]


def test_auto_resolution_known_after_the_deadline_does_not_undo_the_breach() -> None:
    log = Log()
    log.message(0)
    log.reply(10)
    out = replay(log.events, book(policy(resolution=60 * MIN, auto=120 * MIN)))
    assert out.short()[1:] == [("resolution", 1, "breached", 60)]
    assert resolutions(out.effects) == [(10 * MIN, How.AUTO)]


def test_auto_resolution_known_at_the_deadline_is_met() -> None:
    log = Log()
    log.message(0)
    log.reply(10)
    out = replay(log.events, book(policy(resolution=70 * MIN, auto=60 * MIN)))
    assert out.short()[1:] == [("resolution", 1, "met", 70)]


def test_pending_pauses_the_resolution_clock_and_pushes_its_deadline() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(60, Status.PENDING)
    log.message(180)  # the customer answers: the clock runs again
    log.reply(185)
    log.status(335, Status.RESOLVED)
    out = replay(log.events, book(policy(warn_before=30 * MIN)))
    resolution = [d for d in out.decisions if d.sla is Sla.RESOLUTION]
    assert [(d.outcome, d.deadline, d.elapsed_seconds) for d in resolution] == [
        ("warning", at(360), 210 * MIN),
        ("met", at(360), 215 * MIN),
    ]
    assert out.short()[-2][3] == 330  # warning at 360 - 30
    assert resolutions(out.effects) == [(335 * MIN, How.STATUS)]  # calendar time, pause included


def test_a_warning_given_before_a_pause_is_not_repeated_after_it() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(220, Status.PENDING)  # after the warning at 210
    log.message(300)
    out = replay(log.events, book(policy(warn_before=30 * MIN)))
    resolution = [(d.outcome, d.deadline) for d in out.decisions if d.sla is Sla.RESOLUTION]
    assert resolution == [("warning", at(240)), ("breached", at(320))]


def test_no_resolution_breach_or_warning_while_paused() -> None:
    log = Log()
    log.message(0)
    log.status(10, Status.PENDING)
    out = replay(log.events, book(policy(warn_before=30 * MIN)))
    assert [d.sla for d in out.decisions] == ["first_reply"] * 2  # pending pauses no reply clock
    assert out.state is not None
    assert out.state.is_open


def test_status_open_resumes_the_resolution_clock() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(60, Status.PENDING)
    log.status(100, Status.OPEN)
    out = replay(log.events, book())
    assert out.short()[1:] == [("resolution", 1, "breached", 280)]
    assert out.decisions[1].elapsed_seconds == 240 * MIN


def test_resolved_while_pending_is_met_against_the_pushed_deadline() -> None:
    log = Log()
    log.message(0)
    log.reply(5)
    log.status(200, Status.PENDING)
    log.status(500, Status.RESOLVED)
    out = replay(log.events, book())
    resolution = out.decisions[1]
    assert (resolution.outcome, resolution.elapsed_seconds) == ("met", 200 * MIN)
    assert resolution.deadline == at(540)  # as if the clock ran again from 500


def test_a_business_calendar_counts_only_business_time() -> None:
    log = Log()
    log.message(0)  # 08:00, before the office opens
    log.reply(70)  # 09:10: ten business minutes later
    log.message(535)  # 16:55
    out = replay(log.events, book(policy(resolution=None, calendar=NineToFive())))
    first, following = out.decisions
    assert (first.outcome, first.elapsed_seconds, first.deadline) == ("met", 10 * MIN, at(75))
    assert (following.outcome, following.elapsed_seconds) == ("breached", 30 * MIN)
    assert following.deadline == at(24 * 60 + 60 + 25)  # next day 09:25
    assert following.decided_at == following.deadline + LATENESS
    first_reply = [e.seconds for e in out.effects if isinstance(e, Observed)]
    assert first_reply == [70 * MIN]  # histograms observe calendar time


def test_pausing_under_a_business_calendar_leaves_out_paused_business_time() -> None:
    log = Log()
    log.message(0)  # 08:00
    log.reply(5)
    log.status(120, Status.PENDING)  # 10:00: one business hour used
    log.status(24 * 60 + 120, Status.OPEN)  # next day 10:00
    out = replay(log.events, book(policy(calendar=NineToFive())))
    resolution = out.decisions[-1]
    assert (resolution.outcome, resolution.elapsed_seconds) == ("breached", 4 * HOUR)
    assert resolution.deadline == at(24 * 60 + 120 + 180)  # next day 13:00
