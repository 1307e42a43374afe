"""Kafka SASL for real: a broker that requires SASL/PLAIN, a worker and clients that log in."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from connectors.config import ConnectorConfig, KafkaOptions
from connectors.producer import EventProducer
from connectors.replay import ReplayTimeout, replay
from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import free_port, stop, wait_until
from streams.errors import ConfigError
from streams.events import AuthorType, CareEvent, Kind, encode_event
from streams.metrics import ConnectorMetrics
from streams.security import kafka_python_config
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.conftest import TestTopics
from tests.connectors.harness import RunningWebhook, webhook_config
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


# --- the connectors: every Kafka client they build logs in with the same settings ---------


def _sasl_options(node: kafka.KafkaNode, topic: str, password: str = PASSWORD) -> KafkaOptions:
    env = {
        "CAREWATCH_BOOTSTRAP": node.bootstrap,
        "CAREWATCH_EVENTS_TOPIC": topic,
        "CAREWATCH_KAFKA_ACK_TIMEOUT": "5",
        "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CAREWATCH_KAFKA_SASL_USERNAME": USER,
        "CAREWATCH_KAFKA_SASL_PASSWORD": password,
    }
    return ConnectorConfig.load(env=env).kafka


def _sasl_topic(node: kafka.KafkaNode) -> str:
    settings = _settings(node)
    ensure_topics(settings.bootstrap, settings.topics, client_config=kafka_python_config(settings))
    return settings.events_topic


def _read_all(settings: Settings, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        **kafka_python_config(settings),
    )
    got: list[bytes] = []
    try:

        def enough() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(r.value for r in records)
            return len(got) >= expected

        assert wait_until(enough, 60, 0), f"{len(got)} of {expected} records through SASL"
    finally:
        consumer.close()
    return got


@pytest.mark.kafka
def test_the_webhook_writes_through_sasl_and_a_wrong_password_is_a_503(
    sasl_node: kafka.KafkaNode,
) -> None:
    topic = _sasl_topic(sasl_node)
    event = CareEvent(
        "sasl-webhook-1",
        Kind.MESSAGE,
        platform="telegram",
        brand="tele2_ru",
        thread_id="t",
        customer_id="c",
        occurred_at=time.time(),
    )
    body = encode_event(event) + b"\n"
    config = webhook_config(sasl_node.bootstrap, topic)
    good = dataclasses.replace(config, kafka=_sasl_options(sasl_node, topic))
    with RunningWebhook(good) as service:
        reply = service.post_events(body)
        assert (reply.status, reply.json()) == (200, {"accepted": 1})
    (written,) = _read_all(_settings(sasl_node), topic, 1)
    assert json.loads(written)["event_id"] == "sasl-webhook-1"
    bad = dataclasses.replace(config, kafka=_sasl_options(sasl_node, topic, "not-the-password"))
    with RunningWebhook(bad) as service:
        refused = service.post_events(body)
        assert refused.status == 503
        assert "not-the-password" not in refused.body.decode()
        assert (
            service.metric(
                "carewatch_connector_errors_total", connector="webhook", reason="kafka_unavailable"
            )
            == 1
        )


@pytest.mark.kafka
def test_a_replay_sends_and_watches_the_group_through_sasl(sasl_node: kafka.KafkaNode) -> None:
    settings = _settings(sasl_node)
    client = kafka_python_config(settings)
    ensure_topics(settings.bootstrap, settings.topics, client_config=client)
    lines = [b'{"not": "an event"}', b"also not json"]
    with pytest.raises(ReplayTimeout):  # no worker consumes: sent, then watched for 2 s
        replay(
            lines,
            bootstrap=settings.bootstrap,
            topic=settings.events_topic,
            group=f"sasl-replay-{uuid.uuid4().hex[:8]}",
            lateness=1.0,
            until=time.time(),
            timeout=2.0,
            progress=False,
            client_config=client,
        )
    got = _read_all(settings, settings.events_topic, len(lines) + settings.partitions)
    # The lines once each, plus one marker a partition. Without a key (invalid events
    # have none) the producer picks their partitions, so their order across them is open.
    assert sorted(v for v in got if v in lines) == sorted(lines)


def test_every_connector_client_gets_the_security_settings(tmp_path: Path) -> None:
    """The config each kafka-python builder receives, from the same CAREWATCH_KAFKA_*
    variables as the worker; the password shows nowhere but in that config."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    env = {
        "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CAREWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CAREWATCH_KAFKA_SASL_USERNAME": USER,
        "CAREWATCH_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    config = ConnectorConfig.load(env=env)
    producer = EventProducer(config.kafka, ConnectorMetrics(CollectorRegistry(), "webhook"))
    built = producer._kafka_config()
    assert {k: built[k] for k in ("security_protocol", "sasl_mechanism")} == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
    }
    assert (built["sasl_plain_username"], built["sasl_plain_password"]) == (USER, PASSWORD)
    assert built["enable_idempotence"] is True  # the producer's own settings stay
    assert PASSWORD not in repr(config) + str(config.kafka)
    assert config.kafka.client_config() == kafka_python_config(Settings.from_env(env))
    with pytest.raises(ConfigError) as missing:
        ConnectorConfig.load(env={"CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert missing.value.field == "kafka.sasl_username"
    with pytest.raises(ConfigError) as no_file:
        ConnectorConfig.load(env={"CAREWATCH_KAFKA_SSL_CAFILE": str(tmp_path / "none.pem")})
    assert no_file.value.field == "kafka.ssl_cafile"
    with pytest.raises(ConfigError) as protocol:
        ConnectorConfig.load(env={"CAREWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"})
    assert protocol.value.field == "CAREWATCH_KAFKA_SECURITY_PROTOCOL"
