"""The webhook ingest service: HTTP in, ``care.events.v1`` out (``carewatch connect webhook``).

Routes (each only when its source is configured; see ``docs/connectors.md``):

- ``POST /events``: contract events, JSON lines or a JSON array (:mod:`webhook_events`);
- ``GET /meta`` (subscription check) and ``POST /meta``: Meta webhooks (:mod:`webhook_meta`);
- ``POST /chatwoot/{account_id}``: Chatwoot webhooks (:mod:`webhook_helpdesk`);
- ``GET /health``, ``GET /metrics``.

Answers, the same on every route:

- 2xx ``{"accepted": n}`` only after Kafka acknowledged every event of the request
  (``acks=all``): an acknowledged request is never lost;
- 503 with ``Retry-After`` while Kafka cannot take the events (nothing of the request was
  acknowledged; the sender retries, and ``event_id``s derived from the platform's own ids
  make a repeat harmless);
- 400 (payload that cannot be read, or any invalid event: the request is refused whole),
  401/403 (credentials; ``unauthenticated`` or ``stale_timestamp``, :mod:`webhook_auth`), 413 (body over ``webhook.max_body``, refused
  from ``Content-Length`` before reading, or as soon as the read passes the limit);
- an error body is ``{"errors": [{"line", "reason", "detail"}, ...]}`` (at most 100 listed,
  ``more`` counts the rest); ``line`` 0 is the request as a whole.

Logs: one JSON line per request (method, path without the query, status, milliseconds);
aiohttp's access log is off because its request line would carry a URL token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.config import ConnectorConfig
from connectors.producer import (
    ErrorReason,
    EventProducer,
    KafkaUnavailable,
    Record,
    health_routes,
)
from connectors.webhook_auth import (
    Unauthenticated,
    check_bearer,
    check_chatwoot_signature,
    check_meta_signature,
    check_signed,
    check_url_token,
    meta_challenge,
)
from connectors.webhook_events import parse_events
from connectors.webhook_helpdesk import map_chatwoot
from connectors.webhook_meta import map_meta
from connectors.webhook_payloads import PayloadError, Rejected, Rejection, encode_all, load_json
from streams.metrics import ConnectorMetrics

log = logging.getLogger("carewatch.connectors.webhook")

MAX_LISTED: Final = 100
CONNECTOR: Final = "webhook"  # the connector label of its series
_QUIET_PATHS: Final = frozenset({"/health", "/metrics"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTooLarge(Exception):
    """The request body is over ``webhook.max_body``."""


class Ingest:
    """The handlers; each authenticates, reads a bounded body, maps, then awaits the acks."""

    def __init__(
        self,
        config: ConnectorConfig,
        producer: EventProducer,
        metrics: ConnectorMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.producer = producer
        self.metrics = metrics
        self.clock = clock

    async def events(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        if authorization is not None:  # refused before the body is read
            check_bearer(authorization, self.config.events.tokens)
        body = await self._body(request)
        now = self.clock()
        if authorization is None:
            secret, window = self.config.events.hmac_secret, self.config.webhook.signature_window
            check_signed(request.headers, body, secret, window, now)
        return await self._send(parse_events(body, now))

    async def meta_verify(self, request: web.Request) -> web.Response:
        assert self.config.meta.verify_token is not None  # the route exists only then
        return web.Response(text=meta_challenge(request.query, self.config.meta.verify_token))

    async def meta(self, request: web.Request) -> web.Response:
        assert self.config.meta.app_secret is not None
        body = await self._body(request)
        check_meta_signature(request.headers, body, self.config.meta.app_secret)
        batch = map_meta(load_json(body), self.config.meta, self.clock())
        for account in sorted(batch.unknown_accounts):
            self.metrics.error(ErrorReason.UNKNOWN_ACCOUNT)
            log.warning("meta entry for an account with no brand", extra={"account": account})
        return await self._send(encode_all((0, event) for event in batch.events))

    async def chatwoot(self, request: web.Request) -> web.Response:
        options = self.config.chatwoot
        if options.token is not None:  # refused before the body is read
            check_url_token(request.query, request.headers, options.token)
        account = request.match_info["account"]
        brand = options.accounts.get(account)
        if brand is None:
            self.metrics.error(ErrorReason.UNKNOWN_ACCOUNT)
            return _errors(404, [Rejection(0, "unknown_account", "no brand for this account")])
        body = await self._body(request)
        if options.webhook_secret is not None:
            window = self.config.webhook.signature_window
            check_chatwoot_signature(
                request.headers, body, options.webhook_secret, window, self.clock()
            )
        events = map_chatwoot(load_json(body), account, brand, self.clock())
        return await self._send(encode_all((0, event) for event in events))

    async def _body(self, request: web.Request) -> bytes:
        limit = self.config.webhook.max_body
        if request.content_length is not None and request.content_length > limit:
            raise BodyTooLarge
        try:
            return await request.read()  # aiohttp stops at client_max_size (= the limit)
        except web.HTTPRequestEntityTooLarge:
            raise BodyTooLarge from None

    async def _send(self, records: Sequence[Record]) -> web.Response:
        await self.producer.send_records(records)
        return web.json_response({"accepted": len(records)})


def _errors(status: int, rejections: Sequence[Rejection], **headers: str) -> web.Response:
    body: dict[str, object] = {"errors": [r.to_json() for r in rejections[:MAX_LISTED]]}
    if len(rejections) > MAX_LISTED:
        body["more"] = len(rejections) - MAX_LISTED
    return web.json_response(body, status=status, headers=headers or None)


def _answers(
    metrics: ConnectorMetrics, max_body: int
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Turns each refusal into its status and error body, counts it, and logs the request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        response: web.StreamResponse
        try:
            response = await handler(request)
        except Unauthenticated as exc:
            metrics.error(ErrorReason(exc.reason))
            response = _errors(exc.status, [Rejection(0, exc.reason, exc.detail)])
        except BodyTooLarge:
            metrics.error(ErrorReason.TOO_LARGE)
            detail = f"the body is over {max_body} bytes"
            response = _errors(413, [Rejection(0, "too_large", detail)])
        except Rejected as exc:
            metrics.error(ErrorReason.INVALID_EVENT)
            response = _errors(400, exc.rejections)
        except PayloadError as exc:
            metrics.error(ErrorReason.BAD_REQUEST)
            response = _errors(400, [Rejection(0, exc.reason, exc.detail)])
        except KafkaUnavailable as exc:
            retry = str(max(1, math.ceil(exc.retry_after)))
            rejection = Rejection(0, "kafka_unavailable", exc.detail)
            response = _errors(503, [rejection], **{"Retry-After": retry})
        except web.HTTPException as exc:  # 404, 405 from the router
            _log(request, exc.status, started)
            raise
        _log(request, response.status, started)
        return response

    return middleware


def _log(request: web.Request, status: int, started: float) -> None:
    level = logging.DEBUG if request.path in _QUIET_PATHS and status < 400 else logging.INFO
    extra = {
        "method": request.method,
        "path": request.path,  # never the query: it may carry a token
        "status": status,
        "ms": round((time.monotonic() - started) * 1000, 1),
    }
    log.log(level, "request", extra=extra)


def build_app(
    config: ConnectorConfig,
    producer: EventProducer,
    registry: CollectorRegistry,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    max_body = config.webhook.max_body
    app = web.Application(
        client_max_size=max_body, middlewares=[_answers(producer.metrics, max_body)]
    )
    ingest = Ingest(config, producer, producer.metrics, clock)
    if config.events.enabled:
        app.router.add_post("/events", ingest.events)
    if config.meta.enabled:
        app.router.add_get("/meta", ingest.meta_verify)
        app.router.add_post("/meta", ingest.meta)
    if config.chatwoot.enabled:
        app.router.add_post("/chatwoot/{account}", ingest.chatwoot)
    app.add_routes(health_routes(producer, registry))
    return app


async def serve(
    config: ConnectorConfig,
    stop: asyncio.Event,
    registry: CollectorRegistry | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; then stop accepting, let requests in flight finish
    (each is bounded by ``kafka.ack_timeout``), flush the producer and close it."""
    config.require_webhook_sources()
    registry = CollectorRegistry() if registry is None else registry
    producer = EventProducer(config.kafka, ConnectorMetrics(registry, CONNECTOR))
    app = build_app(config, producer, registry)
    shutdown = config.kafka.ack_timeout + 5.0
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown)
    await runner.setup()
    loop = asyncio.get_running_loop()
    try:
        site = web.TCPSite(runner, config.webhook.host, config.webhook.port)
        await site.start()
        port = int(runner.addresses[0][1])
        log.info(
            "webhook listening",
            extra={
                "host": config.webhook.host,
                "port": port,
                "routes": _route_names(app),
                "topic": config.kafka.topic,
                "bootstrap": config.kafka.bootstrap,
            },
        )
        loop.run_in_executor(None, _warm_up, producer)
        if ready is not None:
            ready(port)
        await stop.wait()
        log.info("webhook stopping: finishing requests in flight, then flushing")
    finally:
        await runner.cleanup()
        await loop.run_in_executor(None, producer.close)
    log.info("webhook stopped")


def _warm_up(producer: EventProducer) -> None:
    """Connect ahead of the first request; a failure is logged and retried on demand."""
    with contextlib.suppress(KafkaUnavailable):
        producer.connect()


def _route_names(app: web.Application) -> list[str]:
    names: Iterable[str] = (
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    )
    return sorted(names)


def run(config: ConnectorConfig, ready: Callable[[int], None] | None = None) -> int:
    """The CLI's entry: serve until SIGTERM or SIGINT, then shut down as :func:`serve` says
    (``ready`` is called with the bound port once requests are accepted)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop, ready=ready)

    asyncio.run(main())
    return 0
