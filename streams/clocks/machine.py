"""The response clocks as a pure state machine: ``(state, event | clock) -> Step``.

No I/O, no wall clock: the caller passes the stream clock (the wall clock in ``live``
mode, the partition watermark in ``replay`` mode) and the allowed lateness.

**The virtual timeline.** Each case is walked in event time. With the horizon
``H = clock - lateness`` the machine applies, in virtual-time order, every pending event
with ``occurred_at <= H`` and every timer (breach at a deadline ``d``, warning at
``d - warn_before``, auto-resolution at ``last reply + auto_resolve_after``) with
instant ``t < H``; at equal instants events go first, so an answer exactly at its
deadline is met and a breach is decided exactly when the stream clock passes
``d + lateness``. Decisions carry ``decided_at = t + lateness``. So a log delivered in
any order within the lateness, in live or in replay mode, gives exactly the decisions
of the same log sorted by ``(occurred_at, arrival)``.

**Stragglers.** An event older than the case's applied horizon is counted as late and
applied at once, in arrival order, to the current state, with durations clamped at
zero; it can never give a deadline a second outcome. (An event older than
``clock - lateness`` but not older than the applied horizon is counted as late too, but
is still placed on the timeline: nothing was decided past it yet.)

**Ticks.** :meth:`CaseState.next_due` says when :func:`on_clock` next has work; calling
it earlier only moves the horizon, so a deadline index can tick just the due cases.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from streams.clocks.decisions import Counted, CountName, Decision, Effect
from streams.clocks.rules import Context, PolicyLookup, apply_event, fire_timer
from streams.clocks.state import CaseState
from streams.clocks.timeline import TimelineEvent, event_digest
from streams.errors import CarewatchError
from streams.events import AuthorType, CareEvent, Kind


class CaseMismatch(CarewatchError, ValueError):
    """An event given with the state of another case (a caller's bug, not bad input)."""


class Step(NamedTuple):
    """The new state, the decisions in timeline order, and the metric effects."""

    state: CaseState
    decisions: list[Decision]
    effects: list[Effect]


def on_event(
    state: CaseState | None,
    event: CareEvent,
    clock: float,
    policies: PolicyLookup,
    lateness: float,
) -> Step:
    """Record ``event`` (``state`` is ``None`` for a case not seen before), then tick.

    Effects: ``duplicate`` alone for an ``event_id`` seen before in the case (the state
    is then returned unchanged); otherwise ``events``, ``bot_reply`` for a bot or
    automation reply, ``late`` when the event is older than ``clock - lateness``,
    followed by what the timeline produced. ``state`` itself is never modified.
    """
    key = event.case_key
    if state is None:
        state = CaseState(key)
    elif state.key != key:
        raise CaseMismatch(f"event {event.event_id!r} of {key!r} given with state of {state.key!r}")
    digest = event_digest(event.event_id)
    if digest in state.seen:
        return Step(state, [], [Counted(CountName.DUPLICATE, state.brand, state.platform)])

    state = state.clone()
    state.seen.add(digest)
    effects: list[Effect] = [
        Counted(CountName.EVENTS, state.brand, state.platform, kind=event.kind)
    ]
    if event.kind is Kind.REPLY and event.author_type in (AuthorType.BOT, AuthorType.AUTOMATION):
        effects.append(Counted(CountName.BOT_REPLY, state.brand, state.platform))
    applied = state.horizon
    if event.occurred_at < max(clock - lateness, _NEVER if applied is None else applied):
        effects.append(Counted(CountName.LATE, state.brand, state.platform))

    ctx = Context(state, policies, lateness, _NEVER if applied is None else applied)
    # Every pending event is at or after the applied horizon and every timer before it
    # has fired, so a straggler (older than the horizon) sorts first and is applied at
    # once by _advance, on the current state: "applied in arrival order".
    bisect.insort(state.pending, TimelineEvent.of(event, state.seq), key=_order)
    state.seq += 1
    _advance(ctx, clock - lateness)
    effects.extend(ctx.effects)
    return Step(state, ctx.decisions, effects)


def on_clock(state: CaseState, clock: float, policies: PolicyLookup, lateness: float) -> Step:
    """Advance the case's timeline to ``clock - lateness``; ``state`` is not modified."""
    state = state.clone()
    floor = _NEVER if state.horizon is None else state.horizon
    ctx = Context(state, policies, lateness, floor)
    _advance(ctx, clock - lateness)
    return Step(state, ctx.decisions, ctx.effects)


_NEVER = float("-inf")


def _order(event: TimelineEvent) -> tuple[float, int]:
    return event.order


def _advance(ctx: Context, horizon: float) -> None:
    """Apply pending events ``<= horizon`` and timers ``< horizon`` in virtual-time order."""
    state = ctx.state
    if state.horizon is not None and state.horizon > horizon:
        horizon = state.horizon  # the stream clock never goes back
    pending = state.pending
    while True:
        timer = state.next_timer()
        if (
            pending
            and pending[0].occurred_at <= horizon
            and (timer is None or pending[0].occurred_at <= timer[0])
        ):
            apply_event(ctx, pending.pop(0))
            continue
        if timer is None or not timer[0] < horizon:
            break
        fire_timer(ctx, timer[1], timer[0])
    if not pending:
        state.seq = 0  # arrival numbers only order the pending events among themselves
    state.horizon = horizon
