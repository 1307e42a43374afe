"""Hostile inputs for the event parser and the webhooks, drawn from a seeded generator.

Each input has a ``family`` (what kind of hostility) and ``must_reject``: True when the
contract makes it invalid, False when it is a valid event at an edge (a timestamp in
year 1 or 9999 is RFC 3339; an unknown field is ignored), None when either is right
(a null optional field). Families: malformed JSON, not an object, missing fields, wrong
types, invalid UTF-8, deep nesting, huge bodies, long values, far timestamps, bad
timestamps, unknown enumerations (kinds, statuses, priorities), bad tokens.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

VALID: dict[str, Any] = {
    "schema": "care.event/1",
    "event_id": "hostile-0",
    "kind": "message",
    "platform": "x",
    "brand": "du",
    "thread_id": "t1",
    "customer_id": "c1",
    "occurred_at": "2026-11-21T09:13:20Z",
    "text": "hello",
}
REQUIRED = (
    "schema",
    "event_id",
    "kind",
    "platform",
    "brand",
    "thread_id",
    "customer_id",
    "occurred_at",
)
OPTIONAL = ("ingested_at", "priority", "text", "lang", "topic", "visibility", "agent_id")
WRONG_TYPES: tuple[Any, ...] = (0, -1, 2**70, 1.5, True, False, [], ["x"], {}, {"a": 1})
BAD_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xe2\x82",
    b"\x80",
    b"\xf8\x88\x80\x80\x80",
)
FAR_TIMESTAMPS = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "1000-06-15T12:00:00-12:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999-23:59",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999999Z",
)
BAD_TIMESTAMPS = (
    "",
    "now",
    "2026-02-30T00:00:00Z",
    "2026-11-21T24:00:01Z",
    "2026-11-21T09:13:20",
    "2026-11-21 09:13:20",
    "+275760-09-13T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-21T09:13:60Z",
    "2026-13-01T00:00:00Z",
    "2026-11-21T09:13:20+25:00",
    "1795252400",
    "２０２６-11-21T09:13:20Z",
    "2026-11-21T09:13:20Z\n",
)
UNKNOWN = {
    "kind": ("tweet", "MESSAGE", "", "message ", "repl", "null"),
    "status": ("closed", "RESOLVED", "", "deleted"),
    "priority": ("critical", "URGENT", "", "p1"),
    "visibility": ("secret", "Public", ""),
    "author_type": ("robot", "Human", ""),
    "schema": ("care.event/2", "care.event/1 ", "", "CARE.EVENT/1"),
}
BAD_TOKENS = ("X", "x y", "x\u0000", "платформа", "a" * 33, "", "x/../../etc", "💥")
FAMILIES = (
    "malformed_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "invalid_utf8",
    "deep_nesting",
    "huge_body",
    "long_value",
    "far_timestamp",
    "bad_timestamp",
    "unknown_enum",
    "bad_token",
)


@dataclass(frozen=True, slots=True)
class Hostile:
    family: str
    body: bytes
    must_reject: bool | None


def _event(rng: random.Random, **changes: Any) -> dict[str, Any]:
    doc = dict(VALID, event_id=f"hostile-{rng.getrandbits(48):x}")
    kind = rng.choice(("message", "reply", "status"))
    doc["kind"] = kind
    if kind == "reply":
        doc["author_type"] = rng.choice(("human", "bot", "automation"))
    if kind == "status":
        doc["status"] = rng.choice(("resolved", "reopened", "pending", "open"))
    doc.update(changes)
    return doc


def _dump(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:  # an integer beyond 64 bits: the standard library writes it
        return json.dumps(doc, ensure_ascii=False).encode()


def _malformed(rng: random.Random) -> bytes:
    body = _dump(_event(rng))
    choice = rng.randrange(6)
    if choice == 0:
        return body[: rng.randrange(len(body))]
    if choice == 1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
    if choice == 2:
        return body + rng.choice((b"}", b",", b"garbage", b"{}", b"\x00"))
    if choice == 3:
        return body.replace(b'"', b"'")
    if choice == 4:
        return body.replace(b'"hello"', rng.choice((b"NaN", b"Infinity", b"undefined", b"'x'")))
    return body.replace(b":", b"", 1)


def _not_object(rng: random.Random) -> bytes:
    return rng.choice(
        (b"[]", b"null", b"true", b"0", b'"care.event/1"', b"", b"   ", _dump([_event(rng)]))
    )


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice((64, 512, 1024, 5000, 100_000))
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    if rng.random() < 0.5:
        return nested
    return _dump(_event(rng))[:-1] + b',"extra":' + nested + b"}"


def _huge(rng: random.Random) -> bytes:
    size = rng.choice((64 * 1024 + 1, 200_000, 1_000_000, 5_000_000))
    if rng.random() < 0.5:
        return _dump(_event(rng, text="x" * size))
    return b"[" + b"0," * (size // 2) + b"0]"


def _one(rng: random.Random, family: str) -> Hostile:
    if family == "malformed_json":
        return Hostile(family, _malformed(rng), True)
    if family == "not_object":
        return Hostile(family, _not_object(rng), True)
    if family == "missing_field":
        doc = _event(rng)
        del doc[rng.choice(REQUIRED)]
        return Hostile(family, _dump(doc), True)
    if family == "wrong_type":
        name = rng.choice(REQUIRED + OPTIONAL)
        value = rng.choice((*WRONG_TYPES, None))
        optional_null = value is None and name in OPTIONAL
        return Hostile(family, _dump(_event(rng, **{name: value})), None if optional_null else True)
    if family == "invalid_utf8":
        name = rng.choice(("event_id", "thread_id", "customer_id", "text", "brand", "kind"))
        marker = b"@@HOSTILE@@"
        body = _dump(_event(rng, **{name: "a@@HOSTILE@@b"}))
        return Hostile(family, body.replace(marker, rng.choice(BAD_UTF8)), True)
    if family == "deep_nesting":
        body = _deep(rng)
        return Hostile(family, body, None if body.startswith(b'{"schema"') else True)
    if family == "huge_body":
        return Hostile(family, _huge(rng), True)
    if family == "long_value":
        name = rng.choice(("event_id", "thread_id", "customer_id", "text", "brand", "topic"))
        limit = 10_001 if name == "text" else 257
        return Hostile(family, _dump(_event(rng, **{name: "x" * limit})), True)
    if family == "far_timestamp":
        field = rng.choice(("occurred_at", "ingested_at"))
        return Hostile(family, _dump(_event(rng, **{field: rng.choice(FAR_TIMESTAMPS)})), False)
    if family == "bad_timestamp":
        field = rng.choice(("occurred_at", "ingested_at"))
        return Hostile(family, _dump(_event(rng, **{field: rng.choice(BAD_TIMESTAMPS)})), True)
    if family == "unknown_enum":
        name = rng.choice(sorted(UNKNOWN))
        doc = _event(rng, **{name: rng.choice(UNKNOWN[name])})
        if name in ("status", "author_type") and doc["kind"] == "message":
            doc["kind"] = "status" if name == "status" else "reply"
        return Hostile(family, _dump(doc), True)
    name = rng.choice(("platform", "brand", "topic"))
    token = rng.choice(BAD_TOKENS)
    valid_brand = name == "brand" and token == "a" * 33  # brands may be 64 long
    return Hostile("bad_token", _dump(_event(rng, **{name: token})), not valid_brand)


def hostile_inputs(count: int, seed: int) -> Iterator[Hostile]:
    """``count`` inputs, the families in turn (huge bodies at most one in fifty)."""
    rng = random.Random(seed)
    for n in range(count):
        family = FAMILIES[n % len(FAMILIES)]
        if family == "huge_body" and n % (50 * len(FAMILIES)) >= len(FAMILIES):
            family = "malformed_json"
        yield _one(rng, family)
