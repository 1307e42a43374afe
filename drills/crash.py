"""The crash drill: SIGKILL the worker at random moments of a replay, restart it each time.

A seeded log (:func:`tests.e2e.logs.generate`: repeats, disorder within the lateness,
bots, pending, reopens) is replayed by ``connectors.replay.replay`` through one worker.
Before the run, ``kills`` random points are drawn between 5 % and 90 % of the log; each
time the group's committed offsets pass the next point the worker gets SIGKILL and a new
one starts at once on the same state folder (so with ``rocksdb`` it reopens its local
store; with ``memory`` it restores from the changelog). When the replay has been
consumed to its end (its final clock marker 60 days past the log), ``care.sla.v1`` is
compared with the reference: no decision lost or invented, no deadline with two
outcomes, repeats identical; and the last worker's case gauges equal the reference's.
"""

from __future__ import annotations

import random
import time

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
    lines = [encode_event(e) for e in log]
    began = time.monotonic()
    sending = Background[ReplayReport](
        lambda: replay(
            lines,
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
        for point in points:
            wait_for(
                lambda p=point: (progress.committed() or 0) >= p or sending.done,  # type: ignore[misc]
                600 + len(log) / 50,
                f"committed offsets passing {point}",
                poll=0.1,
            )
            if sending.done:
                break  # the replay finished before this point (a small log)
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
        sending.result(timeout=900 + len(log) / 50)
    finally:
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
