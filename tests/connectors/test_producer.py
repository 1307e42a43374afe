"""The shared producer: bounded in-flight records, bounded failure, acks before counts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from connectors.config import KafkaOptions
from connectors.producer import Backoff, EventProducer, KafkaUnavailable, Record
from deploy.localstack.processes import free_port, wait_until
from streams.errors import InvalidEvent
from streams.events import CareEvent, Kind
from streams.metrics import ConnectorMetrics
from tests.conftest import Broker, make_topics
from tests.connectors.harness import topic_size


def producer_for(options: KafkaOptions) -> tuple[EventProducer, CollectorRegistry]:
    registry = CollectorRegistry()
    return EventProducer(options, ConnectorMetrics(registry, "test")), registry


class Tally:
    def __init__(self) -> None:
        self.acked = 0
        self.failed: list[BaseException] = []

    def ack(self) -> None:
        self.acked += 1

    def fail(self, exc: BaseException) -> None:
        self.failed.append(exc)


def record(n: int) -> Record:
    return Record(f"x:b:t{n}:c".encode(), b'{"n": %d}' % n, "x")


@pytest.mark.kafka
def test_the_in_flight_records_never_exceed_the_bound_and_all_arrive(broker: Broker) -> None:
    topics = make_topics(broker)
    bound, total = 16, 800
    options = KafkaOptions(broker.bootstrap, topics.events, max_pending=bound, linger_ms=10)
    producer, registry = producer_for(options)
    observed: list[int] = []
    tally = Tally()
    sending = threading.Event()

    def sample() -> None:  # what an outside observer sees while the sender is held back
        while sending.is_set():
            observed.append(producer.pending)
            time.sleep(0)  # only yields the GIL to the sender

    sending.set()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for n in range(total):
            producer.submit(record(n), tally)
        producer.flush(timeout=30)
    finally:
        sending.clear()
        sampler.join()
        producer.close()
    assert (tally.acked, tally.failed) == (total, [])
    assert producer.peak_pending == bound  # the sender filled the buffer and was held there
    assert max(observed) <= bound
    assert topic_size(broker.bootstrap, topics.events) == total
    written = registry.get_sample_value(
        "carewatch_connector_events_total", {"connector": "test", "platform": "x"}
    )
    assert written == total


def test_an_unreachable_broker_fails_within_the_bound_then_at_once_until_the_pause_ends() -> None:
    options = KafkaOptions(f"127.0.0.1:{free_port()}", "care.events.v1", ack_timeout=1.0)
    producer, registry = producer_for(options)
    try:
        started = time.monotonic()
        with pytest.raises(KafkaUnavailable) as first:
            producer.connect()
        assert time.monotonic() - started < 5.0
        assert first.value.retry_after == pytest.approx(0.5)
        started = time.monotonic()
        with pytest.raises(KafkaUnavailable) as second:  # during the pause: no new attempt
            asyncio.run(producer.send_records([record(1)]))
        assert time.monotonic() - started < 0.5
        assert 0 < second.value.retry_after <= 0.5
        assert producer.health()["kafka"] == "down"
        labels = {"connector": "test", "reason": "kafka_unavailable"}
        assert registry.get_sample_value("carewatch_connector_errors_total", labels) == 1
        assert registry.get_sample_value("carewatch_connector_up", {"connector": "test"}) == 0
        assert wait_until(lambda: producer.health()["retry_in"] == 0, 5, 0.05)
        with pytest.raises(KafkaUnavailable) as third:  # the next attempt doubles the pause
            producer.connect()
        assert third.value.retry_after == pytest.approx(1.0)
    finally:
        producer.close(timeout=1)


def test_send_all_refuses_an_invalid_event_before_sending_anything() -> None:
    options = KafkaOptions(f"127.0.0.1:{free_port()}", "care.events.v1", ack_timeout=1.0)
    producer, _ = producer_for(options)
    broken = CareEvent("id", Kind.REPLY, "x", "du", "t", "c", 0.0)  # a reply needs author_type
    try:
        with pytest.raises(InvalidEvent) as refused:
            asyncio.run(producer.send_all([broken]))
        assert refused.value.reason == "missing_field"
        assert producer.health()["kafka"] == "unknown"  # Kafka was never contacted
    finally:
        producer.close(timeout=1)


def test_backoff_doubles_up_to_its_maximum_and_resets_on_success() -> None:
    now = [100.0]
    backoff = Backoff(maximum=3.0, initial=0.5, clock=lambda: now[0])
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.remaining() == 3.0
    now[0] += 1.0
    assert backoff.remaining() == 2.0
    backoff.succeeded()
    assert (backoff.remaining(), backoff.failed()) == (0.0, 0.5)
