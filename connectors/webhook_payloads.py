"""Reading untrusted webhook payloads: typed access that fails with a reason, never a crash.

Every mapper (posted events, Meta, Chatwoot) reads JSON a sender controls. The helpers
here turn a wrong shape into :class:`PayloadError` with one of the contract's reason
codes (``bad_json``, ``not_object``, ``missing_field``, ``wrong_type``,
``bad_timestamp``) and a detail naming the JSON path, so a request is answered 400 with
a reason instead of 500. :func:`encode_all` is the all-or-nothing step: either every
event of a request encodes (``encode_event`` checks it against the contract) or the
request is :class:`Rejected` with every failure listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from connectors.producer import Record
from streams.errors import CarewatchError, InvalidEvent
from streams.events import CareEvent

MAX_TEXT: Final = 10_000  # CONTRACT.md section 2: text is at most 10,000 characters
_MILLIS_FROM: Final = 1e11  # a larger epoch number is milliseconds (1e11 s is year 5138)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused part of a request: ``line`` 1-based (0: the request as a whole)."""

    line: int
    reason: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason, "detail": self.detail}


class PayloadError(CarewatchError):
    """A payload whose shape the mapper cannot read."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Rejected(CarewatchError):
    """The request is refused as a whole; nothing of it was sent."""

    def __init__(self, rejections: Sequence[Rejection]) -> None:
        self.rejections = list(rejections)
        super().__init__(f"{len(self.rejections)} rejected")


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise PayloadError("bad_encoding", f"not UTF-8 at byte {bad.start}") from None
        raise PayloadError("bad_json", f"not JSON: {exc.msg} at char {exc.pos}") from None


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise PayloadError("missing_field", f"{where}: required")
    if not isinstance(value, dict):
        raise PayloadError("not_object", f"{where}: expected an object")
    return value


def items(value: Any, where: str) -> list[Any]:
    """A list that may be absent (then empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError("wrong_type", f"{where}: expected an array")
    return value


def ident(value: Any, where: str) -> str:
    """An id: a non-empty string, or an integer (platforms send both)."""
    if value is None:
        raise PayloadError("missing_field", f"{where}: required")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise PayloadError("wrong_type", f"{where}: expected an id")
    return value


def optional_ident(value: Any, where: str) -> str | None:
    return None if value is None else ident(value, where)


def text(value: Any, where: str) -> str | None:
    """Message text, cut to the contract's 10,000 characters; absent stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError("wrong_type", f"{where}: expected a string")
    return value[:MAX_TEXT]


def epoch(value: Any, where: str) -> float:
    """POSIX seconds from epoch seconds or milliseconds, or an ISO 8601 string
    (``2021-07-23T18:02:48.000Z``, ``2020-03-03 13:05:57 UTC``, ``...+0000``)."""
    if value is None:
        raise PayloadError("missing_field", f"{where}: required")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0 if abs(value) >= _MILLIS_FROM else float(value)
    if isinstance(value, str):
        iso = value.strip().removesuffix(" UTC").replace("Z", "+00:00").replace("z", "+00:00")
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise PayloadError("bad_timestamp", f"{where}: not a time with an offset or epoch number")


def encode_all(numbered: Iterable[tuple[int, CareEvent]]) -> list[Record]:
    """Every event as a record, or Rejected listing every event the contract refuses."""
    records: list[Record] = []
    rejections: list[Rejection] = []
    for line, event in numbered:
        try:
            records.append(Record.of(event))
        except InvalidEvent as exc:
            rejections.append(Rejection(line, exc.reason, exc.detail))
    if rejections:
        raise Rejected(rejections)
    return records
