"""Shared fixtures: the real Kafka broker, started once per test session, and per-test topics.

The broker runs from the same jars as ``carewatch stack up`` (fetched by ``make test``
into the cache), in a temporary folder on free loopback ports; it is stopped when the
session ends. Each test gets topics and a consumer group of its own, so tests never see
each other's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.localstack import kafka, monitoring
from deploy.localstack.install import default_cache_dir, ensure_commands
from deploy.localstack.processes import free_port, stop
from streams.settings import Settings, TopicSpec
from streams.topics import ensure_topics


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    node: kafka.KafkaNode


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real single-node KRaft broker for the whole session."""
    home: Path = tmp_path_factory.mktemp("kafka")
    node = kafka.KafkaNode(home, free_port(), free_port(), default_cache_dir())
    record = kafka.start(node)
    try:
        yield Broker(node.bootstrap, node)
    finally:
        stop(record)


@dataclass(frozen=True)
class TestTopics:
    """Topic names unique to one test, and a consumer group of its own."""

    __test__ = False  # a fixture's type, not a test class

    settings: Settings
    group: str

    @property
    def events(self) -> str:
        return self.settings.events_topic

    @property
    def sla(self) -> str:
        return self.settings.sla_topic

    @property
    def deadletter(self) -> str:
        return self.settings.deadletter_topic


def make_topics(
    broker: Broker, partitions: int = 4, extra: tuple[TopicSpec, ...] = ()
) -> TestTopics:
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        bootstrap=broker.bootstrap,
        events_topic=f"care.events.v1.{suffix}",
        sla_topic=f"care.sla.v1.{suffix}",
        deadletter_topic=f"care.deadletter.v1.{suffix}",
        partitions=partitions,
    )
    ensure_topics(broker.bootstrap, (*settings.topics, *extra))
    return TestTopics(settings, f"test-{suffix}")


@pytest.fixture
def topics(broker: Broker) -> TestTopics:
    """The three contract topics (4 partitions each), named for this test only."""
    return make_topics(broker)


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    monitoring: monitoring.Monitoring


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus (Debian's) for the session, scraping the file_sd targets folder every 1 s."""
    ensure_commands(["prometheus", "promtool"], print)
    m = monitoring.Monitoring(tmp_path_factory.mktemp("prometheus"), free_port(), free_port(), "1s")
    record = monitoring.start_prometheus(m)
    try:
        yield PrometheusServer(m.prometheus_url, m)
    finally:
        stop(record)
