"""Connector configuration: a YAML file, then ``CAREWATCH_*`` variables (the environment wins).

Every setting has a dotted name (``meta.app_secret``) used in the YAML file and in
errors, and one environment variable (``CAREWATCH_META_APP_SECRET``); :data:`FIELDS`
is the table of both, and ``docs/connectors.md`` documents it. A value that cannot be
used fails at start-up with :class:`ConfigError` naming the setting (or the variable it
came from); an unknown key in the file is an error too, so a typo never silently
leaves a source unprotected.

The ``x:`` section belongs to the X connector: its keys are checked here, as every
section's, and :meth:`connectors.x_settings.XSettings.load` reads its values.

Tokens and secrets are :class:`Secret` values: their ``repr`` and ``str`` are ``***``,
no error message echoes them, and they are only compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

import yaml

from connectors.x_settings import SECTION as X_SECTION
from connectors.x_settings import XSettings
from streams import logs
from streams.errors import ConfigError
from streams.security import kafka_python_config
from streams.settings import Settings

CONFIG_ENV: Final = "CAREWATCH_CONNECTOR_CONFIG"
MIN_OWN_SECRET: Final = 16  # characters, for the tokens carewatch defines itself
_STREAM_DEFAULTS: Final = Settings()  # the broker and topic the worker uses by default


class Secret:
    """A token or key: shown as ``***`` everywhere, compared in constant time only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        logs.hide(value)  # masked in every JSON log line, should one ever carry it

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def matches(self, candidate: bytes) -> bool:
        """Constant-time equality with ``candidate`` (``hmac.compare_digest``)."""
        return hmac.compare_digest(self._value.encode(), candidate)

    def sign(self, message: bytes) -> str:
        """Lower-case hex HMAC-SHA256 of ``message`` under this secret."""
        return hmac.new(self._value.encode(), message, hashlib.sha256).hexdigest()

    def reveal(self) -> str:
        """The value itself: for the code that must hand it to a client, never for logs."""
        return self._value


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    bootstrap: str = _STREAM_DEFAULTS.bootstrap
    topic: str = _STREAM_DEFAULTS.events_topic
    ack_timeout: float = 10.0  # seconds from send to the broker's ack, else KafkaUnavailable
    max_pending: int = 10_000  # records sent but not yet acknowledged, at most
    linger_ms: int = 5
    backoff_max: float = 30.0  # seconds: the longest pause between attempts after failures
    # SASL and TLS: the worker's CAREWATCH_KAFKA_* settings (streams/security.py).
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "PLAIN"  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str = ""
    sasl_password: Secret | None = None
    ssl_cafile: str = ""  # empty: the system's CAs
    ssl_certfile: str = ""  # a client certificate, for mutual TLS
    ssl_keyfile: str = ""
    # Customer ids as keyed pseudonyms before they reach Kafka (connectors/pseudonym.py):
    # the key itself, or a file holding it (read once at start-up).
    pseudonymise_key: Secret | None = None
    pseudonymise_key_file: str = ""

    def security(self) -> Settings:
        """These options as the stream's settings, the one input of
        :func:`~streams.security.kafka_python_config`."""
        password = self.sasl_password.reveal() if self.sasl_password is not None else ""
        return Settings(
            bootstrap=self.bootstrap,
            kafka_security_protocol=self.security_protocol,
            kafka_sasl_mechanism=self.sasl_mechanism,
            kafka_sasl_username=self.sasl_username,
            kafka_sasl_password=password,
            kafka_ssl_cafile=self.ssl_cafile,
            kafka_ssl_certfile=self.ssl_certfile,
            kafka_ssl_keyfile=self.ssl_keyfile,
        )

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments for SASL and TLS (every client a connector builds)."""
        return kafka_python_config(self.security())


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    host: str = "127.0.0.1"
    port: int = 6068
    max_body: int = 1_048_576  # bytes
    signature_window: float = 300.0  # seconds a signed timestamp stays valid


@dataclass(frozen=True, slots=True)
class EventsAuth:
    tokens: tuple[Secret, ...] = ()
    hmac_secret: Secret | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.tokens) or self.hmac_secret is not None


@dataclass(frozen=True, slots=True)
class MetaOptions:
    app_secret: Secret | None = None
    verify_token: Secret | None = None
    facebook_pages: Mapping[str, str] = field(default_factory=dict)  # page id -> brand
    instagram_accounts: Mapping[str, str] = field(default_factory=dict)  # account id -> brand
    human_app_ids: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        return self.app_secret is not None


@dataclass(frozen=True, slots=True)
class ChatwootOptions:
    token: Secret | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)  # account id -> brand
    webhook_secret: Secret | None = None  # Chatwoot's signing secret (X-Chatwoot-Signature)

    @property
    def enabled(self) -> bool:
        return self.token is not None or self.webhook_secret is not None


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    kafka: KafkaOptions = KafkaOptions()
    webhook: WebhookOptions = WebhookOptions()
    events: EventsAuth = EventsAuth()
    meta: MetaOptions = MetaOptions()
    chatwoot: ChatwootOptions = ChatwootOptions()
    # The x: section as the file has it, for XSettings.load (it holds the bearer token).
    x_file: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls, path: str | Path | None = None, env: Mapping[str, str] | None = None
    ) -> ConnectorConfig:
        """Defaults, then the YAML file (``path`` or ``$CAREWATCH_CONNECTOR_CONFIG``), then
        the environment. Raises :class:`ConfigError` naming the first unusable setting."""
        env = os.environ if env is None else env
        path = path or env.get(CONFIG_ENV) or None
        document = _read_yaml(Path(path)) if path else {}
        sections: dict[str, dict[str, Any]] = {}
        for spec in FIELDS:
            section, name = spec.path.split(".")
            given = document.get(section, {}).get(name)
            if spec.env in env:
                value = spec.kind.text(spec.env, env[spec.env])
            elif given is not None:
                value = spec.kind.yaml(spec.path, given)
            else:
                continue
            sections.setdefault(section, {})[name] = value
        _read_key_file(sections.setdefault("kafka", {}))
        config = cls(
            KafkaOptions(**sections.get("kafka", {})),
            WebhookOptions(**sections.get("webhook", {})),
            EventsAuth(**sections.get("events", {})),
            MetaOptions(**sections.get("meta", {})),
            ChatwootOptions(**sections.get("chatwoot", {})),
            document.get(X_SECTION, {}),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Rules across fields (one field's own rules are checked as it is read)."""
        try:
            self.kafka.security().validate()  # the worker's rules for the same settings
        except ConfigError as exc:  # named as this file names it; the detail holds no secret
            path = next((f.path for f in FIELDS if f.env == exc.field), exc.field)
            raise ConfigError(path, exc.detail) from None
        meta = self.meta
        if meta.enabled and meta.verify_token is None:
            raise ConfigError("meta.verify_token", "required when meta.app_secret is set")
        if meta.enabled and not (meta.facebook_pages or meta.instagram_accounts):
            raise ConfigError(
                "meta.facebook_pages", "name at least one page or instagram account and its brand"
            )
        if self.chatwoot.enabled and not self.chatwoot.accounts:
            raise ConfigError("chatwoot.accounts", "name at least one account id and its brand")

    def require_webhook_sources(self) -> None:
        """The webhook needs at least one authenticated source to serve."""
        if not (self.events.enabled or self.meta.enabled or self.chatwoot.enabled):
            raise ConfigError(
                "events.tokens",
                "no source is configured: set events.tokens or events.hmac_secret, "
                "meta.app_secret, or chatwoot.token or chatwoot.webhook_secret",
            )


def _read_key_file(kafka: dict[str, Any]) -> None:
    """``kafka.pseudonymise_key`` from ``kafka.pseudonymise_key_file`` (one line; the
    trailing newline is not part of the key). Errors never echo the content."""
    path = kafka.get("pseudonymise_key_file")
    if not path:
        return
    where = "kafka.pseudonymise_key_file"
    if "pseudonymise_key" in kafka:
        raise ConfigError(where, "set kafka.pseudonymise_key or its file, not both")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ConfigError(where, f"{path}: not UTF-8 text") from None
    kafka["pseudonymise_key"] = _secret(MIN_OWN_SECRET).text(where, text)


def _read_yaml(path: Path) -> dict[str, dict[str, Any]]:
    where = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, f"cannot read the file: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:  # position and problem only: the line may hold a secret
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(where, f"not valid YAML{at}: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(where, "not valid YAML") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(where, "expected a mapping of sections (kafka, webhook, ...)")
    known: dict[str, set[str]] = {}
    for spec in FIELDS:
        section, name = spec.path.split(".")
        known.setdefault(section, set()).add(name)
    known[X_SECTION] = {f.name for f in fields(XSettings)}
    for section, body in document.items():
        if section not in known:
            raise ConfigError(str(section), f"unknown section (expected one of {sorted(known)})")
        if body is None:
            document[section] = {}
            continue
        if not isinstance(body, dict):
            raise ConfigError(str(section), "expected a mapping of settings")
        for name in body:
            if name not in known[section]:
                raise ConfigError(f"{section}.{name}", "unknown setting")
    return document


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one type of setting is read from YAML (already typed) and from a variable (text)."""

    yaml: Callable[[str, Any], Any]
    text: Callable[[str, str], Any]


def _check_text(pattern: str, what: str) -> Callable[[str, Any], str]:
    def check(where: str, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ConfigError(where, f"expected {what}, got {value!r}")
        return value

    return check


def _number(low: float, high: float, integer: bool, what: str) -> _Kind:
    def check(where: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(where, f"expected {what}, got {value!r}")
        if integer and value != int(value):
            raise ConfigError(where, f"expected {what}, got {value!r}")
        if not (low <= value <= high) or math.isnan(value):
            raise ConfigError(where, f"expected {what}, got {value!r}")
        return int(value) if integer else float(value)

    def parse(where: str, raw: str) -> Any:
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            raise ConfigError(where, f"expected {what}, got {raw!r}") from None
        return check(where, value)

    return _Kind(check, parse)


def _secret(minimum: int) -> _Kind:
    def check(where: str, value: Any) -> Secret:
        if not isinstance(value, str):  # never echo the value
            raise ConfigError(where, "expected a string")
        if len(value) < minimum or value != value.strip():
            detail = f"at least {minimum} characters, no surrounding spaces"
            raise ConfigError(where, f"unusable secret: {detail}")
        return Secret(value)

    return _Kind(check, check)


def _secrets(minimum: int) -> _Kind:
    one = _secret(minimum).yaml

    def check(where: str, value: Any) -> tuple[Secret, ...]:
        if not isinstance(value, list):
            raise ConfigError(where, "expected a list of strings")
        return tuple(one(f"{where}[{i}]", item) for i, item in enumerate(value))

    def parse(where: str, raw: str) -> tuple[Secret, ...]:
        return tuple(one(where, item) for item in raw.split(",") if item)

    return _Kind(check, parse)


_ID = r"[A-Za-z0-9_.:-]{1,128}"
_BRAND = r"[a-z0-9_-]{1,64}"  # CONTRACT.md section 2


def _ident(where: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads an unquoted numeric id as a number
    return _check_text(_ID, "an id (letters, digits, _.:-)")(where, value)


def _brands() -> _Kind:
    brand = _check_text(_BRAND, "a brand token [a-z0-9_-]{1,64}")

    def check(where: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ConfigError(where, "expected a mapping of id to brand")
        return {_ident(where, k): brand(f"{where}.{k}", v) for k, v in value.items()}

    def parse(where: str, raw: str) -> dict[str, str]:
        pairs = [item.partition("=") for item in raw.split(",") if item]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(where, f"expected id=brand[,id=brand...], got {raw!r}")
        return check(where, {k: v for k, _, v in pairs})

    return _Kind(check, parse)


def _ids() -> _Kind:
    def check(where: str, value: Any) -> frozenset[str]:
        if not isinstance(value, list):
            raise ConfigError(where, "expected a list of ids")
        return frozenset(_ident(where, item) for item in value)

    return _Kind(check, lambda where, raw: check(where, [x for x in raw.split(",") if x]))


def _plain(pattern: str, what: str) -> _Kind:
    check = _check_text(pattern, what)
    return _Kind(check, check)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    path: str
    env: str
    kind: _Kind
    meaning: str


_SERVERS = r"[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*"
_TOPIC = r"[A-Za-z0-9._-]{1,249}"
_SECONDS = _number(0.001, 86_400, False, "a positive number of seconds (at most 86400)")

FIELDS: Final[tuple[FieldSpec, ...]] = (
    FieldSpec("kafka.bootstrap", "CAREWATCH_BOOTSTRAP", _plain(_SERVERS, "host:port[,host:port...]"), "Kafka bootstrap servers"),
    FieldSpec("kafka.topic", "CAREWATCH_EVENTS_TOPIC", _plain(_TOPIC, "a Kafka topic name"), "the events topic"),
    FieldSpec("kafka.ack_timeout", "CAREWATCH_KAFKA_ACK_TIMEOUT", _number(1, 3600, False, "seconds from 1 to 3600"), "longest wait for the broker's acks"),
    FieldSpec("kafka.max_pending", "CAREWATCH_KAFKA_MAX_PENDING", _number(1, 10_000_000, True, "an integer from 1"), "records awaiting acks, at most"),
    FieldSpec("kafka.linger_ms", "CAREWATCH_KAFKA_LINGER_MS", _number(0, 10_000, True, "milliseconds 0-10000"), "batching delay"),
    FieldSpec("kafka.backoff_max", "CAREWATCH_KAFKA_BACKOFF_MAX", _SECONDS, "longest pause after failures"),
    FieldSpec("kafka.security_protocol", "CAREWATCH_KAFKA_SECURITY_PROTOCOL", _plain(r"PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"), "how clients reach Kafka"),
    FieldSpec("kafka.sasl_mechanism", "CAREWATCH_KAFKA_SASL_MECHANISM", _plain(r"PLAIN|SCRAM-SHA-256|SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"), "SASL mechanism"),
    FieldSpec("kafka.sasl_username", "CAREWATCH_KAFKA_SASL_USERNAME", _plain(r"[^\s]{1,256}", "a user name without spaces"), "SASL user"),
    FieldSpec("kafka.sasl_password", "CAREWATCH_KAFKA_SASL_PASSWORD", _secret(1), "SASL password"),
    FieldSpec("kafka.ssl_cafile", "CAREWATCH_KAFKA_SSL_CAFILE", _plain(r".{1,4096}", "a file path"), "CA certificates (PEM)"),
    FieldSpec("kafka.ssl_certfile", "CAREWATCH_KAFKA_SSL_CERTFILE", _plain(r".{1,4096}", "a file path"), "client certificate (PEM), mutual TLS"),
    FieldSpec("kafka.ssl_keyfile", "CAREWATCH_KAFKA_SSL_KEYFILE", _plain(r".{1,4096}", "a file path"), "client key (PEM)"),
    FieldSpec("kafka.pseudonymise_key", "CAREWATCH_PSEUDONYMISE_KEY", _secret(MIN_OWN_SECRET), "key of the customer id pseudonyms"),
    FieldSpec("kafka.pseudonymise_key_file", "CAREWATCH_PSEUDONYMISE_KEY_FILE", _plain(r".{1,4096}", "a file path"), "a file holding that key"),
    FieldSpec("webhook.host", "CAREWATCH_WEBHOOK_HOST", _plain(r"[A-Za-z0-9_.:-]{1,253}", "a host name or address"), "listen address"),
    FieldSpec("webhook.port", "CAREWATCH_WEBHOOK_PORT", _number(0, 65535, True, "a port 0-65535"), "listen port"),
    FieldSpec("webhook.max_body", "CAREWATCH_WEBHOOK_MAX_BODY", _number(1024, 64 * 1_048_576, True, "bytes from 1024 to 64 MiB"), "largest request body"),
    FieldSpec("webhook.signature_window", "CAREWATCH_WEBHOOK_SIGNATURE_WINDOW", _SECONDS, "how old a signed timestamp may be"),
    FieldSpec("events.tokens", "CAREWATCH_EVENTS_TOKENS", _secrets(MIN_OWN_SECRET), "bearer tokens for POST /events"),
    FieldSpec("events.hmac_secret", "CAREWATCH_EVENTS_HMAC_SECRET", _secret(MIN_OWN_SECRET), "HMAC key for signed POST /events"),
    FieldSpec("meta.app_secret", "CAREWATCH_META_APP_SECRET", _secret(1), "the Meta app secret"),
    FieldSpec("meta.verify_token", "CAREWATCH_META_VERIFY_TOKEN", _secret(1), "the Meta verify token"),
    FieldSpec("meta.facebook_pages", "CAREWATCH_META_FACEBOOK_PAGES", _brands(), "page id -> brand"),
    FieldSpec("meta.instagram_accounts", "CAREWATCH_META_INSTAGRAM_ACCOUNTS", _brands(), "instagram account id -> brand"),
    FieldSpec("meta.human_app_ids", "CAREWATCH_META_HUMAN_APP_IDS", _ids(), "apps whose sends are human replies"),
    FieldSpec("chatwoot.token", "CAREWATCH_CHATWOOT_TOKEN", _secret(MIN_OWN_SECRET), "token of the Chatwoot webhook URL"),
    FieldSpec("chatwoot.accounts", "CAREWATCH_CHATWOOT_ACCOUNTS", _brands(), "Chatwoot account id -> brand"),
    FieldSpec("chatwoot.webhook_secret", "CAREWATCH_CHATWOOT_WEBHOOK_SECRET", _secret(1), "Chatwoot's webhook signing secret"),
)  # fmt: skip
"""Every setting: dotted name, variable, how it is read, meaning (docs/connectors.md)."""
