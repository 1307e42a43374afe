"""Creating the contract's topics on the real broker: idempotent, and strict on partitions."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from streams.errors import CarewatchError
from streams.settings import TopicSpec
from streams.topics import TopicMismatch, ensure_topics
from tests.conftest import Broker, make_topics

pytestmark = pytest.mark.kafka


def unique(stem: str) -> str:
    return f"{stem}.{uuid.uuid4().hex[:10]}"


def partition_counts(broker: Broker, names: list[str]) -> dict[str, int]:
    """Partitions with a leader, per topic, as the broker's metadata shows them now."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = admin.describe_topics(names)
    finally:
        admin.close()
    return {
        t["name"]: sum(1 for p in t["partitions"] if p["leader_id"] >= 0)
        for t in described
        if t["error_code"] == 0
    }


def test_creating_twice_creates_once_and_reports_what_it_created(broker: Broker) -> None:
    specs = [
        TopicSpec(unique("care.events.v1"), 3, 1),
        TopicSpec(unique("care.sla.v1"), 3, 1),
        TopicSpec(unique("care.deadletter.v1"), 1, 1),
    ]
    names = [s.name for s in specs]
    assert ensure_topics(broker.bootstrap, specs) == names
    # Created means usable: in the metadata, every partition with a leader, at once.
    assert partition_counts(broker, names) == {names[0]: 3, names[1]: 3, names[2]: 1}
    assert ensure_topics(broker.bootstrap, specs) == []
    assert partition_counts(broker, names) == {names[0]: 3, names[1]: 3, names[2]: 1}


def test_only_the_missing_topics_are_created(broker: Broker) -> None:
    existing = make_topics(broker, partitions=2)
    new = TopicSpec(unique("care.extra.v1"), 2, 1)
    specs = [*existing.settings.topics, new]
    assert ensure_topics(broker.bootstrap, specs) == [new.name]
    assert ensure_topics(broker.bootstrap, specs) == []


def test_topic_configs_are_applied(broker: Broker) -> None:
    spec = TopicSpec(unique("care.compacted.v1"), 1, 1, (("cleanup.policy", "compact"),))
    assert ensure_topics(broker.bootstrap, [spec]) == [spec.name]
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
    finally:
        admin.close()
    config = described["topic"][spec.name]["cleanup.policy"]
    assert config["value"] == "compact"  # the broker's default is "delete"


def test_a_partition_count_mismatch_raises_naming_the_topic_and_both_counts(
    broker: Broker,
) -> None:
    existing = make_topics(broker, partitions=2)
    specs = [TopicSpec(existing.events, 5, 1), TopicSpec(unique("care.new.v1"), 5, 1)]
    with pytest.raises(TopicMismatch) as err:
        ensure_topics(broker.bootstrap, specs)
    message = str(err.value)
    assert existing.events in message
    assert "has 2 partitions" in message
    assert "configured 5" in message
    assert isinstance(err.value, CarewatchError)
    # Nothing was created: the check runs before any creation.
    assert ensure_topics(broker.bootstrap, specs[1:]) == [specs[1].name]


def test_a_mismatch_is_raised_for_a_topic_created_moments_before(broker: Broker) -> None:
    """Another process may create the topic just before us: create_topics then says it
    exists, and its partition count must still be checked (not trusted)."""
    name = unique("care.events.v1")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics({name: {"num_partitions": 2, "replication_factor": 1}})
    finally:
        admin.close()
    with pytest.raises(TopicMismatch, match=f"topic {name} has 2 partitions, configured 5"):
        ensure_topics(broker.bootstrap, [TopicSpec(name, 5, 1)])
