"""The ``care.events.v1`` event record (CONTRACT.md section 2).

This module is the contract in code: connectors build :class:`CareEvent` values and
serialise them with :func:`encode_event`; the stream turns bytes back into events with
:func:`decode_event`, which raises :class:`streams.errors.InvalidEvent` (a bounded
``reason`` code and a message naming the field) for anything that breaks the contract.

:data:`EVENT_FIELDS` is the one declarative statement of section 2: the decoder, the
encoder and the JSON Schema (:mod:`streams.schema`) are all read from it.

Reason codes, one per rule, checked in this order (so one input always has one reason):

1. ``too_large``: more than :data:`MAX_EVENT_BYTES` bytes;
2. ``bad_encoding``: not UTF-8, or not a byte string at all (e.g. a Kafka tombstone);
3. ``bad_json``: UTF-8 but not JSON (NaN, a BOM, a number beyond a double, depth > 1024);
4. ``not_object``: JSON, but not an object;
5. then each field in table order (:data:`EVENT_FIELDS`), and within one field:
   ``missing_field`` (absent where required), ``wrong_type`` (not a string, or null where
   required; null where optional is absent), then the field's :class:`Rule`:
   ``bad_schema``, ``bad_length``, ``bad_token``, ``bad_enum``, ``bad_timestamp``,
   ``bad_lang``. Whether ``author_type``/``status`` are required depends on ``kind``,
   which is checked before them. Fields not in the table are ignored.

The UTF-8 check costs nothing on the hot path: orjson rejects invalid UTF-8 itself, and
only a message that fails to parse is decoded again to tell ``bad_encoding`` from
``bad_json``. Duplicate keys are not an error: the last one wins (as in orjson).

The record, the table and the codec read from it form one module on purpose (longer than
the usual 300 lines): they change together, and only with a new contract version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, Final

import orjson

from streams.errors import InvalidEvent

SCHEMA = "care.event/1"
MAX_EVENT_BYTES: Final = 65_536
"""The largest message the contract allows: 64 KiB of UTF-8, counted in bytes."""
REASONS: Final = (
    "too_large",
    "bad_encoding",
    "bad_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "bad_schema",
    "bad_length",
    "bad_token",
    "bad_enum",
    "bad_timestamp",
    "bad_lang",
)
"""Every ``InvalidEvent.reason`` this module raises, in check order: the bounded values
of the ``reason`` label of ``carewatch_events_rejected_total``."""


class Kind(StrEnum):
    MESSAGE = "message"
    REPLY = "reply"
    STATUS = "status"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more urgent: ``low`` 0, ``normal`` 1, ``high`` 2, ``urgent`` 3."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class AuthorType(StrEnum):
    HUMAN = "human"
    BOT = "bot"
    AUTOMATION = "automation"


class Status(StrEnum):
    RESOLVED = "resolved"
    REOPENED = "reopened"
    PENDING = "pending"
    OPEN = "open"


def case_key(platform: str, brand: str, thread_id: str, customer_id: str) -> str:
    """The case key ``{platform}:{brand}:{thread_id}:{customer_id}``: one customer in one thread."""
    return f"{platform}:{brand}:{thread_id}:{customer_id}"


@dataclass(frozen=True, slots=True)
class CareEvent:
    """One valid event. Timestamps are POSIX seconds (UTC), parsed from RFC 3339.

    ``priority`` is ``None`` when the event does not state one: the contract's default
    ``normal`` applies to the case only when no event of the cycle stated a priority.
    """

    event_id: str
    kind: Kind
    platform: str
    brand: str
    thread_id: str
    customer_id: str
    occurred_at: float
    ingested_at: float | None = None
    priority: Priority | None = None
    text: str | None = None
    lang: str | None = None
    topic: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    author_type: AuthorType | None = None
    agent_id: str | None = None
    status: Status | None = None

    @property
    def case_key(self) -> str:
        return case_key(self.platform, self.brand, self.thread_id, self.customer_id)


class Rule(Enum):
    """What a field's string value must satisfy; each value is the reason code it raises."""

    SCHEMA = "bad_schema"  # equal to SCHEMA
    LENGTH = "bad_length"  # min_length <= code points <= max_length
    TOKEN = "bad_token"  # matches pattern (which also bounds the length)
    ENUM = "bad_enum"  # one of the enum's values
    TIMESTAMP = "bad_timestamp"  # matches pattern and is a real date and time
    LANG = "bad_lang"  # matches pattern


TIMESTAMP_PATTERN: Final = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
"""RFC 3339 ``date-time`` with a mandatory offset, except leap seconds (``:60``): POSIX
time cannot represent them. The day is checked against the month (and year 0000, not a
Gregorian year, is refused) by code, as JSON Schema's ``format: date-time`` does."""

LANG_PATTERN: Final = r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"
"""A BCP 47 language tag's shape: a 2-8 letter language, then 1-8 character subtags."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One row of CONTRACT.md section 2. Every field's JSON type is string.

    ``pattern`` is written for both ECMA-262 (JSON Schema) and Python ``re``, without
    anchors and without a top-level ``|``: the whole value must match it.
    """

    name: str
    rule: Rule
    meaning: str
    required: bool = False
    required_for: Kind | None = None  # required only for events of this kind
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None
    enum: type[StrEnum] | None = None
    # Derived once, for the hot path: the rule's check, the compiled pattern, enum lookup.
    check: Callable[[FieldSpec, str], object] = field(init=False, repr=False, compare=False)
    fullmatch: Callable[[str], object] = field(init=False, repr=False, compare=False)
    members: Mapping[str, StrEnum] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", _CHECKS[self.rule])
        # Rules without a pattern never call fullmatch; str keeps the attribute typed.
        matcher = re.compile(self.pattern).fullmatch if self.pattern else str
        object.__setattr__(self, "fullmatch", matcher)
        members = {member.value: member for member in self.enum} if self.enum else {}
        object.__setattr__(self, "members", members)


def _check_schema(spec: FieldSpec, value: str) -> str:
    if value != SCHEMA:
        raise _broken(spec, f"not {SCHEMA!r}", value)
    return value


def _check_length(spec: FieldSpec, value: str) -> str:
    """Length in code points, as JSON Schema's ``minLength``/``maxLength`` count."""
    length = len(value)
    if length < spec.min_length or (spec.max_length is not None and length > spec.max_length):
        raise _broken(spec, f"{length} characters, not {spec.min_length}-{spec.max_length}", value)
    return value


def _check_enum(spec: FieldSpec, value: str) -> StrEnum:
    member = spec.members.get(value)
    if member is None:
        raise _broken(spec, f"not one of {', '.join(spec.members)}", value)
    return member


def _check_token(spec: FieldSpec, value: str) -> str:
    if spec.fullmatch(value) is None:
        raise _broken(spec, f"not a token matching {spec.pattern}", value)
    return value


def _check_lang(spec: FieldSpec, value: str) -> str:
    if spec.fullmatch(value) is None:
        raise _broken(spec, "not a BCP 47 language tag", value)
    return value


def _check_timestamp(spec: FieldSpec, value: str) -> float:
    """POSIX seconds; digits beyond the microsecond are dropped."""
    if spec.fullmatch(value) is None:
        raise _broken(spec, "not an RFC 3339 timestamp with an offset", value)
    # The pattern leaves fromisoformat only the real-date check (2023-02-29, year 0000).
    iso = value.upper() if value[10] == "t" or value[-1] == "z" else value
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise _broken(spec, "not a real date and time", value) from None
    return (moment - _EPOCH_UTC).total_seconds()


_CHECKS: Final[Mapping[Rule, Callable[[FieldSpec, str], object]]] = {
    Rule.SCHEMA: _check_schema,
    Rule.LENGTH: _check_length,
    Rule.TOKEN: _check_token,
    Rule.ENUM: _check_enum,
    Rule.TIMESTAMP: _check_timestamp,
    Rule.LANG: _check_lang,
}


def _id(name: str, meaning: str) -> FieldSpec:
    return FieldSpec(name, Rule.LENGTH, meaning, required=True, min_length=1, max_length=256)


_TOKEN_32: Final = "[a-z0-9_]{1,32}"

EVENT_FIELDS: Final[tuple[FieldSpec, ...]] = (
    FieldSpec("schema", Rule.SCHEMA, f"contract version, always {SCHEMA!r}", required=True),
    _id("event_id", "globally unique; the same id twice is one event"),
    FieldSpec("kind", Rule.ENUM, "message, reply or status", required=True, enum=Kind),
    FieldSpec("platform", Rule.TOKEN, "x, telegram, email, ...", required=True, pattern=_TOKEN_32),
    FieldSpec("brand", Rule.TOKEN, "the case's brand", required=True, pattern="[a-z0-9_-]{1,64}"),
    _id("thread_id", "the platform's thread: a conversation, post, chat or mail thread"),
    _id("customer_id", "the customer in that thread (a pseudonym is fine)"),
    FieldSpec(
        "occurred_at", Rule.TIMESTAMP, "event time", required=True, pattern=TIMESTAMP_PATTERN
    ),
    FieldSpec(
        "ingested_at", Rule.TIMESTAMP, "received by the connector", pattern=TIMESTAMP_PATTERN
    ),
    FieldSpec("priority", Rule.ENUM, "absent: normal; the cycle's highest wins", enum=Priority),
    FieldSpec("text", Rule.LENGTH, "message text", max_length=10_000),
    FieldSpec("lang", Rule.LANG, "BCP 47 tag; detected when absent", pattern=LANG_PATTERN),
    FieldSpec(
        "topic", Rule.TOKEN, "e.g. network, billing; classified when absent", pattern=_TOKEN_32
    ),
    FieldSpec("visibility", Rule.ENUM, "absent: public; internal: a note", enum=Visibility),
    FieldSpec(
        "author_type", Rule.ENUM, "who wrote a reply", required_for=Kind.REPLY, enum=AuthorType
    ),
    # The contract bounds event_id, thread_id and customer_id (1-256) but says only
    # "string" for agent_id: any string is accepted, the 64 KiB limit bounds it.
    FieldSpec("agent_id", Rule.LENGTH, "the replying agent (never a metric label)"),
    FieldSpec("status", Rule.ENUM, "a state change", required_for=Kind.STATUS, enum=Status),
)
"""CONTRACT.md section 2, in table order (the order fields are checked in)."""

_ECHO_CHARS: Final = 64
_EPOCH: Final = datetime(1970, 1, 1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_TYPES: Final[Mapping[type, str]] = {
    dict: "an object",
    list: "an array",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def decode_event(raw: bytes | bytearray | memoryview | None) -> CareEvent:
    """Parse and validate one Kafka message value (CONTRACT.md section 2).

    Raises :class:`InvalidEvent` for every violation, with the reason codes and order of
    the module docstring, and never raises anything else, whatever the input.
    """
    return event_from_dict(_load_object(raw))


def event_from_dict(doc: Mapping[str, Any]) -> CareEvent:
    """Validate an already parsed JSON object, field by field in table order.

    Raises :class:`InvalidEvent` with a field-level reason (step 5 of the module docstring).
    """
    values: dict[str, Any] = {}
    kind: Kind | None = None
    for spec in EVENT_FIELDS:
        value = doc.get(spec.name)
        if value is None:
            if spec.required or (spec.required_for is not None and spec.required_for is kind):
                raise _absent(spec, doc, kind)
            continue
        if not isinstance(value, str):
            detail = f"field {spec.name!r}: expected a string, got {_json_type(value)}"
            raise InvalidEvent("wrong_type", spec.name, detail)
        values[spec.name] = spec.check(spec, value)
        if spec.enum is Kind:
            kind = values[spec.name]
    del values["schema"]
    return CareEvent(**values)


def _load_object(raw: bytes | bytearray | memoryview | None) -> dict[str, Any]:
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    if not isinstance(raw, bytes | bytearray):
        detail = f"the message value is {type(raw).__name__}, not bytes"
        raise InvalidEvent("bad_encoding", None, detail)
    if len(raw) > MAX_EVENT_BYTES:
        detail = f"the message is {len(raw)} bytes, more than {MAX_EVENT_BYTES}"
        raise InvalidEvent("too_large", None, detail)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _unparsable(raw, exc) from None
    if not isinstance(doc, dict):
        raise InvalidEvent("not_object", None, f"the message is {_json_type(doc)}, not an object")
    return doc


def _unparsable(raw: bytes | bytearray, exc: orjson.JSONDecodeError) -> InvalidEvent:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        detail = f"the message is not UTF-8: {bad.reason} at byte {bad.start}"
        return InvalidEvent("bad_encoding", None, detail)
    return InvalidEvent("bad_json", None, f"the message is not JSON: {exc.msg} at char {exc.pos}")


def _absent(spec: FieldSpec, doc: Mapping[str, Any], kind: Kind | None) -> InvalidEvent:
    when = "" if spec.required else f" when kind is {kind!s}"
    if spec.name in doc:
        detail = f"field {spec.name!r}: null, but a string is required{when}"
        return InvalidEvent("wrong_type", spec.name, detail)
    return InvalidEvent("missing_field", spec.name, f"field {spec.name!r}: required{when}")


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _broken(spec: FieldSpec, problem: str, value: str) -> InvalidEvent:
    """The field's own rule is broken; the echoed value is cut to 64 characters."""
    echo = value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "..."
    return InvalidEvent(spec.rule.value, spec.name, f"field {spec.name!r}: {problem}: {echo!r}")


def format_timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with ``Z``; microseconds only when the value has a fraction.

    Raises ``ValueError`` (or ``OverflowError``) for a non-finite value or one outside
    the years 0001-9999. For every value :func:`decode_event` produces in that range,
    decoding the result gives the value back exactly (tested).
    """
    whole = math.floor(seconds)
    micros = round((seconds - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    text = (_EPOCH + timedelta(seconds=whole)).isoformat()
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def event_to_dict(event: CareEvent) -> dict[str, Any]:
    """The event as a JSON object: ``schema`` first, then the table's fields in order,
    absent (``None``) fields left out, enums as their values, timestamps formatted by
    :func:`format_timestamp`. Raises :class:`InvalidEvent` for a timestamp it cannot write.
    """
    doc: dict[str, Any] = {"schema": SCHEMA}
    for spec in EVENT_FIELDS[1:]:
        value = getattr(event, spec.name)
        if value is None:
            continue
        if spec.rule is Rule.TIMESTAMP:
            try:
                value = format_timestamp(value)
            except (TypeError, ValueError, OverflowError) as exc:
                detail = f"field {spec.name!r}: cannot write {value!r} as RFC 3339: {exc}"
                raise InvalidEvent("bad_timestamp", spec.name, detail) from None
        doc[spec.name] = value.value if isinstance(value, Enum) else value
    return doc


def encode_event(event: CareEvent) -> bytes:
    """Compact UTF-8 JSON of :func:`event_to_dict`, checked with :func:`decode_event`.

    The check makes a connector fail at the source, with the reason the stream would
    give, instead of filling the dead-letter topic; it raises :class:`InvalidEvent`.
    Connectors are not the hot path, so the second parse is affordable.
    """
    try:
        raw = orjson.dumps(event_to_dict(event))
    except orjson.JSONEncodeError as exc:  # a lone surrogate, or a value of no JSON type
        raise InvalidEvent("bad_encoding", None, f"the event cannot be written: {exc}") from None
    decode_event(raw)
    return raw
