"""Settings from ``CAREWATCH_*`` variables: defaults, parsing, and errors naming the variable."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from streams.errors import CarewatchError, ConfigError
from streams.settings import Settings, TopicSpec

DEFAULTS: dict[str, Any] = {
    "bootstrap": "127.0.0.1:19092",
    "events_topic": "care.events.v1",
    "sla_topic": "care.sla.v1",
    "deadletter_topic": "care.deadletter.v1",
    "partitions": 4,
    "replication": 1,
    "app_id": "carewatch",
    "mode": "live",
    "policy_file": "deploy/policies.example.yaml",
    "lateness": 60.0,
    "retention": 604800.0,
    "store": "memory",
    "data_dir": ".carewatch/worker",
    "web_host": "127.0.0.1",
    "web_port": 6066,
    "session_timeout": 60.0,
    "tick_interval": 1.0,
    "checkpoint_interval": 1.0,
    "checkpoint_events": 5000,
    "languages": "ar,ru,vi,zh,en,et",
    "topic_rules_file": "deploy/topics.example.yaml",
    "prometheus_sd_dir": "",
    "kafka_security_protocol": "PLAINTEXT",
    "kafka_sasl_mechanism": "PLAIN",
    "kafka_sasl_username": "",
    "kafka_sasl_password": "",
    "kafka_ssl_cafile": "",
    "kafka_ssl_certfile": "",
    "kafka_ssl_keyfile": "",
    "api_token": "",
    "canonical_url": "",
}


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert {f.name: getattr(settings, f.name) for f in fields(Settings)} == DEFAULTS
    assert settings.topics == (
        TopicSpec("care.events.v1", 4, 1),
        TopicSpec("care.sla.v1", 4, 1),
        TopicSpec("care.deadletter.v1", 4, 1),
    )
    assert settings.language_set == {"ar", "ru", "vi", "zh", "en", "et"}


def test_unrelated_variables_are_ignored() -> None:
    env = {"CAREWATCH_UNKNOWN": "x", "PARTITIONS": "0", "carewatch_partitions": "0"}
    assert Settings.from_env(env) == Settings()


@pytest.mark.parametrize(
    ("var", "raw", "name", "value"),
    [
        ("CAREWATCH_BOOTSTRAP", "kafka-1:9092,kafka-2:19092", "bootstrap", "kafka-1:9092,kafka-2:19092"),
        ("CAREWATCH_EVENTS_TOPIC", "acme.events", "events_topic", "acme.events"),
        ("CAREWATCH_SLA_TOPIC", "acme_sla-2", "sla_topic", "acme_sla-2"),
        ("CAREWATCH_DEADLETTER_TOPIC", "acme.dlq", "deadletter_topic", "acme.dlq"),
        ("CAREWATCH_PARTITIONS", "12", "partitions", 12),
        ("CAREWATCH_REPLICATION", "3", "replication", 3),
        ("CAREWATCH_APP_ID", "carewatch-eu.1", "app_id", "carewatch-eu.1"),
        ("CAREWATCH_MODE", "replay", "mode", "replay"),
        ("CAREWATCH_POLICY_FILE", "/etc/carewatch/policies.yaml", "policy_file", "/etc/carewatch/policies.yaml"),
        ("CAREWATCH_LATENESS", "2.5", "lateness", 2.5),
        ("CAREWATCH_RETENTION", "86400", "retention", 86400.0),
        ("CAREWATCH_STORE", "rocksdb", "store", "rocksdb"),
        ("CAREWATCH_DATA_DIR", "/var/lib/carewatch", "data_dir", "/var/lib/carewatch"),
        ("CAREWATCH_WEB_HOST", "0.0.0.0", "web_host", "0.0.0.0"),
        ("CAREWATCH_WEB_PORT", "0", "web_port", 0),
        ("CAREWATCH_WEB_PORT", "65535", "web_port", 65535),
        ("CAREWATCH_SESSION_TIMEOUT", "10", "session_timeout", 10.0),
        ("CAREWATCH_TICK_INTERVAL", "0.25", "tick_interval", 0.25),
        ("CAREWATCH_CHECKPOINT_INTERVAL", "5", "checkpoint_interval", 5.0),
        ("CAREWATCH_CHECKPOINT_EVENTS", "1", "checkpoint_events", 1),
        ("CAREWATCH_LANGUAGES", "ru,en", "languages", "ru,en"),
        ("CAREWATCH_TOPIC_RULES_FILE", "/etc/carewatch/topics.yaml", "topic_rules_file", "/etc/carewatch/topics.yaml"),
        ("CAREWATCH_PROMETHEUS_SD_DIR", "/tmp/sd", "prometheus_sd_dir", "/tmp/sd"),
        ("CAREWATCH_API_TOKEN", "s3cret", "api_token", "s3cret"),
        ("CAREWATCH_KAFKA_SECURITY_PROTOCOL", "SSL", "kafka_security_protocol", "SSL"),
        ("CAREWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "kafka_sasl_mechanism", "SCRAM-SHA-512"),
        ("CAREWATCH_KAFKA_SASL_USERNAME", "svc", "kafka_sasl_username", "svc"),
        ("CAREWATCH_KAFKA_SASL_PASSWORD", "pw", "kafka_sasl_password", "pw"),
        ("CAREWATCH_KAFKA_SSL_CAFILE", "/etc/passwd", "kafka_ssl_cafile", "/etc/passwd"),
        ("CAREWATCH_KAFKA_SSL_CERTFILE", "/etc/passwd", "kafka_ssl_certfile", "/etc/passwd"),
        ("CAREWATCH_KAFKA_SSL_KEYFILE", "/etc/passwd", "kafka_ssl_keyfile", "/etc/passwd"),
        ("CAREWATCH_CANONICAL_URL", "http://w-0.w:6066", "canonical_url", "http://w-0.w:6066"),
    ],
)  # fmt: skip
def test_each_variable_is_read_and_typed(var: str, raw: str, name: str, value: object) -> None:
    settings = Settings.from_env({var: raw})
    assert getattr(settings, name) == value
    assert type(getattr(settings, name)) is type(value)
    others = {k: v for k, v in DEFAULTS.items() if k != name}
    assert {k: getattr(settings, k) for k in others} == others


def test_every_field_has_a_variable_in_the_table_above() -> None:
    assert set(DEFAULTS) == {f.name for f in fields(Settings)}


def test_partitions_and_replication_reach_the_topic_specs() -> None:
    settings = Settings.from_env(
        {"CAREWATCH_PARTITIONS": "6", "CAREWATCH_REPLICATION": "3", "CAREWATCH_SLA_TOPIC": "s"}
    )
    assert [(t.name, t.partitions, t.replication) for t in settings.topics] == [
        ("care.events.v1", 6, 3),
        ("s", 6, 3),
        ("care.deadletter.v1", 6, 3),
    ]


def test_language_set_ignores_blanks_and_spaces() -> None:
    settings = Settings.from_env({"CAREWATCH_LANGUAGES": " ru, en ,,zh-Hant,"})
    assert settings.language_set == {"ru", "en", "zh-Hant"}


def test_overrides_win_over_variables_and_none_means_not_given() -> None:
    env = {"CAREWATCH_PARTITIONS": "8", "CAREWATCH_BOOTSTRAP": "kafka:9092"}
    settings = Settings.from_env(env, partitions=3, bootstrap=None, mode="replay")
    assert (settings.partitions, settings.bootstrap, settings.mode) == (3, "kafka:9092", "replay")


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({}, partitions=0)
    assert err.value.field == "CAREWATCH_PARTITIONS"


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_PARTITIONS", "7")
    assert Settings.from_env().partitions == 7
    monkeypatch.setenv("CAREWATCH_PARTITIONS", "seven")
    with pytest.raises(ConfigError, match="CAREWATCH_PARTITIONS"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("CAREWATCH_BOOTSTRAP", "localhost"),
        ("CAREWATCH_BOOTSTRAP", ""),
        ("CAREWATCH_BOOTSTRAP", "a:1, b:2"),
        ("CAREWATCH_BOOTSTRAP", "kafka:123456"),
        ("CAREWATCH_BOOTSTRAP", "kafka:port"),
        ("CAREWATCH_EVENTS_TOPIC", ""),
        ("CAREWATCH_EVENTS_TOPIC", "care events"),
        ("CAREWATCH_SLA_TOPIC", "care/sla"),
        ("CAREWATCH_DEADLETTER_TOPIC", "d" * 250),
        ("CAREWATCH_PARTITIONS", "four"),
        ("CAREWATCH_PARTITIONS", "2.5"),
        ("CAREWATCH_PARTITIONS", ""),
        ("CAREWATCH_PARTITIONS", "0"),
        ("CAREWATCH_PARTITIONS", "-3"),
        ("CAREWATCH_REPLICATION", "0"),
        ("CAREWATCH_REPLICATION", "one"),
        ("CAREWATCH_APP_ID", ""),
        ("CAREWATCH_APP_ID", "care watch"),
        ("CAREWATCH_MODE", "fast"),
        ("CAREWATCH_MODE", "LIVE"),
        ("CAREWATCH_LATENESS", "a minute"),
        ("CAREWATCH_LATENESS", "0"),
        ("CAREWATCH_LATENESS", "-60"),
        ("CAREWATCH_LATENESS", "nan"),
        ("CAREWATCH_RETENTION", "0"),
        ("CAREWATCH_RETENTION", "7d"),
        ("CAREWATCH_STORE", "redis"),
        ("CAREWATCH_WEB_PORT", "65536"),
        ("CAREWATCH_WEB_PORT", "-1"),
        ("CAREWATCH_WEB_PORT", "http"),
        ("CAREWATCH_SESSION_TIMEOUT", "0"),
        ("CAREWATCH_TICK_INTERVAL", "0"),
        ("CAREWATCH_TICK_INTERVAL", "soon"),
        ("CAREWATCH_CHECKPOINT_INTERVAL", "-1"),
        ("CAREWATCH_CHECKPOINT_EVENTS", "0"),
        ("CAREWATCH_CHECKPOINT_EVENTS", "1e3"),
    ],
)
def test_an_invalid_value_raises_config_error_naming_the_variable(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({var: raw})
    assert err.value.field == var
    assert str(err.value).startswith(f"{var}: ")
    assert isinstance(err.value, CarewatchError)  # the CLI turns it into exit code 2


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("CAREWATCH_LATENESS", "inf"),
        ("CAREWATCH_RETENTION", "nan"),
        ("CAREWATCH_TICK_INTERVAL", "infinity"),
        ("CAREWATCH_BOOTSTRAP", "127.0.0.1:99999"),
        ("CAREWATCH_BOOTSTRAP", "127.0.0.1:9092,:9093"),
    ],
)
def test_unusable_edge_values_are_refused(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({var: raw})
    assert error.value.field == var


def test_a_flag_wins_over_a_bad_environment_value() -> None:
    settings = Settings.from_env({"CAREWATCH_PARTITIONS": "many"}, partitions=3)
    assert settings.partitions == 3


def test_the_api_token_never_shows_in_the_settings_repr() -> None:
    assert "s3cret" not in repr(Settings.from_env({"CAREWATCH_API_TOKEN": "s3cret"}))
