"""Structured log lines: carewatch's own loggers write one JSON object per line.

Faust keeps its own format for its own loggers; everything under the ``carewatch``
logger (the processor, the agents, the connectors) goes through :class:`JsonFormatter`,
with the ``extra=`` fields of each call as keys, so a log shipper needs no parsing rules.

Secrets: no code path logs a token, secret or password (``tests/security`` scans real
runs for them). As a second line of defence, every value passed to :func:`hide` (each
connector ``Secret`` is, when it is created) is replaced by ``***`` in every line this
formatter writes, wherever it appears: in the message, an ``extra`` field or a
traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
MIN_HIDDEN = 6  # shorter values are not masked: they would mask ordinary words
_hidden: set[bytes] = set()  # JSON-escaped forms of the values to mask
_hidden_lock = threading.Lock()


def hide(value: str) -> None:
    """Mask ``value`` (when at least :data:`MIN_HIDDEN` characters) in every line written."""
    if len(value) >= MIN_HIDDEN:
        escaped = orjson.dumps(value)[1:-1]  # as it appears inside a JSON string
        with _hidden_lock:
            _hidden.add(escaped)


def redact(line: bytes) -> bytes:
    """``line`` with every hidden value replaced by ``***``, longest values first."""
    with _hidden_lock:
        hidden = sorted(_hidden, key=len, reverse=True)
    for value in hidden:
        if value in line:
            line = line.replace(value, b"***")
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(line, default=str)).decode()


def setup(level: str = "info", secrets: Iterable[str] = ()) -> None:
    """Send the ``carewatch`` loggers to stderr as JSON lines (idempotent); ``secrets``
    are masked in them (:func:`hide`)."""
    for secret in secrets:
        hide(secret)
    logger = logging.getLogger("carewatch")
    logger.setLevel({"crit": "CRITICAL", "warn": "WARNING"}.get(level, level.upper()))
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = False


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever ``sys.stderr`` is when a line is written, not when it was
    made: a handler made under pytest's capture would otherwise write to a closed file."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr
