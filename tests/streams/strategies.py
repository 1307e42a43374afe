"""Hypothesis strategies for the event contract (CONTRACT.md section 2), for any test.

- :func:`care_events`: valid :class:`CareEvent` records, optionally narrowed to some kinds,
  brands, platforms, threads, customers or times (e.g. a few cases for the clock tests);
- :func:`event_documents`: valid events as JSON objects in every form the contract allows
  (any offset, ``t``/``z`` in either case, fractions, nulls, unknown fields);
- :func:`mutated_documents`: a valid document with one field dropped or replaced by a
  near miss or arbitrary JSON, valid or not;
- :func:`json_values`: any JSON value, including NaN and integers beyond 64 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from streams.events import (
    EVENT_FIELDS,
    AuthorType,
    CareEvent,
    Kind,
    Priority,
    Status,
    Visibility,
)

# Built from alphabets rather than st.from_regex, which is several times slower to draw.
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
PLATFORM_TOKENS = st.text(_LOWER + _DIGITS + "_", min_size=1, max_size=32)
BRAND_TOKENS = st.text(_LOWER + _DIGITS + "_-", min_size=1, max_size=64)
TOPIC_TOKENS = PLATFORM_TOKENS
LANG_TAGS = st.builds(
    lambda language, subtags: "-".join([language, *subtags]),
    st.text(_LOWER + _LOWER.upper(), min_size=2, max_size=8),
    st.lists(st.text(_LOWER + _LOWER.upper() + _DIGITS, min_size=1, max_size=8), max_size=3),
)
# Short strings keep drawing fast; the bounds themselves are drawn now and then.
IDS = st.text(min_size=1, max_size=24) | st.sampled_from(["i" * 256, "😀" * 256])
TEXTS = st.text(max_size=80) | st.sampled_from(["ж" * 10_000, "\x00" * 10_000])

_ALL_KINDS = tuple(Kind)
_EPOCH = datetime(1970, 1, 1)


def posix_times(min_year: int = 1990, max_year: int = 2100) -> st.SearchStrategy[float]:
    """POSIX seconds with microsecond precision, as :func:`decode_event` produces them."""
    low = int((datetime(min_year, 1, 1) - _EPOCH).total_seconds())
    high = int((datetime(max_year, 12, 31, 23, 59, 59) - _EPOCH).total_seconds())
    return st.integers(low * 1_000_000, high * 1_000_000).map(lambda us: us / 1_000_000)


def _or_none(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _required_if(required: bool, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy if required else _or_none(strategy)


def _choose(
    values: Sequence[str] | None, default: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.sampled_from(values) if values else default


def care_events(
    kinds: Sequence[Kind] = _ALL_KINDS,
    brands: Sequence[str] | None = None,
    platforms: Sequence[str] | None = None,
    thread_ids: Sequence[str] | None = None,
    customer_ids: Sequence[str] | None = None,
    occurred_at: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[CareEvent]:
    """Valid events; ``author_type`` is set on every reply, ``status`` on every status.

    Narrow ``brands``/``platforms``/``thread_ids``/``customer_ids`` to a few values to get
    several events per case; ``occurred_at`` defaults to :func:`posix_times`.
    """
    return st.one_of(
        [
            st.builds(
                CareEvent,
                event_id=IDS,
                kind=st.just(kind),
                platform=_choose(platforms, PLATFORM_TOKENS),
                brand=_choose(brands, BRAND_TOKENS),
                thread_id=_choose(thread_ids, IDS),
                customer_id=_choose(customer_ids, IDS),
                occurred_at=occurred_at if occurred_at is not None else posix_times(),
                ingested_at=_or_none(posix_times()),
                priority=_or_none(st.sampled_from(Priority)),
                text=_or_none(TEXTS),
                lang=_or_none(LANG_TAGS),
                topic=_or_none(TOPIC_TOKENS),
                visibility=st.sampled_from(Visibility),
                author_type=_required_if(kind is Kind.REPLY, st.sampled_from(AuthorType)),
                agent_id=_or_none(st.text(max_size=24)),
                status=_required_if(kind is Kind.STATUS, st.sampled_from(Status)),
            )
            for kind in kinds
        ]
    )


def _rfc3339(ordinal: int, second: int, digits: str, offset: str, separator: str) -> str:
    moment = datetime.fromordinal(ordinal) + timedelta(seconds=second)
    fraction = f".{digits}" if digits else ""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}{offset}"
    )


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-00:00"]) | st.integers(
    -(23 * 60 + 59), 23 * 60 + 59
).map(_offset)


def rfc3339_timestamps(min_year: int = 1, max_year: int = 9999) -> st.SearchStrategy[str]:
    """Real RFC 3339 date-times with an offset, in every spelling the contract allows."""
    return st.builds(
        _rfc3339,
        st.integers(date(min_year, 1, 1).toordinal(), date(max_year, 12, 31).toordinal()),
        st.integers(0, 86_399),
        st.text(_DIGITS, max_size=9),
        _OFFSETS,
        st.sampled_from("Tt"),
    )


def _json_values(finite: bool) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=not finite, allow_infinity=not finite)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=6,
    )


_JSON_VALUES = {True: _json_values(True), False: _json_values(False)}


def json_values(finite: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value; ``finite=False`` adds NaN and infinities (not JSON, but sent)."""
    return _JSON_VALUES[finite]


_FIELD_NAMES = [spec.name for spec in EVENT_FIELDS]
_UNKNOWN_FIELDS = st.dictionaries(
    st.text(max_size=12).filter(lambda key: key not in _FIELD_NAMES), json_values(), max_size=2
)


def _document_of(kind: Kind, timestamps: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    required = {
        "schema": st.just("care.event/1"),
        "event_id": IDS,
        "kind": st.just(kind.value),
        "platform": PLATFORM_TOKENS,
        "brand": BRAND_TOKENS,
        "thread_id": IDS,
        "customer_id": IDS,
        "occurred_at": timestamps,
    }
    optional = {
        "ingested_at": timestamps,
        "priority": st.sampled_from([p.value for p in Priority]),
        "text": TEXTS,
        "lang": LANG_TAGS,
        "topic": TOPIC_TOKENS,
        "visibility": st.sampled_from([v.value for v in Visibility]),
        "author_type": st.sampled_from([a.value for a in AuthorType]),
        "agent_id": st.text(max_size=24),
        "status": st.sampled_from([s.value for s in Status]),
    }
    now_required = {Kind.REPLY: "author_type", Kind.STATUS: "status"}.get(kind)
    if now_required:
        required[now_required] = optional.pop(now_required)
    fields = st.fixed_dictionaries(
        required, optional={name: _or_none(values) for name, values in optional.items()}
    )
    return st.builds(lambda extra, doc: extra | doc, _UNKNOWN_FIELDS, fields)


def event_documents(
    kinds: Sequence[Kind] = _ALL_KINDS, timestamps: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events as JSON objects: optional fields absent, null or set; unknown keys."""
    timestamps = timestamps if timestamps is not None else rfc3339_timestamps()
    return st.one_of([_document_of(kind, timestamps) for kind in kinds])


NEAR_MISSES: tuple[str, ...] = (
    *(value.value for enum in (Kind, Priority, Visibility, AuthorType, Status) for value in enum),
    *("", " ", "x", "X", "x\n", "\nx", "x y", "ｘ", "١", "a-b", "a.b", "a" * 32, "a" * 33),
    *("a" * 64, "a" * 65, "a" * 256, "a" * 257, "é" * 256, "😀" * 257, "x" * 10_001),
    *("care.event/1", "care.event/2", "Care.Event/1", "care.event/1 ", "REPLY", "reply\n"),
    *("en", "e", "en-", "-en", "en--us", "zh-Hant-TW", "abcdefghi", "en-abcdefghi", "en_US"),
    *("2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2024-02-30T12:00:00+01:00"),
    *("2024-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00"),
    *("9999-12-31T23:59:59.999999-23:59", "2024-01-01T00:00:00", "2024-01-01"),
    *("2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z", "2024-01-01 00:00:00Z"),
    *("2024-01-01T00:00:00+0100", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Z\n"),
    *("2024-1-01T00:00:00Z", "2024-01-01T00:00:00+24:00", "٢٠٢٤-01-01T00:00:00Z"),
)
"""Strings at the edge of some field's rule, tried in every field by the mutations."""


_DROP = object()
_REPLACEMENTS = (
    st.none() | st.sampled_from(NEAR_MISSES) | json_values() | st.text(max_size=40) | st.just(_DROP)
)


def _replace(doc: dict[str, Any], name: str, replacement: Any) -> dict[str, Any]:
    if replacement is _DROP:
        doc.pop(name, None)
    else:
        doc[name] = replacement
    return doc


def mutated_documents() -> st.SearchStrategy[dict[str, Any]]:
    """A valid document with one table field dropped, or set to a near miss or any JSON."""
    return st.builds(_replace, event_documents(), st.sampled_from(_FIELD_NAMES), _REPLACEMENTS)
