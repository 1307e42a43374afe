"""Every webhook route on the real broker: a forged signature is 401, a stale signed
timestamp 401, an oversized body 413; each is counted with a bounded reason and sends
nothing. Chatwoot here authenticates by its own signature (``chatwoot.webhook_secret``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from connectors.config import ChatwootOptions, Secret
from tests.conftest import Broker, make_topics
from tests.connectors.harness import (
    META_APP_SECRET,
    Reply,
    RunningWebhook,
    event_ids,
    meta_signature,
    signed,
    topic_size,
    webhook_config,
)

pytestmark = pytest.mark.kafka
PAYLOADS = Path(__file__).parents[1] / "connectors" / "payloads"
CHATWOOT_SECRET = "chatwoot-signing-secret-7a1c"
WRONG = "a-secret-nobody-configured-0123"
EVENT = {
    "schema": "care.event/1",
    "event_id": "sig-1",
    "kind": "message",
    "platform": "telegram",
    "brand": "tele2",
    "thread_id": "chat-1",
    "customer_id": "cust-1",
    "occurred_at": "2026-11-21T09:13:20+03:00",
}


def chatwoot_signed(
    body: bytes, secret: str = CHATWOOT_SECRET, at: float | None = None
) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    signature = Secret(secret).sign(stamp.encode() + b"." + body)
    return {"X-Chatwoot-Signature": f"sha256={signature}", "X-Chatwoot-Timestamp": stamp}


@pytest.fixture
def service(broker: Broker) -> Iterator[RunningWebhook]:
    topics = make_topics(broker)
    config = webhook_config(broker.bootstrap, topics.events)
    config = replace(
        config, chatwoot=ChatwootOptions(None, {"7": "tele2"}, Secret(CHATWOOT_SECRET))
    )
    with RunningWebhook(config) as running:
        yield running


Post = Callable[[RunningWebhook, bytes, str, float | None], Reply]
"""Posts ``body`` to one route, signed under ``secret`` at ``at`` (None: now)."""


def _events(service: RunningWebhook, body: bytes, secret: str, at: float | None) -> Reply:
    return service.request("POST", "/events", body, signed(body, secret, at))


def _meta(service: RunningWebhook, body: bytes, secret: str, at: float | None) -> Reply:
    return service.request("POST", "/meta", body, meta_signature(body, secret))


def _chatwoot(service: RunningWebhook, body: bytes, secret: str, at: float | None) -> Reply:
    return service.request("POST", "/chatwoot/7", body, chatwoot_signed(body, secret, at))


ROUTES: dict[str, tuple[Post, str, bytes]] = {
    "events": (_events, "events-hmac-3f9a7c1d5e2b8a6f", orjson.dumps(EVENT) + b"\n"),
    "meta": (_meta, META_APP_SECRET, (PAYLOADS / "meta_page_feed.json").read_bytes()),
    "chatwoot": (
        _chatwoot,
        CHATWOOT_SECRET,
        (PAYLOADS / "chatwoot_message_incoming.json").read_bytes(),
    ),
}


def _refused(service: RunningWebhook, reply: Reply, status: int, reason: str) -> None:
    assert (reply.status, reply.json()["errors"][0]["reason"]) == (status, reason)
    assert (
        service.metric("carewatch_connector_errors_total", connector="webhook", reason=reason) == 1
    )
    kafka = service.config.kafka
    assert topic_size(kafka.bootstrap, kafka.topic) == 0


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_forged_signature_is_401_and_counted(service: RunningWebhook, route: str) -> None:
    post, _secret, body = ROUTES[route]
    _refused(service, post(service, body, WRONG, None), 401, "unauthenticated")


@pytest.mark.parametrize("route", ["events", "chatwoot"])  # Meta signs no timestamp
@pytest.mark.parametrize("skew", [-1, 1])
def test_a_signed_timestamp_outside_the_window_is_401_and_counted(
    service: RunningWebhook, route: str, skew: int
) -> None:
    post, secret, body = ROUTES[route]
    at = time.time() + skew * (service.config.webhook.signature_window + 5)
    _refused(service, post(service, body, secret, at), 401, "stale_timestamp")


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_body_over_the_limit_is_413_and_counted_even_when_signed(
    service: RunningWebhook, route: str
) -> None:
    post, secret, body = ROUTES[route]
    padded = body + b" " * service.config.webhook.max_body  # still valid JSON, too large
    _refused(service, post(service, padded, secret, None), 413, "too_large")


def test_chatwoot_without_its_signature_is_401_and_with_it_lands(service: RunningWebhook) -> None:
    body = (PAYLOADS / "chatwoot_message_incoming.json").read_bytes()
    unsigned = service.request("POST", "/chatwoot/7", body)
    assert (unsigned.status, unsigned.json()["errors"][0]["reason"]) == (401, "unauthenticated")
    tampered = service.request("POST", "/chatwoot/7", body + b" ", chatwoot_signed(body))
    assert tampered.status == 401
    accepted = service.request("POST", "/chatwoot/7", body, chatwoot_signed(body))
    assert (accepted.status, accepted.json()) == (200, {"accepted": 1})
    kafka = service.config.kafka
    assert event_ids(kafka.bootstrap, kafka.topic) == ["chatwoot:7:message:98211"]
