"""The crash drill: SIGKILL the worker at random moments of a replay, restart it each time.

A seeded log (:func:`tests.e2e.logs.generate`: repeats, disorder within the lateness,
bots, pending, reopens) is replayed by ``connectors.replay.replay`` through one worker.
Before the run, ``kills`` random points are drawn between 5 % and 90 % of the log; each
time the group's committed offsets pass the next point the worker gets SIGKILL and a new
one starts at once on the same state folder (so with ``rocksdb`` it reopens its local
store; with ``memory`` it restores from the changelog). The replay is held at a gate a
little past each point until that kill is done, so every kill lands mid-replay however
fast the machine (CI once consumed a whole 3,000-event log between two polls). When the replay has been
consumed to its end (its final clock marker 60 days past the log), ``care.sla.v1`` is
compared with the reference: no decision lost or invented, no deadline with two
outcomes, repeats identical; and the last worker's case gauges equal the reference's.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

from connectors.replay import ReplayReport, replay
from drills.checks import GroupProgress, check_decisions, gauge_problems, summed_gauges
from drills.rig import LATENESS, Background, Result, Rig, alive, stop_worker, wait_for, worker_log
from streams.events import encode_event
from streams.policy import load_policies
from tests.e2e.expectations import ROOT_POLICIES, reference, reference_gauges
from tests.e2e.logs import generate

EVENTS_PER_CASE = 8.2  # what generate() gives on average


def crash(rig: Rig, events: int, kills: int, seed: int, store: str = "memory") -> Result:
    result = Result(
        "crash",
        f"python -m drills --only crash --crash-events {events} --crash-kills {kills} --seed {seed} --store {store}",
    )
    log = generate(cases=max(20, round(events / EVENTS_PER_CASE)), seed=seed, lateness=LATENESS)
    until = max(e.occurred_at for e in log) + 60 * 86400
    policies = load_policies(ROOT_POLICIES)
    ref = reference(log, policies, LATENESS)
    want = reference_gauges(log, policies, LATENESS, until)
    topics = rig.topics()
    # The broker's smallest session timeout: the new worker waits for the killed one's
    # session to expire before the group gives it the partitions.
    env = {"CAREWATCH_STORE": store, "CAREWATCH_SESSION_TIMEOUT": "6"}
    worker = rig.worker(topics, "crash", env=env).start()
    worker.wait_partitions(4, timeout=180)
    progress = GroupProgress(rig.bootstrap, topics.events, topics.group)
    rng = random.Random(seed)
    points = sorted(round(rng.uniform(0.05, 0.9) * len(log)) for _ in range(kills))
    gated = Gated([encode_event(e) for e in log], points, margin=max(50, len(log) // 20))
    began = time.monotonic()
    sending = Background[ReplayReport](
        lambda: replay(
            gated,
            bootstrap=rig.bootstrap,
            topic=topics.events,
            group=topics.group,
            lateness=LATENESS,
            until=until,
            timeout=600 + len(log) / 50,
            progress=False,
        ),
        "crash-replay",
    )
    landed: list[dict[str, float]] = []
    try:
        for kill, point in enumerate(points):
            wait_for(
                lambda p=point: (progress.committed() or 0) >= p or sending.done,  # type: ignore[misc]
                600 + len(log) / 50,
                f"committed offsets passing {point}",
                poll=0.1,
            )
            if sending.done:
                break  # the replay failed: its error is raised below
            committed = progress.committed() or 0
            worker.kill()
            killed_at = time.monotonic()
            worker = rig.worker(topics, "crash", env=env).start()
            worker.wait_partitions(4, timeout=240)
            landed.append(
                {
                    "committed": committed,
                    "share": committed / len(log),
                    "seconds_to_own_again": time.monotonic() - killed_at,
                }
            )
            gated.release(kill)
        sending.result(timeout=900 + len(log) / 50)
    finally:
        gated.release_all()  # a drill that failed must not leave the replay thread waiting
        progress.close()
    seconds = time.monotonic() - began
    result.require(alive(worker), f"the last worker died: {worker_log(worker)}")
    decisions = check_decisions(rig.bootstrap, topics.sla, ref)
    gauges = gauge_problems(summed_gauges([worker]), want)
    stop_worker(worker)
    result.require(len(landed) == kills, f"only {len(landed)} of {kills} kills landed mid-replay")
    for problem in decisions.problems():
        result.require(False, problem)
    for problem in gauges[:10]:
        result.require(False, problem)
    result.figures = {
        "events": len(log),
        "cases": len({e.case_key for e in log}),
        "store": store,
        "kills": landed,
        "decisions": decisions.to_dict(),
        "gauge_mismatches": len(gauges),
        "open_cases_reference": sum(want.open.values()),
        "replay_seconds": seconds,
        "events_per_second": len(log) / seconds,
    }
    shares = ", ".join(f"{k['share']:.0%}" for k in landed)
    result.summary = (
        f"{len(log):,} events, {len(landed)} SIGKILLs ({shares}); "
        f"decisions {decisions.distinct:,}/{decisions.expected:,}: lost {decisions.lost}, "
        f"two outcomes {decisions.two_outcomes}, invented {decisions.invented}, "
        f"repeats {decisions.repeats:,} (identical: {decisions.differing == 0}); "
        f"gauge mismatches {len(gauges)}"
    )
    return result


class Gated:
    """The log's lines, held back after ``point + margin`` lines until kill ``k`` is released.

    The replay sends its final clock marker only after the last line, so no kill can be
    outrun by the end of the replay; the margin leaves the worker work in hand when its
    committed offsets pass the point.
    """

    def __init__(self, lines: list[bytes], points: list[int], margin: int) -> None:
        self.lines = lines
        self.gates: list[int] = []
        for point in points:
            self.gates.append(min(len(lines), max(point + margin, *self.gates, 0)))
        self.released = [threading.Event() for _ in points]

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for gate, released in zip(self.gates, self.released, strict=True):
            yield from self.lines[sent:gate]
            sent = gate
            released.wait()
        yield from self.lines[sent:]

    def release(self, kill: int) -> None:
        self.released[kill].set()

    def release_all(self) -> None:
        for released in self.released:
            released.set()
