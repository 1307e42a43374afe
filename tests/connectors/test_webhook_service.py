"""The webhook service on the real broker: what a 2xx promises, what each refusal says."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from connectors import config as config_module
from connectors import webhook_auth
from streams.events import decode_event
from tests.conftest import Broker, make_topics
from tests.connectors.harness import (
    CHATWOOT_TOKEN,
    META_VERIFY_TOKEN,
    RunningWebhook,
    event_ids,
    read_topic,
    signed,
    topic_size,
    webhook_config,
)

pytestmark = pytest.mark.kafka
PAYLOADS = Path(__file__).parent / "payloads"


def event(n: int, **more: str) -> dict[str, str]:
    return {
        "schema": "care.event/1",
        "event_id": f"ev-{n}",
        "kind": "message",
        "platform": "telegram",
        "brand": "tele2",
        "thread_id": f"chat-{n % 3}",
        "customer_id": f"cust-{n % 3}",
        "occurred_at": "2026-11-21T09:13:20+03:00",
        **more,
    }


def lines(*docs: dict[str, str]) -> bytes:
    return b"\n".join(orjson.dumps(d) for d in docs) + b"\n"


@pytest.fixture
def service(broker: Broker) -> Iterator[RunningWebhook]:
    topics = make_topics(broker)
    with RunningWebhook(webhook_config(broker.bootstrap, topics.events)) as running:
        yield running


def test_json_lines_are_in_the_topic_keyed_by_case_once_the_answer_is_200(
    service: RunningWebhook,
) -> None:
    before = time.time()
    reply = service.post_events(
        lines(event(1), event(2), event(3, kind="reply", author_type="human"))
    )
    assert (reply.status, reply.json()) == (200, {"accepted": 3})
    kafka = service.config.kafka
    stored = read_topic(kafka.bootstrap, kafka.topic)
    assert sorted(orjson.loads(v)["event_id"] for _, v in stored) == ["ev-1", "ev-2", "ev-3"]
    for key, value in stored:
        got = decode_event(value)
        assert key == got.case_key.encode()
        assert got.occurred_at == 1795241600.0  # 09:13:20+03:00, written in UTC
        assert got.ingested_at is not None
        assert before - 1 <= got.ingested_at <= time.time()
    written = service.metric(
        "carewatch_connector_events_total", connector="webhook", platform="telegram"
    )
    assert written == 3
    assert service.metric("carewatch_connector_up", connector="webhook") == 1


def test_a_json_array_is_one_batch_and_keeps_a_given_ingested_at(service: RunningWebhook) -> None:
    body = orjson.dumps([event(1, ingested_at="2026-11-21T06:14:00Z"), event(2)])
    assert service.post_events(b"  \n" + body).json() == {"accepted": 2}
    kafka = service.config.kafka
    values = {
        orjson.loads(v)["event_id"]: orjson.loads(v)
        for _, v in read_topic(kafka.bootstrap, kafka.topic)
    }
    assert values["ev-1"]["ingested_at"] == "2026-11-21T06:14:00Z"


def test_one_invalid_event_refuses_the_request_whole_with_each_line_and_reason(
    service: RunningWebhook,
) -> None:
    body = (
        lines(event(1), {"schema": "care.event/1"}, event(3)) + b"\n" + lines(event(5, kind="chat"))
    )
    reply = service.post_events(body)
    assert reply.status == 400
    errors = reply.json()["errors"]
    assert [(e["line"], e["reason"]) for e in errors] == [(2, "missing_field"), (5, "bad_enum")]
    assert "event_id" in errors[0]["detail"]
    assert "kind" in errors[1]["detail"]
    as_array = service.post_events(orjson.dumps([event(1), 7, event(3, occurred_at="noon")]))
    assert [(e["line"], e["reason"]) for e in as_array.json()["errors"]] == [
        (2, "not_object"),
        (3, "bad_timestamp"),
    ]
    for body, reason in [
        (b"[1, 2", "bad_json"),
        (b"[\xff]", "bad_encoding"),
        (b" \n ", "bad_json"),
    ]:
        reply = service.post_events(body)
        assert (reply.status, reply.json()["errors"][0]["reason"]) == (400, reason)
    kafka = service.config.kafka
    assert topic_size(kafka.bootstrap, kafka.topic) == 0  # nothing of any of them was sent


def test_a_body_over_the_limit_is_413_whether_its_length_is_announced_or_not(
    service: RunningWebhook,
) -> None:
    limit = service.config.webhook.max_body
    big = lines(*(event(n, text="x" * 5000) for n in range(limit // 5000 + 2)))
    assert len(big) > limit
    reply = service.post_events(big)
    assert (reply.status, reply.json()["errors"][0]["reason"]) == (413, "too_large")
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    chunks = (big[i : i + 4096] for i in range(0, len(big), 4096))  # no Content-Length
    connection.request(
        "POST",
        "/events",
        body=chunks,
        encode_chunked=True,
        headers={"Authorization": "Bearer " + service.config.events.tokens[0].reveal()},
    )
    assert connection.getresponse().status == 413
    connection.close()
    assert (
        service.metric("carewatch_connector_errors_total", connector="webhook", reason="too_large")
        == 2
    )
    kafka = service.config.kafka
    assert topic_size(kafka.bootstrap, kafka.topic) == 0


def test_signed_posts_within_the_window_are_accepted(service: RunningWebhook) -> None:
    body = lines(event(1))
    reply = service.request("POST", "/events", body, signed(body))
    assert (reply.status, reply.json()) == (200, {"accepted": 1})
    a_minute_ago = signed(body, at=time.time() - 60)
    assert service.request("POST", "/events", body, a_minute_ago).status == 200


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every comparison made through ``hmac.compare_digest`` (the constant-time one)."""
    calls: list[tuple[bytes, bytes]] = []
    real = config_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(config_module.hmac, "compare_digest", spy)
    assert webhook_auth.hmac.compare_digest is spy  # the same module object
    return calls


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong bearer token", 401),
        ("no credentials", 401),
        ("signature under another secret", 401),
        ("stale timestamp", 401),
        ("timestamp from the future", 401),
        ("meta signature under another secret", 401),
        ("meta without a signature", 401),
        ("wrong verify token", 403),
        ("verify without subscribe", 403),
        ("chatwoot wrong token", 401),
    ],
)
def test_refusals_compare_in_constant_time_and_send_nothing(
    service: RunningWebhook, compare_calls: list[tuple[bytes, bytes]], case: str, status: int
) -> None:
    body = lines(event(1))
    meta_body = (PAYLOADS / "meta_page_feed.json").read_bytes()
    old = time.time() - service.config.webhook.signature_window - 5
    future = time.time() + service.config.webhook.signature_window + 5
    verify = (
        f"/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={META_VERIFY_TOKEN}x"
    )
    sent = {
        "wrong bearer token": lambda: service.post_events(body, token="not-the-token-0123456789"),
        "no credentials": lambda: service.request("POST", "/events", body),
        "signature under another secret": lambda: service.request("POST", "/events", body, signed(body, "another-secret-0123456789")),
        "stale timestamp": lambda: service.request("POST", "/events", body, signed(body, at=old)),
        "timestamp from the future": lambda: service.request("POST", "/events", body, signed(body, at=future)),
        "meta signature under another secret": lambda: service.post_meta(meta_body, secret="another-app-secret"),
        "meta without a signature": lambda: service.request("POST", "/meta", meta_body),
        "wrong verify token": lambda: service.request("GET", verify),
        "verify without subscribe": lambda: service.request("GET", verify.replace("subscribe", "unsubscribe").replace("x", "")),
        "chatwoot wrong token": lambda: service.request("POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}x", body),
    }  # fmt: skip
    reply = sent[case]()
    assert reply.status == status
    # A right signature of a stale timestamp says so; anything else is only "unauthenticated".
    reason = (
        "stale_timestamp"
        if case in ("stale timestamp", "timestamp from the future")
        else "unauthenticated"
    )
    assert reply.json()["errors"][0]["reason"] == reason
    assert (
        service.metric("carewatch_connector_errors_total", connector="webhook", reason=reason) == 1
    )
    # Where a secret is involved, it is compared in constant time; the other two refuse
    # on the request's shape alone.
    no_secret_involved = case in ("no credentials", "verify without subscribe")
    assert bool(compare_calls) is not no_secret_involved
    for secret in (META_VERIFY_TOKEN, CHATWOOT_TOKEN):
        assert secret.encode() not in reply.body
    kafka = service.config.kafka
    assert topic_size(kafka.bootstrap, kafka.topic) == 0


def test_meta_subscription_check_echoes_the_challenge(service: RunningWebhook) -> None:
    path = f"/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={META_VERIFY_TOKEN}"
    reply = service.request("GET", path)
    assert (reply.status, reply.body) == (200, b"1158201444")


def test_meta_deliveries_land_as_their_events_and_unknown_pages_are_counted(
    service: RunningWebhook,
) -> None:
    accepted = {}
    for name in (
        "meta_page_feed.json",
        "meta_messenger.json",
        "meta_instagram.json",
        "meta_unknown_page.json",
    ):
        reply = service.post_meta((PAYLOADS / name).read_bytes())
        assert reply.status == 200, reply.body
        accepted[name] = reply.json()["accepted"]
    assert accepted == {"meta_page_feed.json": 3, "meta_messenger.json": 4, "meta_instagram.json": 4, "meta_unknown_page.json": 0}  # fmt: skip
    kafka = service.config.kafka
    ids = event_ids(kafka.bootstrap, kafka.topic)
    assert len(ids) == len(set(ids)) == 11
    assert (
        service.metric(
            "carewatch_connector_errors_total", connector="webhook", reason="unknown_account"
        )
        == 1
    )
    assert (
        service.metric(
            "carewatch_connector_events_total", connector="webhook", platform="instagram"
        )
        == 4
    )


def test_chatwoot_deliveries_with_the_token_in_the_url_or_a_header(service: RunningWebhook) -> None:
    incoming = (PAYLOADS / "chatwoot_message_incoming.json").read_bytes()
    resolved = (PAYLOADS / "chatwoot_status_resolved.json").read_bytes()
    assert service.request("POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", incoming).json() == {
        "accepted": 1
    }
    by_header = service.request(
        "POST", "/chatwoot/7", resolved, {"X-Carewatch-Token": CHATWOOT_TOKEN}
    )
    assert by_header.json() == {"accepted": 1}
    unknown = service.request("POST", f"/chatwoot/8?token={CHATWOOT_TOKEN}", incoming)
    assert (unknown.status, unknown.json()["errors"][0]["reason"]) == (404, "unknown_account")
    kafka = service.config.kafka
    assert sorted(event_ids(kafka.bootstrap, kafka.topic)) == [
        "chatwoot:7:conversation:1207:resolved:1795253600.250000",
        "chatwoot:7:message:98211",
    ]  # fmt: skip


def test_health_and_metrics(service: RunningWebhook) -> None:
    service.post_events(lines(event(1)))
    health = service.request("GET", "/health")
    assert health.status == 200
    assert json.loads(health.body) == {
        "connector": "webhook",
        "kafka": "up",
        "retry_in": 0.0,
        "pending": 0,
        "max_pending": service.config.kafka.max_pending,
    }
    metrics = service.request("GET", "/metrics")
    assert metrics.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert (
        b'carewatch_connector_events_total{connector="webhook",platform="telegram"} 1.0'
        in metrics.body
    )
    assert b'carewatch_connector_up{connector="webhook"} 1.0' in metrics.body
