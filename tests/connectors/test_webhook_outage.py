"""Kafka stopped under a running webhook: 503 and nothing acknowledged; after a restart the
senders' retries land, and everything acknowledged is in the topic exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import ProcessRecord, free_port, stop, wait_until
from streams.settings import TopicSpec
from streams.topics import ensure_topics
from tests.connectors.harness import Reply, RunningWebhook, event_ids, webhook_config

pytestmark = pytest.mark.kafka
TOPIC = "care.events.v1"


class OwnBroker:
    def __init__(self, home: Path) -> None:
        self.node = kafka.KafkaNode(home, free_port(), free_port(), default_cache_dir())
        self.record: ProcessRecord | None = None

    def start(self) -> None:
        self.record = kafka.start(self.node)

    def stop(self) -> None:
        if self.record is not None:
            stop(self.record)
            self.record = None


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def batch(name: str, n: int) -> bytes:
    """``n`` events whose ids start with ``name``: one request of a sender."""
    return b"\n".join(
        orjson.dumps({
            "schema": "care.event/1",
            "event_id": f"{name}-{i}",
            "kind": "message",
            "platform": "webchat",
            "brand": "tele2",
            "thread_id": f"{name}-thread",
            "customer_id": f"c{i}",
            "occurred_at": "2026-11-21T09:13:20Z",
        })
        for i in range(n)
    )  # fmt: skip


def test_503_while_kafka_is_down_and_retries_land_exactly_once_after_it_is_back(
    own_broker: OwnBroker,
) -> None:
    ensure_topics(own_broker.node.bootstrap, [TopicSpec(TOPIC, 4, 1)])
    config = webhook_config(own_broker.node.bootstrap, TOPIC, ack_timeout=2.0, backoff_max=1.0)
    acknowledged: list[str] = []
    with RunningWebhook(config) as service:

        def post(name: str, n: int) -> Reply:
            reply = service.post_events(batch(name, n))
            if reply.status == 200:
                acknowledged.extend(f"{name}-{i}" for i in range(n))
            return reply

        assert post("before", 5).status == 200
        own_broker.stop()

        down = [post(name, 4) for name in ("during-1", "during-2", "during-3")]
        assert [r.status for r in down] == [503, 503, 503]
        for reply in down:
            assert int(reply.headers["Retry-After"]) >= 1
            assert reply.json()["errors"][0]["reason"] == "kafka_unavailable"
        health = service.request("GET", "/health").json()
        assert health["kafka"] == "down"
        assert service.metric("carewatch_connector_up", connector="webhook") == 0
        errors = service.metric(
            "carewatch_connector_errors_total", connector="webhook", reason="kafka_unavailable"
        )
        assert errors is not None
        assert errors >= 1
        assert acknowledged == [f"before-{i}" for i in range(5)]

        own_broker.start()  # same folder, same ports: the data written before is there
        for name in ("during-1", "during-2", "during-3"):  # the senders retry
            assert wait_until(lambda name=name: post(name, 4).status == 200, 90, 0.2), name
        assert post("after", 3).status == 200
        assert service.request("GET", "/health").json()["kafka"] == "up"
        assert service.metric("carewatch_connector_up", connector="webhook") == 1
        written = service.metric(
            "carewatch_connector_events_total", connector="webhook", platform="webchat"
        )

    counts = Counter(event_ids(own_broker.node.bootstrap, TOPIC))
    assert sorted(counts) == sorted(acknowledged)
    assert set(counts.values()) == {1}, "an acknowledged event is in the topic twice"
    assert len(acknowledged) == 5 + 3 * 4 + 3
    assert written == len(acknowledged)  # counted once each, after the broker's ack
