"""The event contract in code (CONTRACT.md section 2): decode, encode, reasons, fuzzing."""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import InvalidEvent
from streams.events import (
    EVENT_FIELDS,
    MAX_EVENT_BYTES,
    REASONS,
    AuthorType,
    CareEvent,
    Kind,
    Priority,
    Status,
    Visibility,
    case_key,
    decode_event,
    encode_event,
    event_to_dict,
    format_timestamp,
)
from tests.streams.strategies import (
    care_events,
    event_documents,
    json_values,
    mutated_documents,
    posix_times,
    rfc3339_timestamps,
)

MESSAGE: dict[str, Any] = {
    "schema": "care.event/1",
    "event_id": "ev-1",
    "kind": "message",
    "platform": "x",
    "brand": "tele2_ru",
    "thread_id": "1790000000000000001",
    "customer_id": "cust-42",
    "occurred_at": "2026-11-22T10:00:00Z",
    "text": "Нет связи с утра",
}
REPLY: dict[str, Any] = MESSAGE | {"event_id": "ev-2", "kind": "reply", "author_type": "human"}
STATUS: dict[str, Any] = MESSAGE | {"event_id": "ev-3", "kind": "status", "status": "resolved"}
DROP = object()


def _raw(doc: dict[str, Any], **changes: Any) -> bytes:
    changed = {**doc, **changes}
    return orjson.dumps({key: value for key, value in changed.items() if value is not DROP})


# One row per rule of CONTRACT.md section 2: (id, raw message, reason, field).
RULES: list[tuple[str, bytes | None, str, str | None]] = [
    ("size-over-64KiB", b" " * (MAX_EVENT_BYTES + 1), "too_large", None),
    ("size-before-encoding", b"\xff" * (MAX_EVENT_BYTES + 1), "too_large", None),
    ("utf8-invalid", b'{"schema": "care.event/1\xff"}', "bad_encoding", None),
    ("utf8-encoded-surrogate", b'{"text": "\xed\xa0\x80"}', "bad_encoding", None),
    ("utf8-tombstone", None, "bad_encoding", None),
    ("json-truncated", b'{"schema": "care.event/1"', "bad_json", None),
    ("json-nan", b'{"schema": NaN}', "bad_json", None),
    ("json-lone-surrogate-escape", b'{"text": "\\ud800"}', "bad_json", None),
    ("json-empty", b"", "bad_json", None),
    ("object-array", b"[]", "not_object", None),
    ("object-string", b'"care.event/1"', "not_object", None),
    ("schema-missing", _raw(MESSAGE, schema=DROP), "missing_field", "schema"),
    ("schema-other-version", _raw(MESSAGE, schema="care.event/2"), "bad_schema", "schema"),
    ("schema-number", _raw(MESSAGE, schema=1), "wrong_type", "schema"),
    ("event_id-missing", _raw(MESSAGE, event_id=DROP), "missing_field", "event_id"),
    ("event_id-null", _raw(MESSAGE, event_id=None), "wrong_type", "event_id"),
    ("event_id-empty", _raw(MESSAGE, event_id=""), "bad_length", "event_id"),
    ("event_id-257", _raw(MESSAGE, event_id="é" * 257), "bad_length", "event_id"),
    ("event_id-number", _raw(MESSAGE, event_id=42), "wrong_type", "event_id"),
    ("kind-unknown", _raw(MESSAGE, kind="comment"), "bad_enum", "kind"),
    ("kind-bool", _raw(MESSAGE, kind=True), "wrong_type", "kind"),
    ("platform-uppercase", _raw(MESSAGE, platform="Twitter"), "bad_token", "platform"),
    ("platform-33", _raw(MESSAGE, platform="a" * 33), "bad_token", "platform"),
    ("brand-space", _raw(MESSAGE, brand="tele2 ru"), "bad_token", "brand"),
    ("brand-65", _raw(MESSAGE, brand="a" * 65), "bad_token", "brand"),
    ("thread_id-missing", _raw(MESSAGE, thread_id=DROP), "missing_field", "thread_id"),
    ("thread_id-empty", _raw(MESSAGE, thread_id=""), "bad_length", "thread_id"),
    ("customer_id-257", _raw(MESSAGE, customer_id="c" * 257), "bad_length", "customer_id"),
    ("customer_id-array", _raw(MESSAGE, customer_id=[]), "wrong_type", "customer_id"),
    ("occurred_at-missing", _raw(MESSAGE, occurred_at=DROP), "missing_field", "occurred_at"),
    ("occurred_at-naive", _raw(MESSAGE, occurred_at="2024-01-01T00:00:00"), "bad_timestamp", "occurred_at"),
    ("occurred_at-date-only", _raw(MESSAGE, occurred_at="2024-01-01"), "bad_timestamp", "occurred_at"),
    ("occurred_at-feb-30", _raw(MESSAGE, occurred_at="2024-02-30T00:00:00Z"), "bad_timestamp", "occurred_at"),
    ("occurred_at-year-0", _raw(MESSAGE, occurred_at="0000-01-01T00:00:00Z"), "bad_timestamp", "occurred_at"),
    ("occurred_at-leap-second", _raw(MESSAGE, occurred_at="2016-12-31T23:59:60Z"), "bad_timestamp", "occurred_at"),
    ("occurred_at-offset-no-colon", _raw(MESSAGE, occurred_at="2024-01-01T00:00:00+0100"), "bad_timestamp", "occurred_at"),
    ("occurred_at-epoch-number", _raw(MESSAGE, occurred_at=1_790_000_000), "wrong_type", "occurred_at"),
    ("ingested_at-naive", _raw(MESSAGE, ingested_at="2024-01-01 00:00:00"), "bad_timestamp", "ingested_at"),
    ("priority-unknown", _raw(MESSAGE, priority="critical"), "bad_enum", "priority"),
    ("priority-uppercase", _raw(MESSAGE, priority="URGENT"), "bad_enum", "priority"),
    ("text-10001", _raw(MESSAGE, text="ж" * 10_001), "bad_length", "text"),
    ("text-object", _raw(MESSAGE, text={}), "wrong_type", "text"),
    ("lang-not-bcp47", _raw(MESSAGE, lang="english!"), "bad_lang", "lang"),
    ("lang-one-letter", _raw(MESSAGE, lang="e"), "bad_lang", "lang"),
    ("topic-uppercase", _raw(MESSAGE, topic="Billing"), "bad_token", "topic"),
    ("visibility-unknown", _raw(MESSAGE, visibility="secret"), "bad_enum", "visibility"),
    ("author_type-missing-on-reply", _raw(REPLY, author_type=DROP), "missing_field", "author_type"),
    ("author_type-null-on-reply", _raw(REPLY, author_type=None), "wrong_type", "author_type"),
    ("author_type-unknown", _raw(REPLY, author_type="agent"), "bad_enum", "author_type"),
    ("author_type-checked-on-message", _raw(MESSAGE, author_type="robot"), "bad_enum", "author_type"),
    ("agent_id-number", _raw(REPLY, agent_id=7), "wrong_type", "agent_id"),
    ("status-missing-on-status", _raw(STATUS, status=DROP), "missing_field", "status"),
    ("status-unknown", _raw(STATUS, status="closed"), "bad_enum", "status"),
    ("status-checked-on-message", _raw(MESSAGE, status="closed"), "bad_enum", "status"),
    ("order-schema-before-kind", _raw(MESSAGE, schema="v2", kind="x"), "bad_schema", "schema"),
    ("order-table-not-document", _raw(MESSAGE, lang="!", platform="!"), "bad_token", "platform"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "reason", "field"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_each_rule_has_its_reason_and_names_the_field(
    raw: bytes | None, reason: str, field: str | None
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert (caught.value.reason, caught.value.field) == (reason, field)
    assert caught.value.detail.startswith(f"field {field!r}: " if field else "the message ")
    assert len(caught.value.detail) < 200  # echoed values are cut


def test_every_reason_has_a_rule() -> None:
    assert {reason for _, _, reason, _ in RULES} == set(REASONS)


def test_detail_quotes_the_value() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(_raw(MESSAGE, occurred_at="2024-01-01T00:00:00"))
    assert caught.value.detail == (
        "field 'occurred_at': not an RFC 3339 timestamp with an offset: '2024-01-01T00:00:00'"
    )


def test_valid_message() -> None:
    assert decode_event(_raw(MESSAGE)) == CareEvent(
        event_id="ev-1",
        kind=Kind.MESSAGE,
        platform="x",
        brand="tele2_ru",
        thread_id="1790000000000000001",
        customer_id="cust-42",
        occurred_at=1_795_341_600.0,
        text="Нет связи с утра",
    )


def test_valid_reply_with_every_field() -> None:
    raw = _raw(
        REPLY,
        ingested_at="2026-11-22T13:00:01.5+03:00",
        priority="urgent",
        lang="ru-RU",
        topic="network",
        visibility="private",
        agent_id="agent-7",
    )
    event = decode_event(raw)
    assert (event.kind, event.author_type, event.agent_id) == (
        Kind.REPLY,
        AuthorType.HUMAN,
        "agent-7",
    )
    assert (event.priority, event.visibility, event.lang) == (
        Priority.URGENT,
        Visibility.PRIVATE,
        "ru-RU",
    )
    assert (event.topic, event.ingested_at) == ("network", 1_795_341_601.5)


def test_valid_status() -> None:
    event = decode_event(_raw(STATUS, text=DROP))
    assert (event.kind, event.status, event.text, event.author_type) == (
        Kind.STATUS,
        Status.RESOLVED,
        None,
        None,
    )


def test_defaults_priority_none_visibility_public() -> None:
    event = decode_event(_raw(MESSAGE))
    assert (event.priority, event.visibility) == (None, Visibility.PUBLIC)


def test_optional_null_is_absent() -> None:
    nulls = {spec.name: None for spec in EVENT_FIELDS if not spec.required}
    assert decode_event(_raw(MESSAGE, **nulls)) == decode_event(_raw(MESSAGE, text=DROP))


def test_unknown_fields_are_ignored() -> None:
    extra = {"connector": {"name": "x", "version": [1, 2.5]}, "likes": 10**30, "Kind": None}
    assert decode_event(json.dumps(MESSAGE | extra).encode()) == decode_event(_raw(MESSAGE))


def test_bytes_like_values_are_accepted() -> None:
    raw = _raw(MESSAGE)
    assert decode_event(bytearray(raw)) == decode_event(memoryview(raw)) == decode_event(raw)


def _padded(size: int) -> bytes:
    base = _raw(MESSAGE, padding="")
    return base.replace(b'"padding":""', b'"padding":"' + b"p" * (size - len(base)) + b'"')


def test_64_kib_boundary() -> None:
    assert len(_padded(MAX_EVENT_BYTES)) == MAX_EVENT_BYTES
    assert decode_event(_padded(MAX_EVENT_BYTES)).event_id == "ev-1"
    with pytest.raises(InvalidEvent) as caught:
        decode_event(_padded(MAX_EVENT_BYTES + 1))
    assert caught.value.reason == "too_large"


def test_lengths_count_code_points_not_bytes() -> None:
    event = decode_event(_raw(MESSAGE, event_id="😀" * 256, text="ж" * 10_000))
    assert (len(event.event_id), len(event.text or "")) == (256, 10_000)


@pytest.mark.parametrize(
    ("timestamp", "seconds"),
    [
        ("1970-01-01T00:00:00Z", 0.0),
        ("1970-01-01t00:00:00z", 0.0),
        ("1970-01-01T01:00:00+01:00", 0.0),
        ("1969-12-31T23:00:00-01:00", 0.0),
        ("1970-01-01T00:00:00-00:00", 0.0),
        ("2024-02-29T12:00:00.25Z", 1_709_208_000.25),
        ("2024-02-29T12:00:00.123456789Z", 1_709_208_000.123456),
        ("2026-11-22T13:00:00.000001+03:00", 1_795_341_600.000001),
    ],
)
def test_timestamps_become_posix_seconds(timestamp: str, seconds: float) -> None:
    assert decode_event(_raw(MESSAGE, occurred_at=timestamp)).occurred_at == seconds


_RFC3339 = re.compile(r"(\d+)-(\d+)-(\d+).(\d+):(\d+):(\d+)(?:\.(\d+))?(?:[Zz]|([+-])(\d+):(\d+))")


def _reference_seconds(timestamp: str) -> float:
    """An independent reading: calendar.timegm, minus the offset, microseconds truncated."""
    match = _RFC3339.fullmatch(timestamp)
    assert match is not None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    local = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    sign, offset_hours, offset_minutes = match.group(8, 9, 10)
    offset = int(offset_hours or 0) * 3600 + int(offset_minutes or 0) * 60
    utc = local - offset if sign == "+" else local + offset
    micros = int((match.group(7) or "").ljust(6, "0")[:6])
    return (utc * 1_000_000 + micros) / 1_000_000


@settings(max_examples=300)
@given(rfc3339_timestamps())
def test_any_real_timestamp_matches_the_reference(timestamp: str) -> None:
    assert decode_event(_raw(MESSAGE, occurred_at=timestamp)).occurred_at == _reference_seconds(
        timestamp
    )


def test_case_key() -> None:
    event = decode_event(_raw(MESSAGE))
    assert event.case_key == "x:tele2_ru:1790000000000000001:cust-42"
    assert case_key("vk", "b", "t:1", "c") == "vk:b:t:1:c"


def test_encode_is_compact_utc_and_ordered() -> None:
    event = decode_event(_raw(REPLY, occurred_at="2026-11-22T13:00:00.5+03:00", priority="low"))
    assert encode_event(event) == (
        b'{"schema":"care.event/1","event_id":"ev-2","kind":"reply","platform":"x",'
        b'"brand":"tele2_ru","thread_id":"1790000000000000001","customer_id":"cust-42",'
        b'"occurred_at":"2026-11-22T10:00:00.500000Z","priority":"low",'
        + '"text":"Нет связи с утра",'.encode()
        + b'"visibility":"public","author_type":"human"}'
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "1970-01-01T00:00:00Z"),
        (-0.5, "1969-12-31T23:59:59.500000Z"),
        (1_795_341_600.000001, "2026-11-22T10:00:00.000001Z"),
        (1_795_341_600.9999999, "2026-11-22T10:00:01Z"),
        (253_402_300_799.0, "9999-12-31T23:59:59Z"),
    ],
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


@pytest.mark.parametrize(
    ("event", "reason", "field"),
    [
        (CareEvent("e", Kind.MESSAGE, "X", "b", "t", "c", 0.0), "bad_token", "platform"),
        (CareEvent("e", Kind.REPLY, "x", "b", "t", "c", 0.0), "missing_field", "author_type"),
        (CareEvent("e", Kind.MESSAGE, "x", "b", "t", "c", float("nan")), "bad_timestamp", "occurred_at"),
        (CareEvent("e", Kind.MESSAGE, "x", "b", "t", "c", 1e300), "bad_timestamp", "occurred_at"),
        (CareEvent("e", Kind.MESSAGE, "x", "b", "t", "c", 0.0, text="\ud800"), "bad_encoding", None),
    ],
    ids=["token", "reply-without-author", "nan", "year-beyond-9999", "lone-surrogate"],
)  # fmt: skip
def test_encode_refuses_what_decode_would(event: CareEvent, reason: str, field: str | None) -> None:
    with pytest.raises(InvalidEvent) as caught:
        encode_event(event)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_event_to_dict_leaves_out_absent_fields() -> None:
    event = CareEvent("e", Kind.STATUS, "x", "b", "t", "c", 1.5, status=Status.PENDING)
    assert event_to_dict(event) == {
        "schema": "care.event/1",
        "event_id": "e",
        "kind": "status",
        "platform": "x",
        "brand": "b",
        "thread_id": "t",
        "customer_id": "c",
        "occurred_at": "1970-01-01T00:00:01.500000Z",
        "visibility": "public",
        "status": "pending",
    }


def test_record_and_table_name_the_same_fields() -> None:
    names = [spec.name for spec in EVENT_FIELDS if spec.name != "schema"]
    assert names == list(CareEvent.__dataclass_fields__)


@settings(max_examples=200)
@given(care_events())
def test_round_trip(event: CareEvent) -> None:
    assert decode_event(encode_event(event)) == event


@settings(max_examples=200)
@given(care_events(occurred_at=posix_times(1, 9999)))
def test_round_trip_keeps_microseconds_in_every_year(event: CareEvent) -> None:
    assert decode_event(encode_event(event)).occurred_at == event.occurred_at


@settings(max_examples=200)
@given(event_documents(timestamps=rfc3339_timestamps(min_year=2, max_year=9998)))
def test_valid_documents_are_accepted_and_normalise(doc: dict[str, Any]) -> None:
    event = decode_event(json.dumps(doc, ensure_ascii=False).encode())
    assert decode_event(encode_event(event)) == event


def _decode_or_reason(raw: bytes) -> str | None:
    """``None`` when accepted; the reason otherwise. Anything else escapes and fails."""
    invalid: InvalidEvent | None = None
    try:
        decode_event(raw)
    except InvalidEvent as caught:
        invalid = caught
    if invalid is None:
        return None
    assert invalid.reason in REASONS
    assert invalid.field is None or invalid.field in {spec.name for spec in EVENT_FIELDS}
    return invalid.reason


@settings(max_examples=400)
@given(st.binary(max_size=200) | st.binary(min_size=1).map(lambda b: b"{" + b))
def test_arbitrary_bytes_only_raise_invalid_event(raw: bytes) -> None:
    reason = _decode_or_reason(raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert reason == "bad_encoding"
    else:
        assert reason != "bad_encoding"


@settings(max_examples=200)
@given(json_values(finite=False), st.booleans())
def test_arbitrary_json_only_raises_invalid_event(value: Any, ascii_only: bool) -> None:
    _decode_or_reason(json.dumps(value, ensure_ascii=ascii_only).encode())


@settings(max_examples=250)
@given(mutated_documents())
def test_almost_valid_documents_only_raise_invalid_event(doc: dict[str, Any]) -> None:
    _decode_or_reason(json.dumps(doc, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000 + b"]" * 5000, b'{"schema":' + b'{"a":' * 3000 + b"1" + b"}" * 3001, b"1" * 5000],
    ids=["deep-array", "deep-object", "huge-integer"],
)
def test_pathological_json(raw: bytes) -> None:
    assert _decode_or_reason(raw) in {"bad_json", "not_object"}
