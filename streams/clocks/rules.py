"""The rules of CONTRACT.md section 3, applied to one case at one virtual instant.

:func:`apply_event` applies one event and :func:`fire_timer` one due timer, both to the
state held by a :class:`Step` context, which collects the decisions and effects.
Neither knows about horizons or arrival order: :mod:`streams.clocks.machine` decides
what is applied when. Durations are clamped at zero, so an event applied out of order
(a straggler) can never make a negative duration or a second outcome.
"""

from __future__ import annotations

from typing import Protocol

from streams.calendar import Calendar
from streams.clocks.decisions import (
    Counted,
    CountName,
    Decision,
    Effect,
    How,
    Observed,
    Outcome,
    Sla,
)
from streams.clocks.sla_clocks import (
    ReplyClock,
    ResolutionClock,
    start_reply_clock,
    start_resolution_clock,
)
from streams.clocks.state import CaseState
from streams.clocks.timeline import TimelineEvent, Timer
from streams.events import Kind, Priority, Status, Visibility
from streams.policy import Policy


class PolicyLookup(Protocol):
    """What the clocks need of a :class:`streams.policy.PolicyBook`."""

    def match(self, brand: str, platform: str, priority: Priority) -> Policy: ...


class Context:
    """One machine step: the state it changes and what it emits.

    ``floor`` is the horizon before the step: a decision is stamped ``decided_at =
    max(virtual instant, floor) + lateness``, so only stragglers see the ``max``.
    """

    __slots__ = ("decisions", "effects", "floor", "lateness", "policies", "state")

    def __init__(
        self, state: CaseState, policies: PolicyLookup, lateness: float, floor: float
    ) -> None:
        self.state = state
        self.policies = policies
        self.lateness = lateness
        self.floor = floor
        self.decisions: list[Decision] = []
        self.effects: list[Effect] = []

    def policy(self, priority: Priority) -> Policy:
        return self.policies.match(self.state.brand, self.state.platform, priority)

    def calendar(self, priority: Priority) -> Calendar:
        return self.policy(priority).calendar

    def decide(
        self,
        sla: Sla,
        n: int,
        outcome: Outcome,
        priority: Priority,
        target: float,
        elapsed: float,
        deadline: float,
        at: float,
    ) -> None:
        state = self.state
        self.decisions.append(
            Decision(
                case_key=state.key,
                cycle=state.cycle,
                sla=sla,
                n=n,
                outcome=outcome,
                target_seconds=target,
                elapsed_seconds=max(0.0, elapsed),
                deadline=deadline,
                decided_at=max(at, self.floor) + self.lateness,
                brand=state.brand,
                platform=state.platform,
                priority=priority,
            )
        )

    def observe(self, sla: Sla, seconds: float, priority: Priority, how: How | None = None) -> None:
        state = self.state
        self.effects.append(
            Observed(sla, max(0.0, seconds), state.brand, state.platform, priority, how)
        )


# -- events ----------------------------------------------------------------------


def apply_event(ctx: Context, event: TimelineEvent) -> None:
    state = ctx.state
    if state.last_activity is None or event.occurred_at > state.last_activity:
        state.last_activity = event.occurred_at
    if event.kind is Kind.MESSAGE:
        _on_message(ctx, event)
    elif event.kind is Kind.REPLY:
        _on_reply(ctx, event)
    else:
        _on_status(ctx, event)


def _on_message(ctx: Context, event: TimelineEvent) -> None:
    state, at = ctx.state, event.occurred_at
    res = state.resolution
    if res is None:
        _open_cycle(ctx, event, by_message=True)
        return
    _raise_priority(state, event.priority)
    res.auto_reply_at = None  # the customer wrote: no auto-resolution from earlier replies
    if res.running_since is None:
        res.resume(ctx.calendar(res.priority), at)
    if state.reply is None:
        if state.first_done:
            state.next_n += 1
            state.reply = _start_reply(ctx, Sla.NEXT_REPLY, state.next_n, at)
        else:
            state.reply = _start_reply(ctx, Sla.FIRST_REPLY, 1, at)


def _on_reply(ctx: Context, event: TimelineEvent) -> None:
    state, at = ctx.state, event.occurred_at
    res = state.resolution
    if res is None:
        return
    _raise_priority(state, event.priority)
    if event.visibility is Visibility.INTERNAL:
        return
    clock = state.reply
    if clock is not None and (event.by_human or clock.bots_count):
        _answer(ctx, clock, at, at, observe=True)
        state.reply = None
        if clock.sla is Sla.FIRST_REPLY:
            state.first_done = True
    if event.by_human or res.bots_count:
        res.arm_auto_resolution(ctx.calendar(res.priority), at)


def _on_status(ctx: Context, event: TimelineEvent) -> None:
    state, at, status = ctx.state, event.occurred_at, event.status
    res = state.resolution
    if res is None:
        if status in (Status.REOPENED, Status.OPEN) and state.cycle > 0:
            _open_cycle(ctx, event, by_message=False)
        return
    _raise_priority(state, event.priority)
    if status is Status.RESOLVED:
        _resolve(ctx, res, How.STATUS, at, at)
    elif status is Status.PENDING:
        if res.running_since is not None:
            res.pause(ctx.calendar(res.priority), at)
    elif status in (Status.OPEN, Status.REOPENED) and res.running_since is None:
        res.resume(ctx.calendar(res.priority), at)


def _raise_priority(state: CaseState, stated: Priority | None) -> None:
    current = state.cycle_priority
    if stated is not None and (current is None or stated.rank > current.rank):
        state.cycle_priority = stated


def _open_cycle(ctx: Context, event: TimelineEvent, *, by_message: bool) -> None:
    state, at = ctx.state, event.occurred_at
    state.cycle += 1
    state.cycle_priority = event.priority
    state.first_done = False
    state.next_n = 0
    state.reply = None
    if state.cycle > 1:
        ctx.effects.append(
            Counted(CountName.REOPENED, state.brand, state.platform, priority=state.priority)
        )
    priority = state.priority
    state.resolution = start_resolution_clock(ctx.policy(priority), priority, at)
    if by_message:
        state.reply = _start_reply(ctx, Sla.FIRST_REPLY, 1, at)


def _start_reply(ctx: Context, sla: Sla, n: int, at: float) -> ReplyClock:
    priority = ctx.state.priority
    return start_reply_clock(ctx.policy(priority), sla, n, priority, at)


# -- answers ---------------------------------------------------------------------


def _answer(ctx: Context, clock: ReplyClock, answer: float, at: float, *, observe: bool) -> None:
    """End a reply clock with an answer at ``answer`` (event time), known at ``at``."""
    if observe:
        ctx.observe(clock.sla, answer - clock.started_at, clock.priority)
    if clock.decided or clock.target is None or clock.deadline is None:
        return
    outcome = Outcome.MET if answer <= clock.deadline else Outcome.BREACHED
    elapsed = ctx.calendar(clock.priority).between(clock.started_at, answer)
    ctx.decide(
        clock.sla, clock.n, outcome, clock.priority, clock.target, elapsed, clock.deadline, at
    )


def _resolve(ctx: Context, res: ResolutionClock, how: How, answer: float, at: float) -> None:
    """End the cycle: resolved at ``answer`` (event time), known at ``at``."""
    state = ctx.state
    if state.reply is not None:
        _answer(ctx, state.reply, answer, at, observe=False)
    ctx.observe(Sla.RESOLUTION, answer - res.started_at, res.priority, how)
    if not res.decided and res.target is not None:
        if how is How.AUTO:
            elapsed, deadline = res.auto_elapsed, res.auto_deadline
        else:
            calendar = ctx.calendar(res.priority)
            elapsed, deadline = res.elapsed(calendar, answer), res.deadline_at(calendar, answer)
        if deadline is not None:
            outcome = Outcome.MET if answer <= deadline else Outcome.BREACHED
            ctx.decide(Sla.RESOLUTION, 1, outcome, res.priority, res.target, elapsed, deadline, at)
    state.reply = None
    state.resolution = None
    if state.last_activity is None or at > state.last_activity:
        state.last_activity = at


# -- timers ----------------------------------------------------------------------


def fire_timer(ctx: Context, timer: Timer, at: float) -> None:
    """Fire ``timer``, due at virtual instant ``at`` (from :meth:`CaseState.next_timer`)."""
    state = ctx.state
    reply, res = state.reply, state.resolution
    if timer is Timer.AUTO_RESOLVE:
        if res is not None and res.auto_reply_at is not None:
            _resolve(ctx, res, How.AUTO, res.auto_reply_at, at)
    elif timer in (Timer.REPLY_WARNING, Timer.REPLY_BREACH):
        if reply is not None:
            _reply_timer(ctx, reply, timer, at)
    elif res is not None:
        _resolution_timer(ctx, res, timer, at)


def _reply_timer(ctx: Context, clock: ReplyClock, timer: Timer, at: float) -> None:
    if timer is Timer.REPLY_WARNING:
        outcome = Outcome.WARNING
    else:
        outcome = Outcome.BREACHED
        clock.decided = True
    clock.warn_at = None
    if clock.target is None or clock.deadline is None:  # no timer is set without both
        return
    elapsed = ctx.calendar(clock.priority).between(clock.started_at, at)
    ctx.decide(
        clock.sla, clock.n, outcome, clock.priority, clock.target, elapsed, clock.deadline, at
    )


def _resolution_timer(ctx: Context, res: ResolutionClock, timer: Timer, at: float) -> None:
    if timer is Timer.RESOLUTION_WARNING:
        outcome = Outcome.WARNING
        res.warned = True
    else:
        outcome = Outcome.BREACHED
        res.decided = True
    res.warn_at = None
    if res.target is None or res.deadline is None:  # no timer is set without both
        return
    elapsed = res.elapsed(ctx.calendar(res.priority), at)
    ctx.decide(Sla.RESOLUTION, 1, outcome, res.priority, res.target, elapsed, res.deadline, at)
