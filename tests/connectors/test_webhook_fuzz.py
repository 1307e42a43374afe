"""Whatever the body, the webhook answers 2xx or 4xx, or 503 when Kafka cannot take it.

Bodies are authenticated (a bearer token, a correct Meta signature, the Chatwoot token),
so they reach the parsers and mappers: random bytes, random JSON built from the keys
and values the mappers look at, and recorded payloads (or valid posted events) with one
to three of the values a mapper reads replaced by random JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Broker, make_topics
from tests.connectors.harness import (
    CHATWOOT_TOKEN,
    FACEBOOK_PAGE,
    INSTAGRAM_ACCOUNT,
    Reply,
    RunningWebhook,
    webhook_config,
)

pytestmark = pytest.mark.kafka
PAYLOADS = Path(__file__).parent / "payloads"
RECORDED = {
    family: [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(PAYLOADS.glob(f"{family}_*.json"))
    ]
    for family in ("meta", "chatwoot")
}
POSTED_EVENT = {
    "schema": "care.event/1",
    "event_id": "fuzz-1",
    "kind": "reply",
    "platform": "x",
    "brand": "du",
    "thread_id": "t",
    "customer_id": "c",
    "occurred_at": "2026-11-21T09:13:20Z",
    "author_type": "human",
    "status": "resolved",
    "priority": "high",
}

READ_KEYS = frozenset(
    [
        "object",
        "entry",
        "id",
        "time",
        "changes",
        "messaging",
        "standby",
        "field",
        "value",
        "item",
        "verb",
        "from",
        "post_id",
        "comment_id",
        "parent_id",
        "created_time",
        "message",
        "sender",
        "recipient",
        "timestamp",
        "mid",
        "text",
        "is_echo",
        "app_id",
        "media",
        "is_deleted",
        "event",
        "conversation",
        "meta",
        "contact_inbox",
        "contact_id",
        "message_type",
        "private",
        "content",
        "created_at",
        "status",
        "updated_at",
        "changed_attributes",
        "account",
        "channel",
        "priority",
        "type",
        "messages",
        "account_id",
        "schema",
        "event_id",
        "kind",
        "platform",
        "brand",
        "thread_id",
        "customer_id",
        "occurred_at",
        "author_type",
        "visibility",
    ]
)
KEYS = st.sampled_from(sorted(READ_KEYS))
WORDS = st.sampled_from([
    "page", "instagram", "feed", "comment", "comments", "add", "edited", FACEBOOK_PAGE,
    INSTAGRAM_ACCOUNT, "message_created", "conversation_status_changed", "incoming", "outgoing",
    "template", "activity", "user", "agent_bot", "resolved", "open", "snoozed", "7",
    "2026-11-21T09:13:20Z", "2026-02-30T00:00:00Z", "1795252400", "care.event/1", "message",
    "reply", "status", "human", "x", "du", "",
])  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    WORDS,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=40,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value whose key is one a mapper reads (list items included)."""
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        path = (*prefix, key)
        if isinstance(key, int) or key in READ_KEYS:
            yield path
        if isinstance(child, dict | list):
            yield from _paths(child, path)


@st.composite
def mutated(draw: st.DrawFn, family: str) -> Any:
    """A recorded payload (or posted events) with one to three values the mappers read
    replaced by random JSON."""
    if family == "events":
        document: Any = [dict(POSTED_EVENT) for _ in range(draw(st.integers(1, 3)))]
    else:
        document = json.loads(json.dumps(draw(st.sampled_from(RECORDED[family]))))
    for _ in range(draw(st.integers(1, 3))):
        paths = sorted(_paths(document), key=repr)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node = document
        for key in parents:
            node = node[key]
        node[last] = draw(JSON)
    return document


def body_of(value: Any) -> bytes:
    return orjson.dumps(value)


def bodies(family: str) -> st.SearchStrategy[bytes]:
    documents = mutated(family).map(body_of)
    if family == "events":  # JSON lines, or an array
        documents = mutated(family).map(lambda events: b"\n".join(body_of(e) for e in events))
        documents |= mutated(family).map(body_of)
    return st.one_of(
        st.binary(max_size=512),
        JSON.map(body_of),
        st.lists(JSON.map(body_of), max_size=5).map(b"\n".join),
        documents,
        documents,
    )


@pytest.fixture(scope="module")
def service(broker: Broker) -> Iterator[RunningWebhook]:
    topics = make_topics(broker)
    with RunningWebhook(webhook_config(broker.bootstrap, topics.events)) as running:
        yield running


def assert_no_server_error(reply: Reply) -> None:
    assert reply.status < 500 or reply.status == 503, (reply.status, reply.body[:500])
    if reply.status == 503:
        assert reply.json()["errors"][0]["reason"] == "kafka_unavailable"
        assert "Retry-After" in reply.headers


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=bodies("events"))
def test_posted_events(service: RunningWebhook, body: bytes) -> None:
    assert_no_server_error(service.post_events(body))


@FUZZ
@given(body=bodies("meta"))
def test_meta(service: RunningWebhook, body: bytes) -> None:
    assert_no_server_error(service.post_meta(body))


@FUZZ
@given(body=bodies("chatwoot"))
def test_chatwoot(service: RunningWebhook, body: bytes) -> None:
    reply = service.request("POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", body)
    assert_no_server_error(reply)
