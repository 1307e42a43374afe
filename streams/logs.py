"""Structured log lines: carewatch's own loggers write one JSON object per line.

Faust keeps its own format for its own loggers; everything under the ``carewatch``
logger (the processor, the agents, the connectors) goes through :class:`JsonFormatter`,
with the ``extra=`` fields of each call as keys, so a log shipper needs no parsing rules.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


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
        return orjson.dumps(line, default=str).decode()


def setup(level: str = "info") -> None:
    """Send the ``carewatch`` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("carewatch")
    logger.setLevel({"crit": "CRITICAL", "warn": "WARNING"}.get(level, level.upper()))
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = False
