"""A generated log of >10,000 events through a real worker on the real broker.

Every decision in ``care.sla.v1`` and every counter and histogram count on ``/metrics``
must equal the reference computation (tests/streams/reference.py), and every invalid
line must be in the dead letters with its reason.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from connectors.replay import replay
from streams.errors import InvalidEvent
from streams.events import decode_event, encode_event
from streams.policy import load_policies
from tests.conftest import Broker, make_topics
from tests.e2e.expectations import ROOT_POLICIES, compare_samples, reference
from tests.e2e.logs import generate
from tests.e2e.workers import WorkerProcess, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LATENESS = 60.0
INVALID_LINES = [
    b"not json at all",
    b'{"schema": "care.event/1"}',
    b'{"schema": "care.event/2", "event_id": "x"}',
    json.dumps(
        {
            "schema": "care.event/1",
            "event_id": "bad-ts",
            "kind": "message",
            "platform": "x",
            "brand": "du",
            "thread_id": "t",
            "customer_id": "c",
            "occurred_at": "2026-09-21 14:13:20",
        }
    ).encode(),
    b"\xff\xfe invalid utf-8",
]


def test_replay_equals_the_reference(broker: Broker, tmp_path: Path) -> None:
    topics = make_topics(broker, partitions=4)
    events = generate(cases=1700, seed=11, lateness=LATENESS)
    assert len(events) >= 10_000
    lines = [encode_event(e) for e in events]
    for i, bad in enumerate(INVALID_LINES):  # spread through the log
        lines.insert((i + 1) * len(lines) // (len(INVALID_LINES) + 1), bad)
    ref = reference(events, load_policies(ROOT_POLICIES), LATENESS)
    reasons: Counter[str] = Counter()
    for bad in INVALID_LINES:
        with pytest.raises(InvalidEvent) as invalid:
            decode_event(bad)
        reasons[invalid.value.reason] += 1
    for reason, n in reasons.items():
        ref.samples[("carewatch_events_rejected_total", (("reason", reason),))] += n

    worker = WorkerProcess(topics, tmp_path, "w1").start()
    try:
        worker.wait_partitions(4)
        last = max(e.occurred_at for e in events)
        report = replay(
            lines,
            bootstrap=broker.bootstrap,
            topic=topics.events,
            group=topics.group,
            lateness=LATENESS,
            until=last + 60 * 86400,  # far enough for every deadline of the log
            timeout=600,
            progress=False,
        )
        assert report.sent == len(lines)
        assert report.invalid == len(INVALID_LINES)

        produced = [json.loads(v) for _, v in read_topic(broker.bootstrap, topics.sla)]
        by_id: dict[str, dict[str, object]] = {}
        for decision in produced:
            earlier = by_id.setdefault(decision["decision_id"], decision)
            assert earlier == decision, "a repeated decision_id with other content"
        assert len(by_id) == len(ref.decisions)
        missing = set(ref.decisions) - set(by_id)
        extra = set(by_id) - set(ref.decisions)
        assert not missing, sorted(missing)[:5]
        assert not extra, sorted(extra)[:5]
        for decision_id, want in ref.decisions.items():
            assert by_id[decision_id] == want

        assert compare_samples(worker.metrics(), ref) == []
        faust_series = worker.metrics(prefix="faust_")
        received = sum(
            v for (name, _), v in faust_series.items() if name == "faust_messages_received_total"
        )
        assert received >= len(lines)  # Faust's own sensors sit beside ours

        dead = [json.loads(v) for _, v in read_topic(broker.bootstrap, topics.deadletter)]
        assert Counter(d["reason"] for d in dead) == reasons
        assert all(d["topic"] == topics.events and "value_b64" in d for d in dead)
    finally:
        worker.stop()
