"""The X mapping on recorded X API v2 payloads (tests/connectors/payloads/x/), and the rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.x_mapping import (
    BrandAccounts,
    Includes,
    MalformedPost,
    StreamRule,
    events_from_page,
    events_from_post,
    events_from_stream_line,
    rule_changes,
    stream_rules,
)
from streams.events import AuthorType, Kind, decode_event, encode_event

PAYLOADS = Path(__file__).parent / "payloads" / "x"
DU, DU_BOT, TELE2 = "17250021", "1400000000000000001", "21650133"
AMIRA, BORIS, CHEN = "1111111111", "2222222222", "3333333333"
THREAD = "1896523400000000001"
NOW = 1_772_440_000.0

DU_ACCOUNTS = BrandAccounts(
    "du",
    ("du_care", "du_bot"),
    frozenset({DU, DU_BOT}),
    bot_account_ids=frozenset({DU_BOT}),
    automation_sources=frozenset({"Khoros Automation"}),
)
TELE2_ACCOUNTS = BrandAccounts("tele2", ("tele2_ru",), frozenset({TELE2}))
BRANDS = [DU_ACCOUNTS, TELE2_ACCOUNTS]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return doc


def from_line(name: str, **kwargs: Any) -> list[Any]:
    events = events_from_stream_line(load(name), BRANDS, ingested_at=NOW, **kwargs)
    for event in events:  # every event the mapping makes is valid under the contract
        assert decode_event(encode_event(event)) == event
    return events


def test_a_customer_mention_is_a_message_in_their_case() -> None:
    [event] = from_line("stream_mention_ar.json")
    assert event.event_id == "x:1896523400000000101"
    assert event.kind is Kind.MESSAGE
    assert (event.platform, event.brand, event.thread_id, event.customer_id) == (
        "x",
        "du",
        THREAD,
        AMIRA,
    )
    assert event.case_key == f"x:du:{THREAD}:{AMIRA}"
    assert event.occurred_at == 1_772_438_712.0  # 2026-03-02T08:05:12.000Z
    assert event.ingested_at == NOW
    assert event.lang == "ar"
    assert event.text == "@du_care الإنترنت مقطوع منذ الصباح في دبي مارينا"
    assert event.author_type is None


def test_text_is_unescaped_as_x_escapes_it() -> None:
    [event] = from_line("stream_mention_shared_thread.json")
    assert event.text == "@du_care same here, no fibre since 7am & no SMS either"


def test_a_brand_reply_in_a_shared_thread_lands_in_the_answered_customers_case() -> None:
    [boris_message] = from_line("stream_mention_shared_thread.json")
    [amira_message] = from_line("stream_mention_ar.json")
    [reply] = from_line("stream_reply_shared_thread.json")
    assert reply.kind is Kind.REPLY
    assert reply.author_type is AuthorType.HUMAN  # Sprout Social is an agent's tool
    assert reply.customer_id == BORIS
    assert reply.case_key == boris_message.case_key != amira_message.case_key
    assert boris_message.thread_id == amira_message.thread_id == reply.thread_id == THREAD


def test_without_in_reply_to_user_id_the_replied_to_authors_case_is_used() -> None:
    doc = load("stream_reply_shared_thread.json")
    del doc["data"]["in_reply_to_user_id"]
    [reply] = events_from_stream_line(doc, BRANDS, ingested_at=NOW)
    assert reply.customer_id == BORIS


def test_a_brand_continuing_its_own_reply_stays_in_that_customers_case() -> None:
    [reply] = from_line("stream_reply_self_thread.json")
    assert reply.kind is Kind.REPLY
    assert reply.customer_id == BORIS


def test_a_brand_post_answering_nobody_is_no_event() -> None:
    doc = load("stream_reply_self_thread.json")
    doc["includes"].pop("tweets")  # the earlier reply is unknown: nobody outside du
    assert events_from_stream_line(doc, BRANDS, ingested_at=NOW) == []


def test_a_bot_accounts_reply_is_a_bot_reply() -> None:
    [reply] = from_line("stream_reply_bot.json")
    assert reply.kind is Kind.REPLY
    assert reply.author_type is AuthorType.BOT
    assert reply.customer_id == AMIRA
    assert reply.lang == "ar"


def test_a_reply_from_a_configured_automation_source_is_automation() -> None:
    [reply] = from_line("stream_reply_automation.json")
    assert reply.author_type is AuthorType.AUTOMATION
    assert reply.customer_id == AMIRA
    plain = BrandAccounts("du", DU_ACCOUNTS.handles, DU_ACCOUNTS.account_ids)
    [human] = events_from_stream_line(
        load("stream_reply_automation.json"), [plain], ingested_at=NOW
    )
    assert human.author_type is AuthorType.HUMAN


@pytest.mark.parametrize("lang", ["und", "qme", "zxx", "", "not a tag!"])
def test_a_lang_naming_no_language_is_left_out(lang: str) -> None:
    doc = load("stream_mention_und.json")
    doc["data"]["lang"] = lang
    [event] = events_from_stream_line(doc, BRANDS, ingested_at=NOW)
    assert event.lang is None
    assert event.thread_id == event.event_id.removeprefix("x:")  # a new post is its own thread


def test_und_in_the_recorded_payload() -> None:
    [event] = from_line("stream_mention_und.json")
    assert event.lang is None
    assert "lang" not in json.loads(encode_event(event))


def test_retweets_are_not_events() -> None:
    assert from_line("stream_retweet.json") == []


def test_a_post_for_two_brands_gives_one_event_each_with_distinct_ids() -> None:
    events = from_line("stream_two_brands.json")
    assert sorted((e.brand, e.event_id) for e in events) == [
        ("du", "x:1896523400000000303:du"),
        ("tele2", "x:1896523400000000303:tele2"),
    ]
    assert {e.customer_id for e in events} == {CHEN}


def test_the_same_post_twice_is_the_same_event() -> None:
    first = from_line("stream_mention_ar.json")
    again = events_from_stream_line(load("stream_mention_ar.json"), BRANDS, ingested_at=NOW + 60)
    assert [e.event_id for e in first] == [e.event_id for e in again]


def test_an_edited_post_is_the_same_event_as_the_original() -> None:
    doc = load("stream_mention_ar.json")
    doc["data"]["id"] = "1896523400000000111"
    doc["data"]["edit_history_tweet_ids"] = ["1896523400000000101", "1896523400000000111"]
    [edit] = events_from_stream_line(doc, BRANDS, ingested_at=NOW)
    assert edit.event_id == "x:1896523400000000101"


def test_the_matching_rule_stands_in_for_missing_entities() -> None:
    doc = load("stream_mention_und.json")
    del doc["data"]["entities"]
    [event] = events_from_stream_line(doc, BRANDS, ingested_at=NOW)
    assert (event.brand, event.kind) == ("du", Kind.MESSAGE)
    doc["matching_rules"] = []
    assert events_from_stream_line(doc, BRANDS, ingested_at=NOW) == []


def test_customer_ids_go_through_the_pseudonymisation_hook() -> None:
    [event] = from_line(
        "stream_reply_shared_thread.json", customer_ids=lambda uid: f"p-{uid[::-1]}"
    )
    assert event.customer_id == f"p-{BORIS[::-1]}"


def test_long_posts_use_the_note_tweet_text_cut_to_the_contract() -> None:
    doc = load("stream_mention_ar.json")
    doc["data"]["note_tweet"] = {"text": "x" * 25_000}
    [event] = events_from_stream_line(doc, BRANDS, ingested_at=NOW)
    assert event.text == "x" * 10_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", None),
        ("id", "12ab"),
        ("author_id", None),
        ("created_at", "yesterday"),
        ("created_at", "2026-03-02T08:05:12"),
        ("created_at", 17),
    ],
)
def test_unreadable_posts_raise_malformed(field: str, value: object) -> None:
    doc = load("stream_mention_ar.json")
    doc["data"][field] = value
    with pytest.raises(MalformedPost):
        events_from_stream_line(doc, BRANDS, ingested_at=NOW)


def test_a_line_without_data_is_malformed() -> None:
    with pytest.raises(MalformedPost):
        events_from_stream_line(load("stream_operational_disconnect.json"), BRANDS, ingested_at=NOW)


def test_mentions_page() -> None:
    events, malformed = events_from_page(
        load("mentions_page.json"), BRANDS, hinted=frozenset({"du"}), ingested_at=NOW
    )
    assert malformed == 0
    assert [(e.kind, e.customer_id) for e in events] == [
        (Kind.MESSAGE, BORIS),
        (Kind.MESSAGE, AMIRA),
    ]


def test_own_posts_page_gives_the_replies_and_skips_the_notice() -> None:
    doc = load("tweets_page.json")
    doc["data"].append({"id": "1", "text": "no author, no date"})
    events, malformed = events_from_page(doc, BRANDS, hinted=frozenset(), ingested_at=NOW)
    assert malformed == 1
    assert [(e.event_id, e.customer_id, e.author_type) for e in events] == [
        ("x:1896523400000000204", BORIS, AuthorType.HUMAN),
        ("x:1896523400000000201", BORIS, AuthorType.HUMAN),
        ("x:1896523400000000203", AMIRA, AuthorType.AUTOMATION),
    ]


def test_a_post_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedPost):
        events_from_post(["not", "a", "post"], Includes.from_doc(None), BRANDS, ingested_at=NOW)


# --- rules


def test_rules_of_a_single_handle_brand_are_the_documented_ones() -> None:
    assert stream_rules(TELE2_ACCOUNTS) == (
        StreamRule("@tele2_ru -is:retweet -from:tele2_ru", "carewatch:tele2:mention"),
        StreamRule("from:tele2_ru is:reply", "carewatch:tele2:reply"),
    )


def test_several_handles_are_ored_in_one_rule_of_each_kind() -> None:
    mention, reply = stream_rules(DU_ACCOUNTS)
    assert mention.value == "(@du_care OR @du_bot) -is:retweet -from:du_care -from:du_bot"
    assert reply.value == "(from:du_care OR from:du_bot) is:reply"


def test_rule_changes_add_missing_delete_stale_and_leave_foreign_rules() -> None:
    wanted = [*stream_rules(DU_ACCOUNTS), *stream_rules(TELE2_ACCOUNTS)]
    existing = [
        {"id": "1", "value": wanted[0].value, "tag": wanted[0].tag},  # kept
        {"id": "2", "value": "@old_handle -is:retweet", "tag": "carewatch:du:mention"},  # stale
        {"id": "3", "value": wanted[1].value, "tag": "carewatch:oldbrand:reply"},  # retagged
        {"id": "4", "value": "from:marketing has:media", "tag": "marketing"},  # foreign
        {"id": "5", "value": wanted[3].value},  # foreign (untagged), same value as ours
    ]
    changes = rule_changes(existing, wanted)
    assert sorted(changes.delete) == ["2", "3"]
    assert changes.add == (wanted[1], wanted[2])  # not wanted[3]: rule 5 already selects it
    assert changes.foreign == ("from:marketing has:media", wanted[3].value)


def test_rule_changes_from_no_rules_adds_every_wanted_rule() -> None:
    wanted = [*stream_rules(TELE2_ACCOUNTS), *stream_rules(DU_ACCOUNTS)]
    changes = rule_changes([], wanted)
    assert sorted(changes.add, key=lambda r: r.tag) == sorted(wanted, key=lambda r: r.tag)
    assert changes.delete == ()


def test_rule_changes_on_rules_already_in_sync_is_nothing() -> None:
    wanted = list(stream_rules(DU_ACCOUNTS))
    existing = [{"id": str(i), "value": r.value, "tag": r.tag} for i, r in enumerate(wanted)]
    changes = rule_changes(existing, wanted)
    assert (changes.add, changes.delete) == ((), ())
