"""The X connector: brand mentions and the brand's replies from X API v2, as events.

This module is the tweepy glue and the service; the rest of the connector is tweepy-free:

- :mod:`connectors.x_settings`: the ``x:`` YAML section and ``CAREWATCH_X_*`` (:class:`XSettings`);
- :mod:`connectors.x_backoff`: X's retry schedule, and the loop that runs REST calls;
- :mod:`connectors.x_delivery`: handing events to the sink, at least once;
- :mod:`connectors.x_accounts`: the user ids of the brands' handles;
- :mod:`connectors.x_stream`: the filtered stream (``CAREWATCH_X_MODE=stream``);
- :mod:`connectors.x_poll`: the timelines since a checkpoint (``CAREWATCH_X_MODE=poll``);
- :mod:`connectors.x_mapping` and :mod:`connectors.x_checkpoint`: posts to events, and
  the polling checkpoints.

This is the only module that imports tweepy, and it hands the others what they need of
it: the REST client (:func:`make_client`), what its exceptions mean (:func:`rest_failure`)
and the streaming client (:func:`stream_client_factory`). tweepy runs each stream
connection (HTTP, line framing, keep-alives, read timeout); its own retry loop is switched
off (every callback that ends a connection disconnects), because it ignores
``x-rate-limit-reset``, sleeps at least 60 s on 429 and cannot be stopped while it sleeps.
tweepy 4.17 hard-codes ``https://api.twitter.com``; :mod:`connectors.x_api_base` (a requests
transport adapter mounted on tweepy's session) sends those requests to
``CAREWATCH_X_API_BASE`` instead (tests: the local fake X) and notes each response's
rate-limit headers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import requests
import tweepy
from prometheus_client import CollectorRegistry
from urllib3.exceptions import ReadTimeoutError

from connectors.x_accounts import resolve_brands
from connectors.x_api_base import mount_api_base
from connectors.x_backoff import BackoffPolicy, Failure, Retrier
from connectors.x_checkpoint import SinceIds
from connectors.x_delivery import EventSink
from connectors.x_mapping import CustomerIds, StreamRule
from connectors.x_poll import XPoller
from connectors.x_settings import XSettings
from connectors.x_stream import ConnectionOutcome, StreamClientFactory, XStream
from streams.metrics import ConnectorMetrics

if TYPE_CHECKING:
    from connectors.config import KafkaOptions

__all__ = [
    "XSettings",  # streams/cli.py: x.XSettings.load()
    "make_client",
    "rest_failure",
    "run",
    "run_x",
    "serve",
    "stream_client_factory",
]

log = logging.getLogger("carewatch.connectors.x")

CONNECTOR: Final = "x"
_FATAL_STATUS: Final = frozenset({400, 401, 403, 404})


# --- tweepy ----------------------------------------------------------------------------


def make_client(settings: XSettings) -> Any:
    """A ``tweepy.Client`` returning raw JSON dicts, pointed at ``settings.api_base``.

    ``wait_on_rate_limit`` is off: a 429 raises, and :class:`~connectors.x_backoff.Retrier` waits and counts it.
    """
    client = tweepy.Client(settings.bearer_token, return_type=dict, wait_on_rate_limit=False)
    mount_api_base(client.session, settings.api_base)
    return client


def rest_failure(exc: Exception) -> Failure | None:
    """What an exception of a tweepy REST call means (:class:`~connectors.x_backoff.Retrier`)."""
    if isinstance(exc, tweepy.TooManyRequests):
        return "rate_limited", exc.reset_time
    if isinstance(exc, tweepy.TwitterServerError):
        return "server_error", None
    if isinstance(exc, (tweepy.BadRequest, tweepy.Unauthorized, tweepy.Forbidden, tweepy.NotFound)):
        return "client_error", None  # not retried: the connector stops
    if isinstance(exc, (tweepy.HTTPException, requests.exceptions.JSONDecodeError)):
        return "http_error", None  # another status, or a body that is not JSON
    if isinstance(exc, requests.RequestException):  # refused, reset, timed out, cut short
        return "connection_error", None
    return None


# --- the filtered stream ----------------------------------------------------------------


class _StreamClient(tweepy.StreamingClient):  # type: ignore[misc]  # tweepy is untyped
    """tweepy's client for exactly one connection per :meth:`connect_once`."""

    def __init__(
        self, settings: XSettings, on_line: Callable[[bytes], None], on_up: Callable[[bool], None]
    ) -> None:
        super().__init__(
            settings.bearer_token, return_type=dict, wait_on_rate_limit=False, max_retries=0
        )
        self.read_timeout = settings.read_timeout
        self.adapter = mount_api_base(self.session, settings.api_base)
        self._on_line = on_line
        self._on_up = on_up
        self.current = ConnectionOutcome()

    def connect_once(self, params: Mapping[str, Any]) -> ConnectionOutcome:
        self.current = ConnectionOutcome()
        self.filter(**params)
        return self.current

    def _connect(self, method: str, endpoint: str, **kwargs: Any) -> None:
        super()._connect(method, endpoint, timeout=self.read_timeout, **kwargs)

    def on_connect(self) -> None:
        self.current.connected = True
        self._on_up(True)

    def on_data(self, raw_data: bytes) -> None:
        self.current.lines += 1
        self._on_line(raw_data)

    def on_keep_alive(self) -> None:
        self.current.lines += 1

    def on_request_error(self, status_code: int) -> None:
        c = self.current
        c.status = status_code
        if status_code in (420, 429):
            c.reason = "rate_limited"
            reset = self.adapter.last_headers.get("x-rate-limit-reset", "")
            c.reset_at = float(reset) if reset.isdigit() else None
        elif status_code in _FATAL_STATUS:
            c.reason = "client_error"
        else:
            c.reason = "server_error" if status_code >= 500 else "http_error"
        self.disconnect()

    def on_connection_error(self) -> None:
        exc = sys.exception()  # called inside tweepy's except block
        if not self.current.connected:
            self.current.reason = "connection_error"
        elif (
            isinstance(exc, requests.ConnectionError)
            and exc.args
            and isinstance(exc.args[0], ReadTimeoutError)
        ):
            self.current.reason = "stalled"
        else:
            self.current.reason = "disconnected"
        self.disconnect()

    def on_closed(self, response: Any) -> None:
        self.current.reason = "disconnected"
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        self.current.error = exception

    def on_disconnect(self) -> None:
        self._on_up(False)

    def add_stream_rules(self, rules: Sequence[StreamRule]) -> Any:
        """tweepy's ``add_rules`` for carewatch's rules."""
        return self.add_rules([tweepy.StreamRule(value=r.value, tag=r.tag) for r in rules])


def stream_client_factory(settings: XSettings) -> StreamClientFactory:
    """Makes :class:`~connectors.x_stream.XStream`'s client: tweepy's, pointed at
    ``settings.api_base``, one connection per attempt."""
    return functools.partial(_StreamClient, settings)


# --- entry point ------------------------------------------------------------------------


async def run_x(
    settings: XSettings,
    sink: EventSink,
    metrics: ConnectorMetrics,
    *,
    policy: BackoffPolicy | None = None,
    customer_ids: CustomerIds = str,
) -> None:
    """Resolve the brands' accounts, then stream or poll until cancelled."""
    policy = policy or BackoffPolicy()
    client = make_client(settings)
    retrier = Retrier(metrics, policy, rest_failure)
    try:
        brands = await asyncio.to_thread(resolve_brands, client, settings, retrier)
    finally:
        retrier.stop()
    log.info(
        "X connector starting",
        extra={
            "mode": settings.mode,
            "brands": [b.brand for b in brands],
            "api": settings.api_base,
        },
    )
    if settings.mode == "stream":
        await XStream(
            settings,
            brands,
            sink,
            metrics,
            client_factory=stream_client_factory(settings),
            classify=rest_failure,
            policy=policy,
            customer_ids=customer_ids,
        ).run()
    else:
        poller = XPoller(
            client,
            brands,
            sink,
            metrics,
            SinceIds(Path(settings.checkpoint_file)),
            classify=rest_failure,
            lookback=settings.poll_lookback,
            policy=policy,
            customer_ids=customer_ids,
        )
        await poller.run(settings.poll_interval)


# --- the service ----------------------------------------------------------------------


async def serve(
    settings: XSettings,
    kafka: KafkaOptions,
    stop: asyncio.Event,
    *,
    registry: CollectorRegistry | None = None,
    ready: Callable[[int], None] | None = None,
    policy: BackoffPolicy | None = None,
    customer_ids: CustomerIds = str,
) -> None:
    """Run the connector into Kafka through the shared producer, with ``/health`` and
    ``/metrics`` on ``metrics_host:metrics_port``, until ``stop`` is set; a fatal error
    (:class:`~connectors.x_backoff.XConnectorError`, ``ConfigError``) is raised. On the way out the
    producer is flushed and closed."""
    from aiohttp import web

    from connectors.producer import EventProducer, health_routes

    registry = CollectorRegistry() if registry is None else registry
    metrics = ConnectorMetrics(registry, CONNECTOR)
    producer = EventProducer(kafka, metrics)
    app = web.Application()
    app.add_routes(health_routes(producer, registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    connector = asyncio.create_task(
        run_x(settings, producer, metrics, policy=policy, customer_ids=customer_ids)
    )
    stopped = asyncio.create_task(stop.wait())
    try:
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        port = int(runner.addresses[0][1])
        log.info(
            "X connector serving /health and /metrics",
            extra={"host": settings.metrics_host, "port": port, "topic": kafka.topic},
        )
        if ready is not None:
            ready(port)
        await asyncio.wait({connector, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if connector.done():
            connector.result()  # a fatal error
    finally:
        for task in (connector, stopped):
            task.cancel()
        await asyncio.gather(connector, stopped, return_exceptions=True)
        await runner.cleanup()
        await loop.run_in_executor(None, producer.close)
    log.info("X connector stopped")


def run(
    settings: XSettings, kafka: KafkaOptions, ready: Callable[[int], None] | None = None
) -> int:
    """``carewatch connect x``: serve until SIGTERM or SIGINT (``ready`` is called with the
    port of ``/metrics`` once it is served)."""

    if not logging.getLogger("carewatch").isEnabledFor(logging.DEBUG):
        # tweepy logs each error it hands to the callbacks above, which log it once
        logging.getLogger("tweepy").setLevel(logging.CRITICAL)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, kafka, stop, ready=ready)

    asyncio.run(main())
    return 0
