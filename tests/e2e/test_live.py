"""Live mode: the wall clock decides deadlines by itself, with no further input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from deploy.localstack.processes import wait_until
from streams.clocks import rfc3339
from streams.events import AuthorType, CareEvent, Kind, encode_event
from tests.conftest import Broker, make_topics
from tests.e2e.workers import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = """
defaults:
  targets: {first_reply: 4s, next_reply: 4s, resolution: 1h}
  warn_before: 2s
"""


def test_live_worker_decides_a_deadline_nobody_answers(broker: Broker, tmp_path: Path) -> None:
    topics = make_topics(broker, partitions=2)
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        "CAREWATCH_POLICY_FILE": str(tmp_path / "policy.yaml"),
        "CAREWATCH_LATENESS": "1",
        "CAREWATCH_TICK_INTERVAL": "0.25",
    }
    worker = WorkerProcess(topics, tmp_path, "live", mode="live", env=env).start()
    consumer = KafkaConsumer(
        topics.sla, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    try:
        worker.wait_partitions(2)
        now = round(time.time(), 3)
        base = {"platform": "webchat", "brand": "tele2_ru", "thread_id": "chat-1"}
        silent = CareEvent("live-1", Kind.MESSAGE, customer_id="waits", occurred_at=now, **base)
        asked = CareEvent("live-2", Kind.MESSAGE, customer_id="served", occurred_at=now, **base)
        answer = CareEvent(
            "live-3", Kind.REPLY, customer_id="served", occurred_at=now + 1,
            author_type=AuthorType.HUMAN, **base,
        )  # fmt: skip
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for event in (silent, asked, answer):
            producer.send(topics.events, key=event.case_key.encode(), value=encode_event(event))
        producer.flush()
        producer.close()

        got: dict[str, dict[str, object]] = {}

        def decided() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                for r in records:
                    d = json.loads(r.value)
                    got[d["decision_id"]] = d
            return len(got) >= 3

        assert wait_until(decided, 60, 0), got
        waits = f"{silent.case_key}|1|first_reply|1"
        served = f"{asked.case_key}|1|first_reply|1"
        assert set(got) == {f"{waits}|warning", f"{waits}|breached", f"{served}|met"}
        breach = got[f"{waits}|breached"]
        assert breach["deadline"] == rfc3339(now + 4)
        assert breach["decided_at"] == rfc3339(now + 4 + 1)  # deadline plus the lateness
        assert got[f"{served}|met"]["elapsed_seconds"] == 1.0
    finally:
        consumer.close()
        worker.stop()
