"""The log formatter's second line of defence: a hidden value never reaches a JSON line,
wherever a careless call puts it."""

from __future__ import annotations

import logging
import sys

import orjson

from connectors.config import Secret
from streams import logs


def _line(record: logging.LogRecord) -> str:
    return logs.JsonFormatter().format(record)


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("carewatch.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_hidden_value_is_masked_in_the_message_fields_and_tracebacks() -> None:
    secret = 'hidden-"quoted"\\value-41c7'  # JSON escapes it: masked in that form too
    logs.hide(secret)
    try:
        raise ValueError(f"connect failed with {secret}")
    except ValueError:
        exc_info = sys.exc_info()
    record = _record("token %s refused", secret, detail={"password": secret}, plain=secret)
    record.exc_info = exc_info
    line = _line(record)
    parsed = orjson.loads(line)
    assert secret not in line
    assert orjson.dumps(secret).decode()[1:-1] not in line
    assert parsed["msg"] == "token *** refused"
    assert parsed["detail"] == {"password": "***"}
    assert parsed["plain"] == "***"
    assert "connect failed with ***" in parsed["exc"]


def test_every_connector_secret_is_hidden_as_it_is_created_and_short_values_are_not() -> None:
    Secret("connector-secret-9d2e77")
    logger = logging.getLogger("carewatch")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    try:
        logs.setup("info", secrets=("worker-api-token-5c3a", "abc"))
    finally:  # other tests read carewatch's logs through propagation (caplog)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
    line = _line(_record("a b c connector-secret-9d2e77 worker-api-token-5c3a abc"))
    assert orjson.loads(line)["msg"] == "a b c *** *** abc"
