"""Connector configuration: YAML, then the environment; errors name the field; secrets hide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.config import (
    CONFIG_ENV,
    FIELDS,
    ConnectorConfig,
    KafkaOptions,
    Secret,
)
from streams.errors import ConfigError
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FULL_YAML = """
kafka:
  bootstrap: kafka-1:9092,kafka-2:9092
  ack_timeout: 3
  max_pending: 500
webhook:
  port: 7000
  max_body: 2048
events:
  tokens: [token-from-the-file-0001, token-from-the-file-0002]
  hmac_secret: hmac-from-the-file-00001
meta:
  app_secret: app-secret-from-the-file
  verify_token: verify-from-the-file
  facebook_pages: {103249842441862: du}
  instagram_accounts: {"17841405822304914": mobifone}
  human_app_ids: [263902037430900]
chatwoot:
  token: chatwoot-from-the-file-01
  accounts: {7: tele2}
"""
FILE_SECRETS = (
    "token-from-the-file-0001",
    "token-from-the-file-0002",
    "hmac-from-the-file-00001",
    "app-secret-from-the-file",
    "verify-from-the-file",
    "chatwoot-from-the-file-01",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_worker_settings() -> None:
    config = ConnectorConfig.load(None, env={})
    assert config == ConnectorConfig()
    assert config.kafka.bootstrap == Settings().bootstrap
    assert config.kafka.topic == Settings().events_topic
    assert not config.events.enabled
    assert not config.meta.enabled
    assert not config.chatwoot.enabled
    with pytest.raises(ConfigError) as nothing:
        config.require_webhook_sources()
    assert nothing.value.field == "events.tokens"


def test_the_file_then_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_YAML)
    env = {
        "CAREWATCH_WEBHOOK_PORT": "7100",
        "CAREWATCH_EVENTS_TOKENS": "token-from-the-environment-1,token-from-the-environment-2",
        "CAREWATCH_CHATWOOT_ACCOUNTS": "7=tele2,9=tele2-ee",
        CONFIG_ENV: str(path),
    }
    config = ConnectorConfig.load(None, env=env)
    assert config.kafka == KafkaOptions("kafka-1:9092,kafka-2:9092", "care.events.v1", 3.0, 500)
    assert (config.webhook.port, config.webhook.max_body) == (7100, 2048)
    assert [t.reveal() for t in config.events.tokens] == [
        "token-from-the-environment-1",
        "token-from-the-environment-2",
    ]
    assert config.events.hmac_secret is not None
    assert config.events.hmac_secret.reveal() == "hmac-from-the-file-00001"
    assert config.meta.facebook_pages == {"103249842441862": "du"}  # a YAML number, read as an id
    assert config.meta.instagram_accounts == {"17841405822304914": "mobifone"}
    assert config.meta.human_app_ids == frozenset({"263902037430900"})
    assert config.chatwoot.accounts == {"7": "tele2", "9": "tele2-ee"}


def test_secrets_never_show_in_repr_str_or_format(tmp_path: Path) -> None:
    config = ConnectorConfig.load(write(tmp_path, FULL_YAML), env={})
    shown = " ".join([repr(config), str(config), f"{config}", f"{config.meta.app_secret}"])
    for secret in FILE_SECRETS:
        assert secret not in shown
    assert repr(Secret("abc")) == str(Secret("abc")) == f"{Secret('abc')}" == "***"
    assert Secret("abc").matches(b"abc")
    assert not Secret("abc").matches(b"abd")


@pytest.mark.parametrize(
    ("yaml_text", "env", "field"),
    [
        ("kafka: {ack_timeout: -1}", {}, "kafka.ack_timeout"),
        ("kafka: {ack_timeout: .nan}", {}, "kafka.ack_timeout"),
        ("kafka: {max_pending: 0}", {}, "kafka.max_pending"),
        ("kafka: {max_pending: 2.5}", {}, "kafka.max_pending"),
        ("kafka: {bootstrap: 'nohostport'}", {}, "kafka.bootstrap"),
        ("kafka: {topic: 'bad topic'}", {}, "kafka.topic"),
        ("webhook: {port: 70000}", {}, "webhook.port"),
        ("webhook: {port: true}", {}, "webhook.port"),
        ("webhook: {max_body: 10}", {}, "webhook.max_body"),
        ("events: {tokens: short}", {}, "events.tokens"),
        ("events: {tokens: [ok-token-0123456789, short]}", {}, "events.tokens[1]"),
        ("meta: {app_secret: s, verify_token: v, facebook_pages: {1: 'Du Brand'}}", {}, "meta.facebook_pages.1"),
        ("meta: {app_secret: s, verify_token: v}", {}, "meta.facebook_pages"),
        ("meta: {app_secret: s, facebook_pages: {1: du}}", {}, "meta.verify_token"),
        ("chatwoot: {token: chatwoot-token-012345}", {}, "chatwoot.accounts"),
        ("kafka: {ack_timeout: 1}\nkafka_extra: 1", {}, "kafka_extra"),
        ("webhook: {prot: 1}", {}, "webhook.prot"),
        ("webhook: [1]", {}, "webhook"),
        ("", {"CAREWATCH_KAFKA_ACK_TIMEOUT": "soon"}, "CAREWATCH_KAFKA_ACK_TIMEOUT"),
        ("", {"CAREWATCH_WEBHOOK_PORT": "-1"}, "CAREWATCH_WEBHOOK_PORT"),
        ("", {"CAREWATCH_EVENTS_HMAC_SECRET": "short"}, "CAREWATCH_EVENTS_HMAC_SECRET"),
        ("", {"CAREWATCH_META_FACEBOOK_PAGES": "123"}, "CAREWATCH_META_FACEBOOK_PAGES"),
        ("", {"CAREWATCH_BOOTSTRAP": "a:1,b"}, "CAREWATCH_BOOTSTRAP"),
    ],
)  # fmt: skip
def test_a_bad_value_fails_at_start_naming_the_field(
    tmp_path: Path, yaml_text: str, env: dict[str, str], field: str
) -> None:
    with pytest.raises(ConfigError) as bad:
        ConnectorConfig.load(write(tmp_path, yaml_text), env=env)
    assert bad.value.field == field


@pytest.mark.parametrize(
    "yaml_text",
    [
        "events:\n  hmac_secret: a-short-key\n",  # a secret refused: not echoed
        "events:\n  tokens: [a-valid-token-00000001, s3cr3t-short]\n",
        "meta:\n  app_secret: s3cr3t-value: broken\n",  # YAML syntax error on the secret's line
        "meta:\n  app_secret: [s3cr3t-value]\n",
    ],
)
def test_errors_never_echo_a_secret(tmp_path: Path, yaml_text: str) -> None:
    with pytest.raises(ConfigError) as bad:
        ConnectorConfig.load(write(tmp_path, yaml_text), env={})
    for secret in re.findall(r"[a-z0-9-]*s3cr3t[a-z0-9-]*|a-short-key", yaml_text):
        assert secret not in str(bad.value)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        ConnectorConfig.load(tmp_path / "nowhere.yaml", env={})
    assert missing.value.field == str(tmp_path / "nowhere.yaml")


def test_docs_describe_every_setting_and_variable() -> None:
    docs = (ROOT / "docs" / "connectors.md").read_text(encoding="utf-8")
    for spec in FIELDS:
        assert f"`{spec.path}`" in docs, spec.path
        assert f"`{spec.env}`" in docs, spec.env
    assert f"`{CONFIG_ENV}`" in docs
