"""The broker drill: stop and start the real broker in the middle of a stream.

Two replay-mode workers consume while the replay connector (``connectors.replay.load``,
``carewatch connect replay``: validated events through the shared idempotent
``EventProducer``) sends a seeded log paced by event time, so events keep arriving for
``load_seconds``. Once the workers have committed a quarter of the log the broker gets SIGTERM, and is
started again on the same ports with the same data folder. Nobody restarts the workers
or the connector: they must reconnect by themselves. The connector's ``ack_timeout`` is
raised above the restart's length (its default, 10 s, is shorter than a broker restart
on this machine: it would stop sending and say so, as documented). Then the final clock
markers are sent (``replay`` with no lines) and ``care.sla.v1`` must equal the reference
for every event the connector saw acknowledged, which must be all of them.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.config import KafkaOptions
from connectors.producer import EventProducer
from connectors.replay import LoadReport, load, replay
from drills.checks import GroupProgress, check_decisions, gauge_problems, summed_gauges
from drills.crash import EVENTS_PER_CASE
from drills.rebalance import settled
from drills.rig import LATENESS, Background, Result, Rig, alive, stop_worker, wait_for, worker_log
from streams.errors import InvalidEvent
from streams.events import CareEvent, decode_event, encode_event
from streams.metrics import ConnectorMetrics
from streams.policy import load_policies
from streams.processor import partition_for
from tests.e2e.expectations import ROOT_POLICIES, reference, reference_gauges
from tests.e2e.logs import generate
from tests.e2e.workers import WorkerProcess, read_topic

COUNTED = (
    "carewatch_events_total",
    "carewatch_events_duplicate_total",
    "carewatch_events_late_total",
    "carewatch_events_rejected_total",
)

ACK_TIMEOUT = 120.0  # seconds the connector waits for an ack: longer than a restart


def _counters(workers: list[WorkerProcess]) -> dict[str, float]:
    """Events counted by the workers (they never restart here, so counters are whole)."""
    out: dict[str, float] = {}
    for w in workers:
        for (name, _), value in w.metrics().items():
            if name in COUNTED:
                out[name] = out.get(name, 0.0) + value
    return out


def _delivery(bootstrap: str, topic: str, log: list[CareEvent]) -> dict[str, int]:
    """What the events topic holds against the log: missing events, extra copies, and
    reorderings (an event stored after one the connector sent later, same partition)."""
    position: dict[str, int] = {}
    for n, event in enumerate(log):
        position.setdefault(event.event_id, n)
    held: Counter[str] = Counter()
    reordered = 0
    latest: dict[int, int] = {}  # partition -> the highest log position stored so far
    partition_of: dict[str, int] = {}
    for _, value in read_topic(bootstrap, topic):
        try:
            event = decode_event(value)
        except InvalidEvent:
            continue  # clock markers
        held[event.event_id] += 1
        if held[event.event_id] > 1:
            continue
        p = partition_for(event.case_key, 4)
        partition_of[event.event_id] = p
        at = position.get(event.event_id, -1)
        if at < latest.get(p, -1):
            reordered += 1
        latest[p] = max(latest.get(p, -1), at)
    sent = Counter(e.event_id for e in log)
    return {
        "messages": sum(held.values()),
        "missing": sum(1 for i in sent if i not in held),
        "extra_copies": sum(max(0, held[i] - sent[i]) for i in held),
        "reordered": reordered,
    }


def broker_restart(rig: Rig, events: int, seed: int, load_seconds: float) -> Result:
    result = Result(
        "broker restart",
        f"python -m drills --only broker --broker-events {events} --broker-seconds {load_seconds:.0f} --seed {seed}",
    )
    log = generate(cases=max(20, round(events / EVENTS_PER_CASE)), seed=seed, lateness=LATENESS)
    until = max(e.occurred_at for e in log) + 60 * 86400
    policies = load_policies(ROOT_POLICIES)
    ref = reference(log, policies, LATENESS)
    want = reference_gauges(log, policies, LATENESS, until)
    path = rig.home / f"broker-{seed}.jsonl"
    path.write_bytes(b"".join(encode_event(e) + b"\n" for e in log))
    topics = rig.topics()
    workers = [rig.worker(topics, f"broker-w{i}").start() for i in (1, 2)]
    # Both workers in one settled generation before the load: a first worker owning all
    # four partitions alone would otherwise start the load into a rebalance (it did in
    # CI, where the second worker started later).
    wait_for(
        lambda: (
            settled(healths := [w.health() for w in workers])
            and all(h is not None and h["partitions"] for h in healths)
        ),
        180,
        "two workers sharing the four partitions, settled",
    )
    span = max(e.occurred_at for e in log) - min(e.occurred_at for e in log)
    speed = span / load_seconds
    producer = EventProducer(
        KafkaOptions(bootstrap=rig.bootstrap, topic=topics.events, ack_timeout=ACK_TIMEOUT),
        ConnectorMetrics(CollectorRegistry(), "replay"),
    )
    progress = GroupProgress(rig.bootstrap, topics.events, topics.group)
    loading = Background[LoadReport](
        lambda: load(Path(path), producer, speed=speed, progress=False), "broker-load"
    )
    try:
        wait_for(
            lambda: (progress.committed() or 0) >= len(log) // 4,
            load_seconds * 3 + 120,
            "a quarter of the log consumed and committed",
        )
        in_kafka = progress.ends() or 0
        committed = progress.committed() or 0
        progress.close()
        down_began = time.monotonic()
        stop_seconds = rig.stop_broker()
        result.require(not rig.broker_alive(), "the broker did not stop")
        start_seconds = rig.start_broker()
        down = time.monotonic() - down_began
        report = loading.result(timeout=load_seconds * 3 + ACK_TIMEOUT + 300)
    finally:
        producer.close()
    final = replay(
        [],
        bootstrap=rig.bootstrap,
        topic=topics.events,
        group=topics.group,
        lateness=LATENESS,
        until=until,
        timeout=600 + len(log) / 50,
        progress=False,
    )
    for w in workers:
        result.require(alive(w), f"{w.name} died: {worker_log(w)}")
    decisions = check_decisions(rig.bootstrap, topics.sla, ref)
    gauges = gauge_problems(summed_gauges(workers), want)
    counted = _counters(workers)
    delivered = _delivery(rig.bootstrap, topics.events, log)
    skips = {w.name: (w.health() or {}).get("offsets_skipped") for w in workers}
    for w in workers:
        stop_worker(w)
    result.require(report.stopped is None, f"the connector stopped early: {report.stopped}")
    result.require(
        report.acked == len(log), f"the connector saw {report.acked} of {len(log)} events acked"
    )
    result.require(not report.rejected, f"the connector rejected lines: {dict(report.rejected)}")
    for problem in decisions.problems() + gauges[:10]:
        result.require(False, problem)
    if decisions.problems():  # the evidence, in the message a test failure prints
        result.require(
            False,
            f"evidence: worker counters {counted}; events topic {delivered}; "
            f"offsets skipped on the way to the agent {skips}",
        )
    result.figures = {
        "events": len(log),
        "load_seconds": report.seconds,
        "events_in_kafka_at_stop": in_kafka,
        "committed_at_stop": committed,
        "broker_stop_seconds": stop_seconds,
        "broker_start_seconds": start_seconds,
        "broker_down_seconds": down,
        "connector": {"sent": report.sent, "acked": report.acked, "stopped": report.stopped},
        "final_wait_seconds": final.seconds,
        "decisions": decisions.to_dict(),
        "gauge_mismatches": len(gauges),
        "workers_restarted": 0,
        "worker_counters": counted,
        "events_topic": delivered,
        "offsets_skipped": skips,
    }
    result.summary = (
        f"{len(log):,} events paced over {report.seconds:.0f} s; broker down {down:.1f} s "
        f"at {in_kafka / len(log):.0%} of the log; connector acked {report.acked:,}/{len(log):,}; "
        f"decisions {decisions.distinct:,}/{decisions.expected:,}: lost {decisions.lost}, "
        f"two outcomes {decisions.two_outcomes}, repeats {decisions.repeats}; gauge mismatches {len(gauges)}"
    )
    return result
