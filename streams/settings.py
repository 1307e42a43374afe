"""carewatch settings: one typed object, read once from ``CAREWATCH_*`` variables.

Every setting has a default that works with ``carewatch stack up``; a value that cannot
be used fails at start-up with :class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from streams.errors import ConfigError
from streams.security import MECHANISMS, PROTOCOLS

T = TypeVar("T")

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic carewatch creates explicitly (never by broker auto-creation)."""

    name: str
    partitions: int
    replication: int
    config: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str = "127.0.0.1:19092"
    events_topic: str = "care.events.v1"
    sla_topic: str = "care.sla.v1"
    deadletter_topic: str = "care.deadletter.v1"
    partitions: int = 4
    replication: int = 1
    # The worker (``carewatch worker``).
    app_id: str = "carewatch"
    mode: str = "live"  # live | replay
    policy_file: str = "deploy/policies.example.yaml"
    lateness: float = 60.0  # allowed lateness, seconds (CONTRACT section 3)
    retention: float = 7 * 86400.0  # closed cases are forgotten after this, seconds
    store: str = "memory"  # memory | rocksdb
    data_dir: str = ".carewatch/worker"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    session_timeout: float = 60.0  # a silent worker loses its partitions after this, seconds
    tick_interval: float = 1.0  # live mode: how often deadlines are checked, seconds
    checkpoint_interval: float = 1.0  # how often states reach the changelog, seconds
    checkpoint_events: int = 5000  # ... or after this many events, whichever first
    languages: str = "ar,ru,vi,zh,en,et"  # the lang label's values (others count as "other")
    topic_rules_file: str = "deploy/topics.example.yaml"  # phrase rules for the topic label
    prometheus_sd_dir: str = ""  # where to register this worker for Prometheus (file_sd)
    # Kafka security (streams/security.py): PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: str = ""  # empty: the system's CAs
    kafka_ssl_certfile: str = ""  # a client certificate, for mutual TLS
    kafka_ssl_keyfile: str = ""
    api_token: str = field(default="", repr=False)  # bearer token of the case views; "" = off
    canonical_url: str = ""  # how other workers reach this one; default http://web_host:web_port

    @property
    def topics(self) -> tuple[TopicSpec, ...]:
        """The three contract topics (CONTRACT section 1), with the configured partitions."""
        return tuple(
            TopicSpec(name, self.partitions, self.replication)
            for name in (self.events_topic, self.sla_topic, self.deadletter_topic)
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``CAREWATCH_<FIELD>`` variables, then keyword ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        given = {k: v for k, v in overrides.items() if v is not None}
        for f in fields(cls):
            var = f"CAREWATCH_{f.name.upper()}"
            if var in env and f.name not in given:  # a flag wins over the environment
                values[f.name] = _PARSERS.get(f.name, _text)(var, env[var])
        values.update(given)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not all(_server(x) for x in self.bootstrap.split(",")):
            raise ConfigError(
                "CAREWATCH_BOOTSTRAP", f"expected host:port[,host:port...], got {self.bootstrap!r}"
            )
        for name in ("events_topic", "sla_topic", "deadletter_topic"):
            value = getattr(self, name)
            if not _TOPIC_NAME.fullmatch(value):
                raise ConfigError(
                    f"CAREWATCH_{name.upper()}", f"not a valid Kafka topic name: {value!r}"
                )
        for name in ("partitions", "replication", "checkpoint_events"):
            if getattr(self, name) < 1:
                raise ConfigError(f"CAREWATCH_{name.upper()}", "must be at least 1")
        for name in (
            "lateness",
            "retention",
            "session_timeout",
            "tick_interval",
            "checkpoint_interval",
        ):
            if not 0 < getattr(self, name) < math.inf:  # also refuses nan
                raise ConfigError(
                    f"CAREWATCH_{name.upper()}", "must be a positive number of seconds"
                )
        _choice("CAREWATCH_MODE", self.mode, ("live", "replay"))
        _choice("CAREWATCH_STORE", self.store, ("memory", "rocksdb"))
        _choice("CAREWATCH_KAFKA_SECURITY_PROTOCOL", self.kafka_security_protocol, PROTOCOLS)
        _choice("CAREWATCH_KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism, MECHANISMS)
        if self.kafka_security_protocol.startswith("SASL"):
            for name in ("kafka_sasl_username", "kafka_sasl_password"):
                if not getattr(self, name):
                    raise ConfigError(f"CAREWATCH_{name.upper()}", "required with a SASL protocol")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise ConfigError(f"CAREWATCH_{name.upper()}", f"no such file: {path}")
        if not 0 <= self.web_port <= 65535:
            raise ConfigError("CAREWATCH_WEB_PORT", f"port out of range 0-65535: {self.web_port}")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", self.app_id):
            raise ConfigError(
                "CAREWATCH_APP_ID", f"not a usable consumer group id: {self.app_id!r}"
            )

    @property
    def worker_url(self) -> str:
        return self.canonical_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def language_set(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.languages.split(",") if x.strip())


def _server(text: str) -> bool:
    match = re.fullmatch(r"[^\s,:]+:(\d{1,5})", text)
    return match is not None and int(match.group(1)) <= 65535


def _choice(var: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(var, f"expected one of {', '.join(allowed)}, got {value!r}")


def _text(var: str, raw: str) -> str:
    return raw


def _number(var: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(var, f"not a number: {raw!r}") from None


def _integer(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(var, f"not an integer: {raw!r}") from None


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "partitions": _integer,
    "replication": _integer,
    "web_port": _integer,
    "checkpoint_events": _integer,
    "lateness": _number,
    "retention": _number,
    "session_timeout": _number,
    "tick_interval": _number,
    "checkpoint_interval": _number,
}
