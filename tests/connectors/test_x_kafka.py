"""`carewatch connect x` end to end: the fake X stream, through tweepy and the shared
producer, into a real Kafka topic keyed by case key; /health and /metrics on the side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from connectors.config import KafkaOptions
from connectors.x import serve
from connectors.x_backoff import BackoffPolicy
from connectors.x_settings import XSettings
from streams.events import decode_event
from tests.conftest import Broker, TestTopics
from tests.connectors import fake_x
from tests.connectors.fake_x import (
    AMIRA,
    AMIRA_MENTION,
    BORIS,
    BORIS_MENTION,
    BOT_TO_AMIRA,
    REPLY_TO_BORIS,
    ROOT,
    FakeX,
    until,
)

pytestmark = pytest.mark.kafka
FAST = BackoffPolicy(network_step=0.01, http_first=0.05, rate_limit_first=0.1, reset_margin=0.05)


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        server.load(fake_x.world())
        yield server


def read_topic(
    bootstrap: str, topic: str, want: int, within: float = 30.0
) -> list[tuple[bytes, bytes]]:
    """Every record of ``topic`` once it holds ``want`` of them (all partitions, from 0)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + within
        while len(records) < want and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend((r.key, r.value) for r in batch)
        return records
    finally:
        consumer.close()


def test_stream_to_kafka_keyed_by_case(broker: Broker, topics: TestTopics, fake: FakeX) -> None:
    fake.script_stream(
        [
            fake_x.post(AMIRA_MENTION),
            fake_x.post(BORIS_MENTION),
            fake_x.post(BOT_TO_AMIRA),
            fake_x.post(REPLY_TO_BORIS),
        ]
    )
    settings = XSettings(
        bearer_token=fake.token,
        brands="du=du_care,du_bot",
        bot_accounts="du_bot",
        api_base=fake.base_url,
        metrics_port=0,
    )
    kafka = KafkaOptions(bootstrap=broker.bootstrap, topic=topics.events, ack_timeout=10.0)
    registry = CollectorRegistry()
    ports: list[int] = []

    def metric(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    async def scenario() -> list[tuple[bytes, bytes]]:
        stop = asyncio.Event()
        service = asyncio.create_task(
            serve(settings, kafka, stop, registry=registry, ready=ports.append, policy=FAST)
        )
        try:
            await until(
                lambda: (
                    metric("carewatch_connector_events_total", connector="x", platform="x") == 4.0
                ),
                within=30,
                what="four events acknowledged by Kafka",
            )
            assert metric("carewatch_connector_up", connector="x") == 1.0
            url = f"http://127.0.0.1:{ports[0]}"
            health = await asyncio.to_thread(
                lambda: json.load(urllib.request.urlopen(f"{url}/health"))
            )
            assert (health["connector"], health["kafka"]) == ("x", "up")
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"{url}/metrics").read().decode()
            )
            assert 'carewatch_connector_events_total{connector="x",platform="x"} 4.0' in text
            return await asyncio.to_thread(read_topic, broker.bootstrap, topics.events, 4)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(service, 30)

    records = asyncio.run(scenario())
    events = {
        decode_event(value).event_id: (key.decode(), decode_event(value)) for key, value in records
    }
    assert set(events) == {
        f"x:{i}" for i in (AMIRA_MENTION, BORIS_MENTION, BOT_TO_AMIRA, REPLY_TO_BORIS)
    }
    for key, event in events.values():
        assert key == event.case_key
    assert events[f"x:{REPLY_TO_BORIS}"][0] == f"x:du:{ROOT}:{BORIS}"
    assert events[f"x:{BOT_TO_AMIRA}"][0] == f"x:du:{ROOT}:{AMIRA}"
