"""Kafka SASL for real: a broker that requires SASL/PLAIN, a worker and clients that log in."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import free_port, stop, wait_until
from streams.errors import ConfigError
from streams.events import AuthorType, CareEvent, Kind, encode_event
from streams.security import kafka_python_config
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.conftest import TestTopics
from tests.e2e.workers import WorkerProcess

USER, PASSWORD = "carewatch", "s3cret-sasl-pw"
POLICY = "defaults:\n  targets: {first_reply: 1h, next_reply: 1h, resolution: 1d}\n"


@pytest.fixture(scope="module")
def sasl_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.KafkaNode]:
    node = kafka.KafkaNode(
        tmp_path_factory.mktemp("sasl-kafka"),
        free_port(),
        free_port(),
        default_cache_dir(),
        sasl_users=((USER, PASSWORD),),
    )
    record = kafka.start(node)
    try:
        yield node
    finally:
        stop(record)


def _settings(node: kafka.KafkaNode, password: str = PASSWORD, **more: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "CAREWATCH_BOOTSTRAP": node.bootstrap,
        "CAREWATCH_EVENTS_TOPIC": f"care.events.v1.{suffix}",
        "CAREWATCH_SLA_TOPIC": f"care.sla.v1.{suffix}",
        "CAREWATCH_DEADLETTER_TOPIC": f"care.deadletter.v1.{suffix}",
        "CAREWATCH_PARTITIONS": "2",
        "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CAREWATCH_KAFKA_SASL_USERNAME": USER,
        "CAREWATCH_KAFKA_SASL_PASSWORD": password,
        **more,
    }
    return Settings.from_env(env)


@pytest.mark.kafka
def test_wrong_credentials_are_refused(sasl_node: kafka.KafkaNode) -> None:
    settings = _settings(sasl_node, password="not-the-password")
    with pytest.raises(KafkaError):
        ensure_topics(settings.bootstrap, settings.topics, 5_000, kafka_python_config(settings))
    with pytest.raises(KafkaError):  # nor can anyone in without SASL at all
        ensure_topics(settings.bootstrap, settings.topics, 5_000)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_worker_and_clients_work_through_sasl(sasl_node: kafka.KafkaNode, tmp_path: Path) -> None:
    settings = _settings(sasl_node)
    client = kafka_python_config(settings)
    assert len(ensure_topics(settings.bootstrap, settings.topics, client_config=client)) == 3
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CAREWATCH_KAFKA_SASL_USERNAME": USER,
        "CAREWATCH_KAFKA_SASL_PASSWORD": PASSWORD,
        "CAREWATCH_POLICY_FILE": str(tmp_path / "policy.yaml"),
        "CAREWATCH_LATENESS": "1",
        "CAREWATCH_TICK_INTERVAL": "0.25",
    }
    topics = TestTopics(settings, f"sasl-{uuid.uuid4().hex[:8]}")
    worker = WorkerProcess(topics, tmp_path, "sasl-worker", mode="live", env=env).start()
    consumer = KafkaConsumer(
        settings.sla_topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        **client,
    )
    try:
        worker.wait_partitions(2)
        now = round(time.time(), 3)
        base = {"platform": "telegram", "brand": "tele2_ru", "thread_id": "t", "customer_id": "c"}
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap, acks="all", **client)
        for event in (
            CareEvent("sasl-1", Kind.MESSAGE, occurred_at=now, **base),
            CareEvent(
                "sasl-2", Kind.REPLY, occurred_at=now + 2, author_type=AuthorType.HUMAN, **base
            ),
        ):
            producer.send(
                settings.events_topic, key=event.case_key.encode(), value=encode_event(event)
            )
        producer.flush()
        producer.close()
        got: list[dict[str, object]] = []

        def decided() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(json.loads(r.value) for r in records)
            return bool(got)

        assert wait_until(decided, 60, 0), "no decision through SASL"
        assert got[0]["decision_id"] == "telegram:tele2_ru:t:c|1|first_reply|1|met"
        log = worker.log.read_text()
        assert PASSWORD not in log  # the password never reaches a log line
    finally:
        consumer.close()
        worker.stop()


def test_sasl_settings_need_credentials_and_hide_the_password() -> None:
    with pytest.raises(ConfigError) as missing:
        Settings.from_env({"CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert missing.value.field == "CAREWATCH_KAFKA_SASL_USERNAME"
    with pytest.raises(ConfigError) as mechanism:
        Settings.from_env({"CAREWATCH_KAFKA_SASL_MECHANISM": "MD5"})
    assert mechanism.value.field == "CAREWATCH_KAFKA_SASL_MECHANISM"
    with pytest.raises(ConfigError) as cafile:
        Settings.from_env({"CAREWATCH_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"})
    assert cafile.value.field == "CAREWATCH_KAFKA_SSL_CAFILE"
    settings = Settings.from_env(
        {
            "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CAREWATCH_KAFKA_SASL_USERNAME": USER,
            "CAREWATCH_KAFKA_SASL_PASSWORD": PASSWORD,
        }
    )
    assert PASSWORD not in repr(settings)
    assert kafka_python_config(settings)["sasl_plain_password"] == PASSWORD
