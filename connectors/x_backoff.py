"""The X connector's one retry schedule, and the loop that runs X's REST calls with it.

X's guide ("Handling disconnections", filtered stream; "Rate limits"): a failed attempt
waits 250 ms more per attempt up to 16 s for network errors, 5 s doubling to 320 s for
HTTP errors, and until ``x-rate-limit-reset`` for 429 (else 60 s, doubling to 15 min).
:class:`Backoff` is that schedule (plus the sink's, 0.5 s doubling to 30 s), used for the
stream (:mod:`connectors.x_stream`), for every REST call (:class:`Retrier`) and for the
sink (:func:`connectors.x_delivery.deliver`).

No tweepy here: what a failed call's exception means (:data:`Classify`) is handed in by
:mod:`connectors.x`, the only module that knows tweepy's exceptions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from streams.errors import CarewatchError
from streams.metrics import ConnectorMetrics

log = logging.getLogger("carewatch.connectors.x")  # one logger for the whole connector
T = TypeVar("T")

REASONS: Final = (
    "rate_limited",  # HTTP 429: waits until x-rate-limit-reset
    "server_error",  # HTTP 5xx
    "http_error",  # another retryable HTTP status
    "client_error",  # HTTP 400/401/403/404: not retried, the connector stops
    "connection_error",  # no connection (TCP, TLS, DNS, timeout before the response)
    "stalled",  # connected, then nothing, not even a heartbeat, within the read timeout
    "disconnected",  # connected, then closed or broken by the other side
    "stream_message",  # X sent an error object in the stream (e.g. operational-disconnect)
    "malformed",  # a stream line or post that cannot be read; skipped
)
"""The ``reason`` label values the X side counts in ``carewatch_connector_errors_total``
(``connector="x"``). The sink counts its own: the producer adds ``kafka_unavailable``
and ``buffer_full`` under the same connector, and ``carewatch_connector_events_total``."""

Failure = tuple[str, float | None]
"""A failed call: its reason (one of :data:`REASONS`) and, for ``rate_limited``, X's
``x-rate-limit-reset`` (epoch seconds) when X sent it."""

Classify = Callable[[Exception], Failure | None]
"""What an exception of a call means; None when it is no failure of X or of the way
there, and so is raised as it is. A ``client_error`` is not retried."""


class XConnectorError(CarewatchError):
    """A failure retrying cannot fix (credentials, access level, rules X refuses)."""


class Stopped(Exception):
    """Raised inside the worker thread to unwind when the connector is stopped."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """X's documented reconnect schedule (seconds); tests shrink it."""

    network_step: float = 0.25  # linear: +250 ms per attempt ...
    network_max: float = 16.0  # ... up to 16 s
    http_first: float = 5.0  # exponential: 5 s, doubling ...
    http_max: float = 320.0  # ... up to 320 s
    rate_limit_first: float = 60.0  # 429 without x-rate-limit-reset: 1 min, doubling ...
    rate_limit_max: float = 900.0  # ... up to one 15-minute window
    reset_margin: float = 1.0  # added to x-rate-limit-reset (whole seconds, clocks differ)
    sink_first: float = 0.5  # the sink failed: 0.5 s, doubling ...
    sink_max: float = 30.0  # ... up to 30 s


class Backoff:
    """How long to wait before the next attempt, per kind of failure; :meth:`reset` after
    a success. Not thread-safe: one per loop."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self._attempts: dict[str, int] = {}

    def reset(self) -> None:
        self._attempts.clear()

    def after(self, reason: str, *, reset_at: float | None = None, now: float = 0.0) -> float:
        """``reason`` is one of :data:`REASONS` (``sink`` for the sink's failures); ``now``
        and ``reset_at`` are wall-clock seconds (``x-rate-limit-reset`` is epoch seconds)."""
        p = self.policy
        if reason == "rate_limited" and reset_at is not None:
            return min(max(0.0, reset_at - now) + p.reset_margin, 86_400.0)
        family = {"rate_limited": "limit", "server_error": "http", "http_error": "http"}.get(
            reason, "sink" if reason == "sink" else "network"
        )
        n = self._attempts.get(family, 0)
        self._attempts[family] = n + 1
        if family == "network":
            return min(p.network_step * (n + 1), p.network_max)
        first, most = {
            "limit": (p.rate_limit_first, p.rate_limit_max),
            "http": (p.http_first, p.http_max),
            "sink": (p.sink_first, p.sink_max),
        }[family]
        return float(min(first * 2**n, most))


class Retrier:
    """Runs blocking X REST calls (in a worker thread), retrying per :class:`Backoff`.

    ``classify`` tells what a call's exception means (``connectors.x.rest_failure`` for
    tweepy's). Each retry is counted; a ``client_error`` (400/401/403/404) raises
    :class:`XConnectorError`. :meth:`stop` ends a wait at once (the call then raises
    :class:`Stopped`).
    """

    def __init__(
        self, metrics: ConnectorMetrics, policy: BackoffPolicy, classify: Classify
    ) -> None:
        self.metrics = metrics
        self.policy = policy
        self.classify = classify
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def call(self, what: str, request: Callable[[], T]) -> T:
        backoff = Backoff(self.policy)
        while True:
            if self.stopping.is_set():
                raise Stopped
            try:
                return request()
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
                reason, reset_at = failure
                if reason == "client_error":
                    self.metrics.error("client_error")
                    raise XConnectorError(f"{what}: {exc}") from None
            self.metrics.error(reason)
            self.metrics.up(False)
            wait = backoff.after(reason, reset_at=reset_at, now=time.time())
            log.warning(
                "X %s failed: %s; retrying in %.2f s",
                what,
                reason,
                wait,
                extra={"reason": reason, "wait": wait},
            )
            if self.stopping.wait(wait):
                raise Stopped
