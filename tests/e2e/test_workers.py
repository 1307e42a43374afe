"""Several real workers: gauges across a rebalance, and a worker killed mid-replay."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.replay import ReplayReport, replay
from deploy.localstack.processes import log_tail, wait_until
from streams.events import CareEvent, encode_event
from streams.policy import load_policies
from tests.conftest import Broker, TestTopics, make_topics
from tests.e2e.expectations import (
    ROOT_POLICIES,
    Reference,
    observed_gauges,
    reference,
    reference_gauges,
)
from tests.e2e.logs import generate
from tests.e2e.workers import WorkerProcess, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LATENESS = 60.0


def _replay(
    topics: TestTopics, events: list[CareEvent], until: float, timeout: float = 600
) -> ReplayReport:
    return replay(
        [encode_event(e) for e in events],
        bootstrap=topics.settings.bootstrap,
        topic=topics.events,
        group=topics.group,
        lateness=LATENESS,
        until=until,
        timeout=timeout,
        progress=False,
    )


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def _owned(workers: list[WorkerProcess]) -> list[int]:
    owned = []
    for w in workers:
        h = w.health()
        if h is None or h["status"] != "ok":
            return []
        owned.extend(h["partitions"])
    return sorted(owned)


def test_gauges_summed_over_two_workers_equal_the_reference_across_a_rebalance(
    broker: Broker, tmp_path: Path
) -> None:
    topics = make_topics(broker, partitions=4)
    events = generate(cases=500, seed=23, lateness=LATENESS)
    until = max(e.occurred_at for e in events) + 3600  # some cases still wait then
    want = reference_gauges(events, load_policies(ROOT_POLICIES), LATENESS, until)
    assert sum(want.awaiting.values()) > 0

    w1 = WorkerProcess(topics, tmp_path, "w1").start()
    w2 = WorkerProcess(topics, tmp_path, "w2").start()
    try:
        assert wait_until(lambda: _owned([w1, w2]) == [0, 1, 2, 3], 120, 0.5), _owned([w1, w2])
        _replay(topics, events, until)
        both = observed_gauges([w1.metrics(), w2.metrics()])
        assert len(w1.health()["partitions"]) == 2  # type: ignore[index]
        assert (both.open, both.awaiting) == (want.open, want.awaiting)
        assert both.oldest == pytest.approx(want.oldest)

        # /health shows each owned partition's consumer offsets: all committed to the end.
        ends = _end_offsets(broker.bootstrap, topics.events)
        for w in (w1, w2):
            offsets = w.health()["offsets"]  # type: ignore[index]
            assert set(offsets) == {str(p) for p in w.health()["partitions"]}  # type: ignore[index]
            assert all(o["committed"] == ends[int(p)] for p, o in offsets.items()), offsets

        w2.stop()  # its partitions move to w1, which recovers them from the changelog
        w1.wait_partitions(4, timeout=120)
        alone = observed_gauges([w1.metrics()])
        assert (alone.open, alone.awaiting) == (want.open, want.awaiting)
        assert alone.oldest == pytest.approx(want.oldest)
    finally:
        w1.stop()
        w2.stop()


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_a_worker_killed_mid_replay_loses_no_decision_and_decides_nothing_twice(
    broker: Broker, tmp_path: Path, store: str
) -> None:
    """The restarted worker recovers its table from the changelog (memory) or from its
    local RocksDB plus the changelog (rocksdb; faust#176 is about such recoveries)."""
    topics = make_topics(broker, partitions=4)
    events = generate(cases=1200, seed=5, lateness=LATENESS)
    ref = reference(events, load_policies(ROOT_POLICIES), LATENESS)
    env = {"CAREWATCH_STORE": store}
    first = WorkerProcess(topics, tmp_path, "w", env=env).start()
    first.wait_partitions(4)
    sender = _Sender(topics, events)
    second = WorkerProcess(topics, tmp_path, "w", env=env)
    try:
        # Kill it once it has taken in about a third of the cases, mid-stream.
        assert wait_until(lambda: (first.health() or {}).get("cases", 0) > 400, 120, 0.05)
        first.kill()
        assert not sender.reports, "the kill must land mid-replay"
        second.start()
        sender.finish(second)
    finally:
        first.stop()
        second.stop()

    _assert_decided_as(broker, topics, ref)


def test_a_worker_killed_in_the_middle_of_a_checkpoint_decides_each_deadline_as_before(
    broker: Broker, tmp_path: Path
) -> None:
    """RELIABILITY.md, Found 7: a kill between two of a checkpoint's changelog batches
    leaves some of its states in the changelog and not the rest. The drill fault
    ``die-mid-checkpoint`` (drills/faults.py) lands the newest half and kills the worker.
    The next worker must resume each partition's clock where the events acknowledged
    before left it, not where the newest state says: from there, an event read again for
    a case whose state did not land is decided as the first time, with the same
    ``decided_at``."""
    topics = make_topics(broker, partitions=4)
    events = generate(cases=1200, seed=5, lateness=LATENESS)
    ref = reference(events, load_policies(ROOT_POLICIES), LATENESS)
    first = WorkerProcess(topics, tmp_path, "w1", faults=("die-mid-checkpoint=2",)).start()
    first.wait_partitions(4)
    sender = _Sender(topics, events)
    second = WorkerProcess(topics, tmp_path, "w2")
    try:
        assert first.proc is not None
        assert wait_until(lambda: first.proc.poll() is not None, 120, 0.05), "the fault struck"
        assert "drill fault: a checkpoint killed" in first.log.read_text()
        assert not sender.reports, "the fault must strike mid-replay"
        second.start()
        sender.finish(second)
    finally:
        first.stop()
        second.stop()

    _assert_decided_as(broker, topics, ref)


class _Sender:
    """``events`` replayed from a thread of their own, then a final marker 60 days on, so
    the test thread can kill and start workers meanwhile."""

    def __init__(self, topics: TestTopics, events: list[CareEvent]) -> None:
        self.reports: list[ReplayReport | BaseException] = []
        until = max(e.occurred_at for e in events) + 60 * 86400
        self.thread = threading.Thread(target=self._send, args=(topics, events, until))
        self.thread.start()

    def _send(self, topics: TestTopics, events: list[CareEvent], until: float) -> None:
        try:  # within the test's own time limit, so a stall fails with the workers' logs
            self.reports.append(_replay(topics, events, until, timeout=200))
        except BaseException as error:  # handed to the test thread
            self.reports.append(error)

    def finish(self, worker: WorkerProcess) -> None:
        """Wait for the replay; if it did not finish, fail with ``worker``'s log."""
        self.thread.join(timeout=240)
        finished = bool(self.reports) and isinstance(self.reports[0], ReplayReport)
        assert finished, (
            f"the replay did not finish: {self.reports}; restarted worker: {worker.health()}\n"
            f"{log_tail(worker.log, 60)}"
        )


def _assert_decided_as(broker: Broker, topics: TestTopics, ref: Reference) -> None:
    """The SLA topic holds the reference's decisions: none lost, none invented, none
    differing, no deadline with two outcomes; repeats are identical."""
    produced = [json.loads(v) for _, v in read_topic(broker.bootstrap, topics.sla)]
    by_id: dict[str, dict[str, object]] = {}
    outcomes: dict[str, set[str]] = defaultdict(set)
    for d in produced:
        assert by_id.setdefault(d["decision_id"], d) == d, "a repeat must be the same decision"
        deadline = d["decision_id"].rsplit("|", 1)[0]
        if d["outcome"] != "warning":
            outcomes[deadline].add(d["outcome"])
    lost, invented = set(ref.decisions) - set(by_id), set(by_id) - set(ref.decisions)
    assert (len(lost), len(invented)) == (0, 0), "decisions lost, invented"
    assert all(len(o) == 1 for o in outcomes.values())  # never both met and breached
    for decision_id, want in ref.decisions.items():
        assert by_id[decision_id] == want


def test_a_recovery_that_never_receives_a_changelog_partition_reads_it_again(
    broker: Broker, tmp_path: Path
) -> None:
    """RELIABILITY.md, Found 5: a changelog partition whose records Faust never delivers
    to the table recovery. The drill fault ``skip-changelog`` (drills/faults.py) puts one
    partition's position at its end before the recovery fetches; the worker's
    RecoveryWatch must see it silent, read it again, and end the recovery with every
    case the first worker held."""
    topics = make_topics(broker, partitions=4)
    events = generate(cases=300, seed=8, lateness=LATENESS)
    first = WorkerProcess(topics, tmp_path, "w1").start()
    try:
        first.wait_partitions(4)
        _replay(topics, events, max(e.occurred_at for e in events) + LATENESS + 1)
        held = (first.health() or {}).get("cases", 0)
    finally:
        first.stop()
    assert held > 200
    second = WorkerProcess(topics, tmp_path, "w2", faults=("skip-changelog",)).start()
    try:
        second.wait_partitions(4, timeout=120)
        health = second.health() or {}
        assert "drill fault" in second.log.read_text(), "the fault must have been armed"
        assert health["recovery_reseeks"] >= 1
        assert health["cases"] == held, log_tail(second.log, 40)
    finally:
        second.stop()


def test_messages_faust_drops_on_the_way_to_the_agent_are_read_again_in_order(
    broker: Broker, tmp_path: Path
) -> None:
    """RELIABILITY.md, Found 3: Faust's consumer drops a fetched message after its fetch
    position has passed it, and commits past it. The drill faults drop, once each, the
    first message of every partition (a group that never committed: Faust skips its check
    of the first offset), one in the middle (Faust records a gap and fills it as if
    acknowledged), and every clock marker (the last message: no later one shows it is
    missing). The worker's OffsetTrail must read each again, in log order: every decision
    as the reference, and the group committed to the end."""
    topics = make_topics(broker, partitions=4)
    events = generate(cases=300, seed=11, lateness=LATENESS)
    ref = reference(events, load_policies(ROOT_POLICIES), LATENESS)
    until = max(e.occurred_at for e in events) + 60 * 86400
    faults = ("drop-offset=0", "drop-offset=300", "drop-markers")
    worker = WorkerProcess(topics, tmp_path, "w", faults=faults).start()
    try:
        worker.wait_partitions(4)
        try:
            _replay(topics, events, until, timeout=200)
            trail = (worker.health() or {})["offsets_skipped"]
            # Offset 0 of each partition at least; offset 300 too, unless it was dropped
            # while its partition was still being read again from 0.
            assert trail["jumps"] >= 4, trail
            # Markers alone: each dropped with nothing after it, to be missed and read again.
            _replay(topics, [], until + 86400, timeout=200)
        except BaseException as error:
            raise AssertionError(
                f"{error}: {worker.health()}\n{log_tail(worker.log, 40)}"
            ) from error
        trail = (worker.health() or {})["offsets_skipped"]
    finally:
        worker.stop()
    text = worker.log.read_text()
    assert text.count("drill fault: a fetched message dropped") == 16, "4 per partition"
    assert text.count("fetched but never received") >= 4, trail
    assert trail["rewinding"] == [], trail
    _assert_decided_as(broker, topics, ref)
