"""The webhook service as tests run it: the real ``serve`` in a thread of its own, on a free
port, answered through a plain HTTP client; and the events topic read back to its end."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from connectors.config import (
    ChatwootOptions,
    ConnectorConfig,
    EventsAuth,
    KafkaOptions,
    MetaOptions,
    Secret,
    WebhookOptions,
)
from connectors.webhook import serve
from deploy.localstack.processes import wait_until

EVENTS_TOKEN = "events-token-6c1f0e9d2b7a4c3e"
HMAC_SECRET = "events-hmac-3f9a7c1d5e2b8a6f"
META_APP_SECRET = "meta-app-secret-a4b2c9e1f7d3"
META_VERIFY_TOKEN = "meta-verify-token-5d8e2f1a"
CHATWOOT_TOKEN = "chatwoot-url-token-9e4d1c7b2a"
SECRETS = (EVENTS_TOKEN, HMAC_SECRET, META_APP_SECRET, META_VERIFY_TOKEN, CHATWOOT_TOKEN)

FACEBOOK_PAGE = "103249842441862"
INSTAGRAM_ACCOUNT = "17841405822304914"
HUMAN_INBOX_APP = "263902037430900"  # Meta Business Suite inbox: its sends are agents'


def webhook_config(bootstrap: str, topic: str, **kafka: Any) -> ConnectorConfig:
    """Every source on, port 0 (any free port), the given Kafka options."""
    return ConnectorConfig(
        kafka=KafkaOptions(bootstrap=bootstrap, topic=topic, **kafka),
        webhook=WebhookOptions(port=0, max_body=64 * 1024),
        events=EventsAuth((Secret(EVENTS_TOKEN),), Secret(HMAC_SECRET)),
        meta=MetaOptions(
            Secret(META_APP_SECRET),
            Secret(META_VERIFY_TOKEN),
            {FACEBOOK_PAGE: "du"},
            {INSTAGRAM_ACCOUNT: "mobifone"},
            frozenset({HUMAN_INBOX_APP}),
        ),
        chatwoot=ChatwootOptions(Secret(CHATWOOT_TOKEN), {"7": "tele2"}),
    )


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class RunningWebhook:
    """``with RunningWebhook(config) as service:`` serves until the block ends."""

    config: ConnectorConfig
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    port: int = 0
    _ready: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _error: BaseException | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> RunningWebhook:
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the webhook did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        assert self._thread is not None
        self._thread.join(60)
        assert not self._thread.is_alive(), "the webhook did not stop"

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.config, self._stop, self.registry, self._on_ready)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def post_events(self, body: bytes, token: str = EVENTS_TOKEN) -> Reply:
        return self.request("POST", "/events", body, {"Authorization": f"Bearer {token}"})

    def post_meta(self, body: bytes, secret: str = META_APP_SECRET) -> Reply:
        return self.request("POST", "/meta", body, meta_signature(body, secret))

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def meta_signature(body: bytes, secret: str = META_APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + Secret(secret).sign(body)}


def signed(body: bytes, secret: str = HMAC_SECRET, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    signature = Secret(secret).sign(stamp.encode() + b"." + body)
    return {"X-Carewatch-Signature": f"sha256={signature}", "X-Carewatch-Timestamp": stamp}


def read_topic(bootstrap: str, topic: str, timeout: float = 60) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` now in ``topic``, read to the end offsets of this moment."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: list[tuple[bytes, bytes]] = []

        def drained() -> bool:
            for records in consumer.poll(timeout_ms=200, max_records=50_000).values():
                out.extend((r.key, r.value) for r in records)
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        assert wait_until(drained, timeout, 0), f"could not read {topic} to its end"
        return out
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` holds (the sum of its end offsets; nothing is compacted)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def event_ids(bootstrap: str, topic: str) -> list[str]:
    return [orjson.loads(value)["event_id"] for _, value in read_topic(bootstrap, topic)]
