"""The committed JSON Schema is generated from the field table and agrees with the decoder."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from streams.errors import InvalidEvent
from streams.events import EVENT_FIELDS, MAX_EVENT_BYTES, decode_event
from streams.schema import SCHEMA_PATH, event_json_schema, main, render_schema
from tests.streams.strategies import NEAR_MISSES, event_documents, mutated_documents
from tests.streams.test_events import MESSAGE, REPLY, RULES, STATUS

# jsonschema runs "pattern" through Python's re.search, where "$" also matches before a
# final newline; JSON Schema specifies ECMA-262, where (without the m flag) it does not.
# Every pattern of ours is "^...$", so the faithful reading is "^...\Z".


def _ecma_pattern(
    validator: Any, pattern: str, instance: object, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    assert pattern.startswith("^")
    assert pattern.endswith("$")
    assert "$" not in pattern[:-1]
    if isinstance(instance, str) and re.search(pattern[:-1] + r"\Z", instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})

# format: date-time needs rfc3339-validator, which is not installed; the pattern already
# fixes the syntax, so this checker asserts only what the pattern cannot: that the day
# exists. It is written apart from the decoder (which uses datetime.fromisoformat).
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _real_day(instance: object) -> bool:
    if not isinstance(instance, str) or not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", instance):
        return True  # not a date at all: the pattern rejects it
    year, month, day = int(instance[:4]), int(instance[5:7]), int(instance[8:10])
    if year == 0 or not 1 <= month <= 12:
        return False
    return 1 <= day <= calendar.monthrange(year, month)[1]


VALIDATOR = EcmaValidator(event_json_schema(), format_checker=FORMATS)


def test_committed_schema_is_generated() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "run `python -m streams.schema` and commit schemas/care.event.v1.schema.json"
    )


def test_main_writes_the_schema(tmp_path: Any) -> None:
    target = tmp_path / "out.json"
    assert main([str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == event_json_schema()


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(event_json_schema())


def test_schema_covers_the_table() -> None:
    schema = event_json_schema()
    assert list(schema["properties"]) == [spec.name for spec in EVENT_FIELDS]
    assert schema["required"] == [spec.name for spec in EVENT_FIELDS if spec.required]


def _decodes(raw: bytes) -> bool:
    try:
        decode_event(raw)
    except InvalidEvent:
        return False
    return True


def _schema_accepts(doc: object, raw: bytes) -> bool:
    """The schema's verdict, plus the one rule it cannot state: 64 KiB of UTF-8."""
    return VALIDATOR.is_valid(doc) and len(raw) <= MAX_EVENT_BYTES


@pytest.mark.parametrize("case", [r for r in RULES if r[3] is not None], ids=lambda r: r[0])
def test_schema_rejects_every_field_rule(case: tuple[str, bytes, str, str]) -> None:
    raw = case[1]
    assert not VALIDATOR.is_valid(json.loads(raw))


def test_schema_cannot_see_the_size() -> None:
    doc = MESSAGE | {"padding": "p" * MAX_EVENT_BYTES}
    assert VALIDATOR.is_valid(doc)
    assert not _decodes(json.dumps(doc).encode())


_ABSENT = object()
_ODD_JSON: tuple[object, ...] = (None, _ABSENT, True, 0, 1.5, 10**30, [], ["reply"], {})


def _one_field_changes() -> Iterator[dict[str, Any]]:
    for base in (MESSAGE, REPLY, STATUS):
        for spec in EVENT_FIELDS:
            for value in (*NEAR_MISSES, *_ODD_JSON):
                doc = base | {spec.name: value}
                if value is _ABSENT:
                    del doc[spec.name]
                yield doc


def test_schema_and_decoder_agree_on_every_near_miss_in_every_field() -> None:
    disagreements = []
    for doc in _one_field_changes():
        raw = json.dumps(doc, ensure_ascii=False).encode()
        if _schema_accepts(doc, raw) != _decodes(raw):
            disagreements.append(doc)
    assert disagreements == []


@settings(max_examples=150)
@given(event_documents())
def test_schema_accepts_valid_documents(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc, ensure_ascii=False).encode()
    assert _schema_accepts(doc, raw)
    assert _decodes(raw)


@settings(max_examples=250)
@given(mutated_documents())
def test_schema_and_decoder_agree(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc, ensure_ascii=False).encode()
    assert _schema_accepts(doc, raw) == _decodes(raw), list(VALIDATOR.iter_errors(doc))
