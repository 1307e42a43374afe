"""A second, deliberately plain computation of CONTRACT.md section 3 for one case.

Written from the contract, not from the machine: it takes the whole log at once, drops
repeated ids, sorts by ``(occurred_at, arrival)``, and walks it event by event; before
each event it fires, earliest first, every alarm (warning, breach, auto-resolution)
strictly before that event's instant, and after the last event every alarm left. No
horizon, no pending list, no stragglers, no serialisation; speed does not matter.

The readings of the contract it shares with the machine (they are choices the contract
leaves open, listed in the README): an alarm and an event at the same instant -> the
event first; alarms at one instant -> auto-resolution, reply warning, reply breach,
resolution warning, resolution breach; a warning is due at ``deadline - warn_before``
but not before its clock (re)started, and only strictly before the deadline; a reply
qualifies for a clock by the ``bot_replies_count`` of that clock's policy (the
resolution clock's policy for auto-resolution); priorities stated outside a cycle are
ignored; a resolution while paused is judged against the deadline as if the clock ran
again at that instant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streams.clocks import Counted, CountName, Decision, Effect, How, Observed, Outcome, Sla
from streams.clocks.rules import PolicyLookup
from streams.events import AuthorType, CareEvent, Kind, Priority, Status, Visibility
from streams.policy import Policy


@dataclass
class Expected:
    decisions: list[Decision]
    effects: list[Effect]


def expected(delivered: Sequence[CareEvent], policies: PolicyLookup, lateness: float) -> Expected:
    """What the stream must produce for one case's events, in their arrival order."""
    first = delivered[0]
    brand, platform = first.brand, first.platform
    effects: list[Effect] = []
    kept: list[CareEvent] = []
    ids: set[str] = set()
    for event in delivered:
        if event.event_id in ids:
            effects.append(Counted(CountName.DUPLICATE, brand, platform))
            continue
        ids.add(event.event_id)
        kept.append(event)
        effects.append(Counted(CountName.EVENTS, brand, platform, kind=event.kind))
        if event.kind is Kind.REPLY and event.author_type in (
            AuthorType.BOT,
            AuthorType.AUTOMATION,
        ):
            effects.append(Counted(CountName.BOT_REPLY, brand, platform))
    case = ReferenceCase(first.case_key, brand, platform, policies, lateness)
    for event in sorted(kept, key=lambda e: e.occurred_at):  # stable: arrival breaks ties
        case.fire_alarms_before(event.occurred_at)
        case.handle(event)
    case.fire_alarms_before(float("inf"))
    return Expected(case.decisions, effects + case.effects)


@dataclass
class Wait:
    """A first- or next-reply deadline."""

    sla: Sla
    n: int
    priority: Priority
    policy: Policy
    since: float
    target: float | None
    deadline: float | None
    warned: bool = False
    decided: bool = False


@dataclass
class Cycle:
    number: int
    priority: Priority | None
    opened_at: float
    res_priority: Priority
    res_policy: Policy
    res_target: float | None
    runs: list[list[float]] = field(default_factory=list)  # [start] running, [start, end] done
    res_warned: bool = False
    res_decided: bool = False
    wait: Wait | None = None
    first_wait_started: bool = False
    next_waits: int = 0
    auto_reply: tuple[float, float, float | None] | None = None  # (at, used, deadline)


Alarm = tuple[float, int, Callable[[float], None]]


class ReferenceCase:
    def __init__(
        self, key: str, brand: str, platform: str, policies: PolicyLookup, lateness: float
    ) -> None:
        self.key, self.brand, self.platform = key, brand, platform
        self.policies, self.lateness = policies, lateness
        self.cycles = 0
        self.cycle: Cycle | None = None
        self.decisions: list[Decision] = []
        self.effects: list[Effect] = []

    # -- alarms ----------------------------------------------------------------

    def fire_alarms_before(self, limit: float) -> None:
        while True:
            alarms = self.alarms()
            if not alarms:
                return
            instant, _, fire = min(alarms, key=lambda alarm: (alarm[0], alarm[1]))
            if not instant < limit:
                return
            fire(instant)

    def alarms(self) -> list[Alarm]:
        c = self.cycle
        if c is None:
            return []
        found: list[Alarm] = []
        if c.auto_reply is not None and c.res_policy.auto_resolve_after is not None:
            found.append((c.auto_reply[0] + c.res_policy.auto_resolve_after, 0, self.auto))
        w = c.wait
        if w is not None and not w.decided and w.deadline is not None:
            warn = warning_instant(w.deadline, w.policy.warn_before, w.since)
            if warn is not None and not w.warned:
                found.append((warn, 1, self.wait_warning))
            found.append((w.deadline, 2, self.wait_breach))
        if c.res_target is not None and not c.res_decided and len(c.runs[-1]) == 1:
            deadline = self.resolution_deadline(c, c.runs[-1][0])
            if deadline is not None:
                warn = warning_instant(deadline, c.res_policy.warn_before, c.runs[-1][0])
                if warn is not None and not c.res_warned:
                    found.append((warn, 3, self.resolution_warning))
                found.append((deadline, 4, self.resolution_breach))
        return found

    def wait_warning(self, instant: float) -> None:
        w = self.waiting()
        w.warned = True
        self.decide_wait(w, Outcome.WARNING, instant, instant)

    def wait_breach(self, instant: float) -> None:
        w = self.waiting()
        w.decided = True
        self.decide_wait(w, Outcome.BREACHED, instant, instant)

    def resolution_warning(self, instant: float) -> None:
        c = self.open_cycle()
        c.res_warned = True
        self.decide_resolution(c, Outcome.WARNING, instant, instant)

    def resolution_breach(self, instant: float) -> None:
        c = self.open_cycle()
        c.res_decided = True
        self.decide_resolution(c, Outcome.BREACHED, instant, instant)

    def auto(self, instant: float) -> None:
        c = self.open_cycle()
        assert c.auto_reply is not None
        self.resolve(c, How.AUTO, c.auto_reply[0], instant)

    # -- events ----------------------------------------------------------------

    def handle(self, event: CareEvent) -> None:
        t, c = event.occurred_at, self.cycle
        if c is None:
            if event.kind is Kind.MESSAGE:
                self.open(t, event.priority, by_message=True)
            elif self.cycles > 0 and event.status in (Status.OPEN, Status.REOPENED):
                self.open(t, event.priority, by_message=False)
            return
        if event.priority is not None and (
            c.priority is None or event.priority.rank > c.priority.rank
        ):
            c.priority = event.priority
        if event.kind is Kind.MESSAGE:
            c.auto_reply = None
            if len(c.runs[-1]) == 2:
                c.runs.append([t])
            if c.wait is None:
                if c.first_wait_started:
                    c.next_waits += 1
                    c.wait = self.new_wait(Sla.NEXT_REPLY, c.next_waits, t)
                else:
                    c.first_wait_started = True
                    c.wait = self.new_wait(Sla.FIRST_REPLY, 1, t)
        elif event.kind is Kind.REPLY:
            if event.visibility is Visibility.INTERNAL:
                return
            human = event.author_type in (None, AuthorType.HUMAN)
            w = c.wait
            if w is not None and (human or w.policy.bot_replies_count):
                c.wait = None
                self.observe(w.sla, t - w.since, w.priority)
                if not w.decided and w.deadline is not None:
                    self.decide_wait(w, Outcome.MET if t <= w.deadline else Outcome.BREACHED, t, t)
            armed = c.res_policy.auto_resolve_after is not None
            if armed and (human or c.res_policy.bot_replies_count):
                c.auto_reply = (t, self.used(c, t), self.resolution_deadline(c, t))
        elif event.status is Status.RESOLVED:
            self.resolve(c, How.STATUS, t, t)
        elif event.status is Status.PENDING:
            if len(c.runs[-1]) == 1:
                c.runs[-1].append(t)
        elif len(c.runs[-1]) == 2:  # open or reopened while paused
            c.runs.append([t])

    def open(self, t: float, stated: Priority | None, *, by_message: bool) -> None:
        self.cycles += 1
        priority = stated or Priority.NORMAL
        policy = self.policy(priority)
        self.cycle = Cycle(
            self.cycles,
            stated,
            t,
            priority,
            policy,
            self.target(policy, policy.targets.resolution, t),
        )
        self.cycle.runs.append([t])
        if self.cycles > 1:
            self.effects.append(
                Counted(CountName.REOPENED, self.brand, self.platform, priority=priority)
            )
        if by_message:
            self.cycle.first_wait_started = True
            self.cycle.wait = self.new_wait(Sla.FIRST_REPLY, 1, t)

    def new_wait(self, sla: Sla, n: int, t: float) -> Wait:
        c = self.open_cycle()
        priority = c.priority or Priority.NORMAL
        policy = self.policy(priority)
        wanted = policy.targets.first_reply if sla is Sla.FIRST_REPLY else policy.targets.next_reply
        target = self.target(policy, wanted, t)
        deadline = None if target is None else policy.calendar.add(t, target)
        return Wait(sla, n, priority, policy, t, target, deadline)

    def resolve(self, c: Cycle, how: How, answer: float, known: float) -> None:
        w = c.wait
        if w is not None and not w.decided and w.deadline is not None:
            self.decide_wait(
                w, Outcome.MET if answer <= w.deadline else Outcome.BREACHED, answer, known
            )
        self.observe(Sla.RESOLUTION, answer - c.opened_at, c.res_priority, how)
        if not c.res_decided and c.res_target is not None:
            if how is How.AUTO:
                assert c.auto_reply is not None
                _, used, deadline = c.auto_reply
            else:
                used, deadline = self.used(c, answer), self.resolution_deadline(c, answer)
            if deadline is not None:
                outcome = Outcome.MET if answer <= deadline else Outcome.BREACHED
                self.record(
                    Sla.RESOLUTION, 1, outcome, c.res_priority, c.res_target, used, deadline, known
                )
        self.cycle = None

    # -- arithmetic --------------------------------------------------------------

    def used(self, c: Cycle, t: float) -> float:
        """Business seconds the resolution clock ran up to ``t``."""
        calendar = c.res_policy.calendar
        return sum(
            calendar.between(run[0], min(run[1] if len(run) == 2 else t, t)) for run in c.runs
        )

    def resolution_deadline(self, c: Cycle, t: float) -> float | None:
        """The deadline in force at ``t``; while paused, as if running again from ``t``."""
        if c.res_target is None:
            return None
        last = c.runs[-1]
        restart = last[0] if len(last) == 1 else t
        used_before = self.used(c, restart)
        deadline = c.res_policy.calendar.add(restart, max(0.0, c.res_target - used_before))
        return deadline if deadline != float("inf") else None

    def target(self, policy: Policy, target: float | None, t: float) -> float | None:
        if target is None or policy.calendar.add(t, target) == float("inf"):
            return None
        return target

    # -- output ------------------------------------------------------------------

    def decide_wait(self, w: Wait, outcome: Outcome, at: float, known: float) -> None:
        if w.target is None or w.deadline is None:
            return
        elapsed = w.policy.calendar.between(w.since, at)
        self.record(w.sla, w.n, outcome, w.priority, w.target, elapsed, w.deadline, known)

    def decide_resolution(self, c: Cycle, outcome: Outcome, at: float, known: float) -> None:
        deadline = self.resolution_deadline(c, at)
        assert c.res_target is not None
        assert deadline is not None
        self.record(
            Sla.RESOLUTION,
            1,
            outcome,
            c.res_priority,
            c.res_target,
            self.used(c, at),
            deadline,
            known,
        )

    def record(
        self,
        sla: Sla,
        n: int,
        outcome: Outcome,
        priority: Priority,
        target: float,
        elapsed: float,
        deadline: float,
        known: float,
    ) -> None:
        self.decisions.append(
            Decision(
                self.key,
                self.open_cycle().number,
                sla,
                n,
                outcome,
                target,
                max(0.0, elapsed),
                deadline,
                known + self.lateness,
                self.brand,
                self.platform,
                priority,
            )
        )

    def observe(self, sla: Sla, seconds: float, priority: Priority, how: How | None = None) -> None:
        self.effects.append(
            Observed(sla, max(0.0, seconds), self.brand, self.platform, priority, how)
        )

    def policy(self, priority: Priority) -> Policy:
        return self.policies.match(self.brand, self.platform, priority)

    def open_cycle(self) -> Cycle:
        assert self.cycle is not None
        return self.cycle

    def waiting(self) -> Wait:
        w = self.open_cycle().wait
        assert w is not None
        return w


def warning_instant(deadline: float, warn_before: float | None, since: float) -> float | None:
    if not warn_before or warn_before <= 0:
        return None
    instant = max(deadline - warn_before, since)
    return instant if instant < deadline else None
