"""``POST /events``: contract events posted as they are, JSON lines or one JSON array.

A body whose first non-blank byte is ``[`` is a JSON array of event objects; any other
body is JSON lines, one event per line (blank lines are skipped). ``line`` in a
rejection is the 1-based line number, or the 1-based position in the array.

All or nothing: every event of the request is validated (:func:`decode_event`'s rules
and reason codes, then :func:`encode_event`) before any is sent; one invalid event
rejects the request and nothing of it reaches Kafka, so a sender can fix and resend the
whole batch without tracking which part landed.

Each event is re-encoded by :func:`encode_event`: timestamps are written in UTC, and
fields outside the contract's table are not carried (the stream ignores them anyway).
``ingested_at`` is set to the time of receipt where the sender left it out.
"""

from __future__ import annotations

import dataclasses

from connectors.producer import Record
from connectors.webhook_payloads import PayloadError, Rejected, Rejection, encode_all, load_json
from streams.errors import InvalidEvent
from streams.events import CareEvent, decode_event, event_from_dict


def parse_events(body: bytes, received_at: float) -> list[Record]:
    """The request's events as records, or :class:`Rejected` naming every bad line."""
    start = body.lstrip()
    if not start:
        raise Rejected([Rejection(0, "bad_json", "the body is empty")])
    numbered = _array(body) if start.startswith(b"[") else _lines(body)
    stamped = [(line, _received(event, received_at)) for line, event in numbered]
    return encode_all(stamped)


def _lines(body: bytes) -> list[tuple[int, CareEvent]]:
    events: list[tuple[int, CareEvent]] = []
    rejections: list[Rejection] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            events.append((number, decode_event(line)))
        except InvalidEvent as exc:
            rejections.append(Rejection(number, exc.reason, exc.detail))
    if rejections:
        raise Rejected(rejections)
    return events


def _array(body: bytes) -> list[tuple[int, CareEvent]]:
    try:
        document = load_json(body)
    except PayloadError as exc:
        raise Rejected([Rejection(0, exc.reason, exc.detail)]) from None
    if not isinstance(document, list):  # e.g. "[1] [2]" is not one value; load_json refuses it
        raise Rejected([Rejection(0, "not_object", "expected an array of events")])
    events: list[tuple[int, CareEvent]] = []
    rejections: list[Rejection] = []
    for position, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            rejections.append(Rejection(position, "not_object", "the event is not an object"))
            continue
        try:
            events.append((position, event_from_dict(item)))
        except InvalidEvent as exc:
            rejections.append(Rejection(position, exc.reason, exc.detail))
    if rejections:
        raise Rejected(rejections)
    return events


def _received(event: CareEvent, received_at: float) -> CareEvent:
    if event.ingested_at is not None:
        return event
    return dataclasses.replace(event, ingested_at=received_at)
