"""Recorded Meta and Chatwoot payloads (their published formats) map to exactly these events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.webhook_helpdesk import map_chatwoot
from connectors.webhook_meta import map_meta
from connectors.webhook_payloads import PayloadError, Rejected, encode_all
from streams.events import CareEvent, encode_event, event_to_dict
from tests.connectors.harness import FACEBOOK_PAGE, webhook_config

PAYLOADS = Path(__file__).parent / "payloads"
META = webhook_config("127.0.0.1:9", "unused").meta
RECEIVED = 1795260000.0  # 2026-11-21T11:20:00Z
POST = "103249842441862_122105331758000001"
LAYLA_COMMENT = "122105331758000001_1187463802947351"
PSID = "25139087341012345"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def fields(events: list[CareEvent]) -> list[dict[str, Any]]:
    """Each event as the contract's JSON object (minus schema, ingested_at and text)."""
    out = []
    for event in events:
        encode_event(event)  # every mapped event is valid under the contract
        assert event.ingested_at == RECEIVED
        doc = event_to_dict(event)
        for name in ("schema", "ingested_at", "text"):
            doc.pop(name, None)
        out.append(doc)
    return out


def fb(event_id: str, kind: str, customer: str, at: str, **more: str) -> dict[str, str]:
    return {
        "event_id": event_id,
        "kind": kind,
        "platform": "facebook",
        "brand": "du",
        "thread_id": POST if "comment" in event_id else customer,
        "customer_id": customer,
        "occurred_at": at,
        **more,
    }


def test_page_feed_comments_are_messages_and_the_pages_replies_human_replies() -> None:
    batch = map_meta(payload("meta_page_feed.json"), META, RECEIVED)
    assert batch.unknown_accounts == set()
    public = {"visibility": "public"}
    assert fields(batch.events) == [
        fb(f"facebook:comment:{LAYLA_COMMENT}", "message", LAYLA_COMMENT, "2026-11-21T09:13:20Z", **public),
        fb(
            "facebook:comment:122105331758000001_1187470116280052",
            "reply",
            LAYLA_COMMENT,  # the page answers the comment thread Layla opened
            "2026-11-21T09:18:20Z",
            **public,
            author_type="human",
        ),
        # another user writing in Layla's thread counts in that thread's case
        fb("facebook:comment:122105331758000001_1187479920051127", "message", LAYLA_COMMENT, "2026-11-21T09:23:20Z", **public),
        # skipped: the edit (verb edited), the page's own top-level comment, the reaction
    ]  # fmt: skip
    assert batch.events[0].text == "My home internet has been down since this morning. Any update?"


def test_messenger_messages_and_echoes_human_unless_sent_by_an_app() -> None:
    batch = map_meta(payload("meta_messenger.json"), META, RECEIVED)
    private = {"visibility": "private"}
    assert fields(batch.events) == [
        fb("facebook:message:m_1Xq0Ue6ZEvWd3uyRyxPjv8uJ0kGdAhZuMNnm0N0PoFbVjg5HYzE2pQd5ykOVBkSXe1P2", "message", PSID, "2026-11-21T09:13:20.123000Z", **private),
        # an echo sent by a chatbot app
        fb("facebook:message:m_4b3Ff1EoXhJ7JXw5Ufe0Xo9k9m2VZ9Vg9Fhq0uQw3h0yHc8Jb6vSk5kgQyG7l5mM1Zx", "reply", PSID, "2026-11-21T09:14:20.500000Z", **private, author_type="bot"),
        # sent from the Business Suite inbox (meta.human_app_ids): an agent
        fb("facebook:message:m_9pQ2tRk3sVw8xYz1aBcD4eFgH5iJkL6mNoP7qRsT8uVwX9yZ0aBcD1eFgH2iJkL3mNoP", "reply", PSID, "2026-11-21T09:28:20Z", **private, author_type="human"),
        # an echo with no app at all: typed on the page itself
        fb("facebook:message:m_2zYxWvUtSrQpOnMlKjIhGfEdCbA9876543210zYxWvUtSrQpOnMlKjIhGfEdCbA98765", "reply", PSID, "2026-11-21T09:28:30Z", **private, author_type="human"),
        # skipped: the delivery and the read receipt
    ]  # fmt: skip


def test_instagram_comments_and_direct_messages() -> None:
    batch = map_meta(payload("meta_instagram.json"), META, RECEIVED)
    base = {"platform": "instagram", "brand": "mobifone"}
    comment = {
        **base,
        "thread_id": "18036547711293867",
        "customer_id": "17865799348089039",
        "visibility": "public",
    }
    dm = {
        **base,
        "thread_id": "1181256839573025",
        "customer_id": "1181256839573025",
        "visibility": "private",
    }
    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTQ0NzE2MTc4NjQ5NTk0NjozMTE1NTQ5MjU2NzI4NjAzNjg4MTM0NjE5NzIwMjg4NTk1"
    order = (
        "event_id",
        "kind",
        "platform",
        "brand",
        "thread_id",
        "customer_id",
        "occurred_at",
        "visibility",
        "author_type",
    )
    expected = [
        {**comment, "event_id": "instagram:comment:17865799348089039", "kind": "message", "occurred_at": "2026-11-21T09:13:20Z"},
        {**comment, "event_id": "instagram:comment:17901234567890123", "kind": "reply", "occurred_at": "2026-11-21T09:18:20Z", "author_type": "human"},
        {**dm, "event_id": f"instagram:message:{mid}MgZDZD", "kind": "message", "occurred_at": "2026-11-21T09:23:20.123000Z"},
        {**dm, "event_id": f"instagram:message:{mid}MwZDZD", "kind": "reply", "occurred_at": "2026-11-21T09:28:20.456000Z", "author_type": "human"},
        # skipped: the deleted message
    ]  # fmt: skip
    assert fields(batch.events) == [{k: e[k] for k in order if k in e} for e in expected]


def test_entries_of_accounts_with_no_brand_are_skipped_and_reported() -> None:
    batch = map_meta(payload("meta_unknown_page.json"), META, RECEIVED)
    assert batch.events == []
    assert batch.unknown_accounts == {"999000111222333"}


def test_subscriptions_that_carry_no_care_events_map_to_nothing() -> None:
    assert map_meta({"object": "user", "entry": [{"id": "1"}]}, META, RECEIVED).events == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "not_object"),
        ({"object": "page", "entry": {"id": "1"}}, "wrong_type"),
        ({"object": "page", "entry": [{"time": 1}]}, "missing_field"),
        ({"object": "page", "entry": [{"id": FACEBOOK_PAGE, "changes": [{"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "p", "comment_id": "c", "created_time": "yesterday"}}]}]}, "bad_timestamp"),
        ({"object": "page", "entry": [{"id": FACEBOOK_PAGE, "messaging": [{"message": {"mid": "m"}, "sender": "me"}]}]}, "not_object"),
    ],
)  # fmt: skip
def test_unreadable_meta_payloads_name_a_reason(body: Any, reason: str) -> None:
    with pytest.raises(PayloadError) as refused:
        map_meta(body, META, RECEIVED)
    assert refused.value.reason == reason


CHATWOOT = {
    "platform": "webchat",
    "brand": "tele2",
    "thread_id": "7:1207",
    "customer_id": "4821",
    "priority": "high",  # the conversation's priority
}
CHATWOOT_EXPECTED: dict[str, list[dict[str, str]]] = {
    "chatwoot_message_incoming.json": [
        {"event_id": "chatwoot:7:message:98211", "kind": "message", "occurred_at": "2026-11-21T09:13:20.412000Z", "visibility": "private"},
    ],
    "chatwoot_message_bot.json": [
        {"event_id": "chatwoot:7:message:98212", "kind": "reply", "occurred_at": "2026-11-21T09:13:21.006000Z", "visibility": "private", "author_type": "bot"},
    ],
    "chatwoot_private_note.json": [
        {"event_id": "chatwoot:7:message:98215", "kind": "reply", "occurred_at": "2026-11-21T09:20:02Z", "visibility": "internal", "author_type": "human", "agent_id": "12"},
    ],
    "chatwoot_message_outgoing.json": [
        {"event_id": "chatwoot:7:message:98217", "kind": "reply", "occurred_at": "2026-11-21T09:28:20Z", "visibility": "private", "author_type": "human", "agent_id": "12"},
    ],
    "chatwoot_message_automation.json": [
        {"event_id": "chatwoot:7:message:98218", "kind": "reply", "occurred_at": "2026-11-21T09:28:21Z", "visibility": "private", "author_type": "automation"},
    ],
    "chatwoot_message_activity.json": [],
    "chatwoot_conversation_created.json": [],
    "chatwoot_status_resolved.json": [
        {"event_id": "chatwoot:7:conversation:1207:resolved:1795253600.250000", "kind": "status", "occurred_at": "2026-11-21T09:33:20.250000Z", "visibility": "public", "status": "resolved"},
    ],
    "chatwoot_status_reopened.json": [
        {"event_id": "chatwoot:7:conversation:1207:open:1795339200.500000", "kind": "status", "occurred_at": "2026-11-22T09:20:00.500000Z", "visibility": "public", "status": "reopened"},
    ],
    "chatwoot_status_snoozed.json": [
        {"event_id": "chatwoot:7:conversation:1207:snoozed:1795253000.000000", "kind": "status", "occurred_at": "2026-11-21T09:23:20Z", "visibility": "public", "status": "pending"},
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHATWOOT_EXPECTED))
def test_chatwoot_payloads(name: str) -> None:
    events = map_chatwoot(payload(name), "7", "tele2", RECEIVED)
    want = [{**CHATWOOT, **fields_of} for fields_of in CHATWOOT_EXPECTED[name]]
    got = fields(events)
    assert [dict(sorted(e.items())) for e in got] == [dict(sorted(e.items())) for e in want]


def test_every_recorded_chatwoot_payload_is_covered() -> None:
    assert {p.name for p in PAYLOADS.glob("chatwoot_*.json")} == set(CHATWOOT_EXPECTED)


def test_chatwoot_keeps_the_text_and_refuses_another_accounts_payload() -> None:
    incoming = payload("chatwoot_message_incoming.json")
    (event,) = map_chatwoot(incoming, "7", "tele2", RECEIVED)
    assert event.text == "Здравствуйте! Не работает мобильный интернет с утра"
    with pytest.raises(PayloadError, match="account"):
        map_chatwoot(incoming, "8", "tele2", RECEIVED)


def test_a_redelivered_payload_keeps_its_event_ids() -> None:
    """Platforms retry: the same payload received later must give the same event ids."""
    for name in ("meta_page_feed.json", "meta_messenger.json", "meta_instagram.json"):
        first = [e.event_id for e in map_meta(payload(name), META, RECEIVED).events]
        again = [e.event_id for e in map_meta(payload(name), META, RECEIVED + 3600).events]
        assert first == again
    for name in CHATWOOT_EXPECTED:
        first = [e.event_id for e in map_chatwoot(payload(name), "7", "tele2", RECEIVED)]
        again = [e.event_id for e in map_chatwoot(payload(name), "7", "tele2", RECEIVED + 60)]
        assert first == again


CONFUSING: tuple[Any, ...] = (
    None,
    [],
    {},
    [{}],
    {"id": {}},
    0,
    -1,
    2**63 - 1,
    1.5,
    True,
    "",
    "x",
    "2026-02-30T00:00:00Z",
)


def _readable_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = []
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        paths.append((*prefix, key))
        if isinstance(child, dict | list):
            paths.extend(_readable_paths(child, (*prefix, key)))
    return paths


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize("name", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_any_one_value_of_a_recorded_payload_replaced_fails_only_with_a_reason(name: str) -> None:
    """Every path of the payload, each replaced by values of every JSON type: the mapper
    and the contract check either succeed or refuse with a reason (a 400), never crash."""
    document = payload(name)
    for path in _readable_paths(document):
        for value in CONFUSING:
            changed = _replaced(document, path, value)
            try:
                if name.startswith("meta_"):
                    events = map_meta(changed, META, RECEIVED).events
                else:
                    events = map_chatwoot(changed, "7", "tele2", RECEIVED)
                encode_all((0, e) for e in events)
            except (PayloadError, Rejected):
                pass
