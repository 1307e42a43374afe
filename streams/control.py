"""Clock markers: the one kind of message on the events topic that is not an event.

``carewatch replay`` ends a replay by sending, to every partition of the events topic,
a message with the header ``carewatch-control: clock`` and the value
``{"advance_to": <POSIX seconds>}``. A replay-mode worker moves that partition's stream
clock forward to it (never back), so every deadline up to there is decided. Being on
the same partition, the marker is handled after every event sent before it.
Live-mode workers ignore markers (their clock is the wall clock).
"""

from __future__ import annotations

import orjson

CONTROL_HEADER = "carewatch-control"
CLOCK = b"clock"


def clock_marker(
    advance_to: float, *, final: bool = False
) -> tuple[list[tuple[str, bytes]], bytes]:
    """The headers and value of a marker that advances a partition's clock to ``advance_to``.

    ``final`` marks the end of a replay: the worker then moves every case of the
    partition to the new clock (so a restarted worker resumes it exactly), not only the
    cases that have work, which is what a periodic marker (the demo's) does.
    """
    body: dict[str, object] = {"advance_to": advance_to}
    if final:
        body["final"] = True
    return [(CONTROL_HEADER, CLOCK)], orjson.dumps(body)


def parse_clock_marker(value: bytes | None) -> float | None:
    """The marker's instant, or None when it is malformed."""
    try:
        data = orjson.loads(value or b"")
        return float(data["advance_to"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def is_final_marker(value: bytes | None) -> bool:
    """True for the marker that ends a replay (see :func:`clock_marker`)."""
    try:
        return orjson.loads(value or b"").get("final") is True
    except (orjson.JSONDecodeError, AttributeError):
        return False
