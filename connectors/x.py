"""The X connector: brand mentions and the brand's replies from X API v2, as events.

Two modes (``CAREWATCH_X_MODE``):

- ``stream``: the filtered stream (``GET /2/tweets/search/stream``) through tweepy's
  :class:`tweepy.StreamingClient`, after syncing the rules of every brand
  (:func:`connectors.x_mapping.stream_rules`; carewatch-tagged rules not wanted are
  deleted, missing ones added, foreign rules left alone);
- ``poll``: for accounts without filtered-stream access, each brand account's mentions
  (``GET /2/users/:id/mentions``) and own posts (``GET /2/users/:id/tweets``), all pages
  since the ``since_id`` checkpoint kept in a JSON file (:mod:`connectors.x_checkpoint`).

Events go to an :class:`EventSink` (the Kafka producer, or a list in tests) and a
stream line is read only after the sink acknowledged the events of the previous one;
a poll's checkpoint moves only after the sink acknowledged all of its events. So
delivery is at least once, and a repeat carries the same ``event_id``.

Reconnects follow X's "handling disconnections" guide: an established connection that
drops (closed, broken, or silent past the read timeout: X sends a ``\\r\\n`` heartbeat
every 20 s) is reopened at once; a failed attempt waits 250 ms more per attempt up to
16 s for network errors, 5 s doubling to 320 s for HTTP errors, and until
``x-rate-limit-reset`` for 429 (else 60 s, doubling). tweepy runs each connection (HTTP,
line framing, keep-alives, read timeout); its own retry loop is switched off (every
callback that ends a connection disconnects), because it ignores ``x-rate-limit-reset``,
sleeps at least 60 s on 429 and cannot be stopped while it sleeps. :class:`Backoff` is
the one schedule, used for the stream and for every REST call.

Each retry and each skipped input is counted in ``carewatch_connector_errors_total``
with ``connector="x"`` and a reason from :data:`REASONS`; ``carewatch_connector_up`` is 1
while the stream is connected (in poll mode: after a poll that succeeded).

This is the only module that imports tweepy. tweepy 4.17 hard-codes
``https://api.twitter.com``; :class:`_ApiBase` (a requests transport adapter mounted on
tweepy's session) sends those requests to ``CAREWATCH_X_API_BASE`` instead (tests: the
local fake X) and notes each response's rate-limit headers. The file is longer than the
usual 300 lines: the issue gives the connector three modules, and the mapping and the
checkpoints are the other two.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
import tweepy
from prometheus_client import CollectorRegistry
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from connectors.x_checkpoint import SinceIds, timeline_key
from connectors.x_mapping import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    BrandAccounts,
    CustomerIds,
    MalformedPost,
    RuleChanges,
    events_from_page,
    events_from_stream_line,
    rule_changes,
    stream_rules,
)
from streams.errors import CarewatchError, ConfigError, InvalidEvent
from streams.events import CareEvent, encode_event
from streams.metrics import ConnectorMetrics

if TYPE_CHECKING:
    from connectors.config import KafkaOptions

log = logging.getLogger("carewatch.connectors.x")
T = TypeVar("T")

CONNECTOR: Final = "x"
X_API: Final = "https://api.twitter.com"  # what tweepy 4.17 addresses
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
_FATAL_STATUS: Final = frozenset({400, 401, 403, 404})


class EventSink(Protocol):
    """Where events go: returns once every event is stored (Kafka acknowledged them)."""

    async def send_all(self, events: Sequence[CareEvent]) -> None: ...


class XConnectorError(CarewatchError):
    """A failure retrying cannot fix (credentials, access level, rules X refuses)."""


class _Stopped(Exception):
    """Raised inside the worker thread to unwind when the connector is stopped."""


# --- settings -------------------------------------------------------------------------

_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_BRAND = re.compile(r"[a-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class XSettings:
    """``CAREWATCH_X_*`` variables (the field name in upper case); see docs/x-connector.md."""

    bearer_token: str = field(default="", repr=False)
    brands: str = ""  # "du=du_care,du_bot;tele2=tele2_ru"
    bot_accounts: str = ""  # handles or id:NNN of the brands' bot accounts
    automation_sources: str = ""  # posting apps ("source") whose replies are automation
    mode: str = "stream"  # stream | poll
    api_base: str = X_API
    read_timeout: float = 21.0  # X's heartbeat is every 20 s
    backfill_minutes: int = 0  # 1-5 where the access level allows it
    poll_interval: float = 60.0
    poll_lookback: float = 3600.0  # a timeline without checkpoint starts this far back
    checkpoint_file: str = ".carewatch/x/since_ids.json"
    metrics_host: str = "127.0.0.1"  # /health and /metrics of `carewatch connect x`
    metrics_port: int = 6069

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> XSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = f"CAREWATCH_X_{f.name.upper()}"
            if var in env:
                values[f.name] = _parse(var, env[var], str(f.type))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.bearer_token.strip():
            raise ConfigError("CAREWATCH_X_BEARER_TOKEN", "required (the app's bearer token)")
        self.brand_handles()
        self.bot_handles()
        if self.mode not in ("stream", "poll"):
            raise ConfigError("CAREWATCH_X_MODE", f"expected stream or poll, got {self.mode!r}")
        if not re.fullmatch(r"https?://[^/\s]+", self.api_base):
            raise ConfigError(
                "CAREWATCH_X_API_BASE", f"expected scheme://host[:port], got {self.api_base!r}"
            )
        for name in ("read_timeout", "poll_interval"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(
                    f"CAREWATCH_X_{name.upper()}", "must be a positive number of seconds"
                )
        if not 0 <= self.poll_lookback < math.inf:
            raise ConfigError("CAREWATCH_X_POLL_LOOKBACK", "must be 0 or more seconds")
        if not 0 <= self.backfill_minutes <= 5:
            raise ConfigError("CAREWATCH_X_BACKFILL_MINUTES", "must be 0 (off) to 5")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError("CAREWATCH_X_METRICS_PORT", "must be a port 0-65535 (0: any)")

    def brand_handles(self) -> dict[str, tuple[str, ...]]:
        """``{brand: handles}``; a handle belongs to one brand."""
        var = "CAREWATCH_X_BRANDS"
        result: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in self.brands.split(";"))):
            brand, sep, listed = part.partition("=")
            handles = [h.strip() for h in listed.split(",") if h.strip()]
            if not sep or not _BRAND.fullmatch(brand.strip()) or not handles:
                raise ConfigError(var, f"expected brand=handle[,handle...][;...], got {part!r}")
            brand = brand.strip()
            for handle in handles:
                match = _HANDLE.fullmatch(handle)
                if match is None:
                    raise ConfigError(var, f"not an X handle: {handle!r}")
                if owner.setdefault(match.group(1).lower(), brand) != brand:
                    raise ConfigError(var, f"handle {handle!r} is given for two brands")
            result[brand] = tuple(_HANDLE.fullmatch(h).group(1) for h in handles)  # type: ignore[union-attr]
        if not result:
            raise ConfigError(var, "name at least one brand and its handles")
        return result

    def bot_handles(self) -> tuple[frozenset[str], frozenset[str]]:
        """``(handles, ids)`` of the bot accounts; each handle must be a brand's handle."""
        known = {h.lower() for hs in self.brand_handles().values() for h in hs}
        handles: set[str] = set()
        ids: set[str] = set()
        for item in filter(None, (i.strip() for i in self.bot_accounts.split(","))):
            if item.startswith("id:") and item[3:].isdigit():
                ids.add(item[3:])
            elif (m := _HANDLE.fullmatch(item)) and m.group(1).lower() in known:
                handles.add(m.group(1).lower())
            else:
                raise ConfigError(
                    "CAREWATCH_X_BOT_ACCOUNTS",
                    f"{item!r}: not one of the brands' handles, nor id:NNN",
                )
        return frozenset(handles), frozenset(ids)


def _parse(var: str, raw: str, kind: str) -> Any:
    try:
        return int(raw) if kind == "int" else float(raw) if kind == "float" else raw
    except ValueError:
        raise ConfigError(var, f"not a number: {raw!r}") from None


# --- tweepy's HTTP --------------------------------------------------------------------


class _ApiBase(HTTPAdapter):
    """Mounted on a tweepy session for ``https://api.twitter.com/``: sends each request to
    ``base`` instead (unchanged when ``base`` is X itself) and keeps the headers of the
    last response, where the stream's 429 carries ``x-rate-limit-reset``."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self.last_headers: Mapping[str, str] = {}
        host = urlsplit(self.base).hostname or ""
        self._loopback = host in ("127.0.0.1", "localhost", "::1")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(X_API):
            request.url = self.base + url[len(X_API) :]
        if self._loopback:  # a proxy from the environment must not see a local fake
            proxies = {}
        response = super().send(request, stream, timeout, verify, cert, proxies)
        self.last_headers = response.headers
        return response


def _point(session: requests.Session, base: str) -> _ApiBase:
    adapter = _ApiBase(base)
    session.mount(X_API + "/", adapter)
    return adapter


def make_client(settings: XSettings) -> Any:
    """A ``tweepy.Client`` returning raw JSON dicts, pointed at ``settings.api_base``.

    ``wait_on_rate_limit`` is off: a 429 raises, and :class:`Retrier` waits and counts it.
    """
    client = tweepy.Client(settings.bearer_token, return_type=dict, wait_on_rate_limit=False)
    _point(client.session, settings.api_base)
    return client


# --- backoff ----------------------------------------------------------------------------


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

    Each retry is counted; 400/401/403/404 raise :class:`XConnectorError`. :meth:`stop`
    ends a wait at once (the call then raises :class:`_Stopped`).
    """

    def __init__(self, metrics: ConnectorMetrics, policy: BackoffPolicy) -> None:
        self.metrics = metrics
        self.policy = policy
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def call(self, what: str, request: Callable[[], T]) -> T:
        backoff = Backoff(self.policy)
        while True:
            if self.stopping.is_set():
                raise _Stopped
            reset_at: float | None = None
            try:
                return request()
            except tweepy.TooManyRequests as exc:
                reason, reset_at = "rate_limited", exc.reset_time
            except tweepy.TwitterServerError:
                reason = "server_error"
            except (
                tweepy.BadRequest,
                tweepy.Unauthorized,
                tweepy.Forbidden,
                tweepy.NotFound,
            ) as exc:
                self.metrics.error("client_error")
                raise XConnectorError(f"{what}: {exc}") from None
            except (tweepy.HTTPException, requests.exceptions.JSONDecodeError):
                reason = "http_error"  # another status, or a body that is not JSON
            except requests.RequestException:  # refused, reset, timed out, cut short
                reason = "connection_error"
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
                raise _Stopped


async def deliver(sink: EventSink, events: Sequence[CareEvent], policy: BackoffPolicy) -> None:
    """Send until the sink acknowledges, pausing after each failure per :class:`Backoff`
    (or longer, when the failure says ``retry_after``, as the producer's KafkaUnavailable
    does). The sink counts its failures and the events it wrote; an event the contract
    refuses (InvalidEvent) is a bug here, not a passing failure, and is raised."""
    backoff = Backoff(policy)
    while True:
        try:
            await sink.send_all(events)
            return
        except InvalidEvent:
            raise
        except (CarewatchError, OSError) as exc:
            hint = getattr(exc, "retry_after", 0.0)
            wait = max(backoff.after("sink"), hint if isinstance(hint, float | int) else 0.0)
            log.warning(
                "sink failed: %s; retrying in %.2f s",
                type(exc).__name__,
                wait,
                extra={"events": len(events), "wait": wait},
            )
            await asyncio.sleep(wait)


def checked(events: Iterable[CareEvent], metrics: ConnectorMetrics) -> list[CareEvent]:
    """The events the contract accepts; any other is counted as ``malformed`` and dropped
    here, with the stream's reason, rather than in the dead-letter topic."""
    valid = []
    for event in events:
        try:
            encode_event(event)
        except InvalidEvent as exc:
            metrics.error("malformed")
            log.warning(
                "X post skipped: %s",
                exc.reason,
                extra={"reason": "malformed", "event_id": event.event_id, "field": exc.field},
            )
        else:
            valid.append(event)
    return valid


# --- accounts ---------------------------------------------------------------------------


def resolve_brands(client: Any, settings: XSettings, retrier: Retrier) -> list[BrandAccounts]:
    """Look up the user id of every configured handle (``GET /2/users/by``, 100 at a time)."""
    handles = settings.brand_handles()
    listed = [h for hs in handles.values() for h in hs]
    ids: dict[str, str] = {}
    for start in range(0, len(listed), 100):
        chunk = listed[start : start + 100]
        lookup = functools.partial(client.get_users, usernames=chunk, user_fields=["username"])
        doc = retrier.call("GET /2/users/by", lookup)
        for user in doc.get("data") or ():
            ids[str(user["username"]).lower()] = str(user["id"])
    missing = [h for h in listed if h.lower() not in ids]
    if missing:
        raise ConfigError("CAREWATCH_X_BRANDS", f"no X account for {', '.join(missing)}")
    bot_handles, bot_ids = settings.bot_handles()
    every_id = set(ids.values())
    if not bot_ids <= every_id:
        unknown = ", ".join(sorted(bot_ids - every_id))
        raise ConfigError(
            "CAREWATCH_X_BOT_ACCOUNTS", f"id:{unknown} is none of the brands' accounts"
        )
    bots = bot_ids | {ids[h] for h in bot_handles}
    sources = frozenset(s.strip() for s in settings.automation_sources.split(",") if s.strip())
    brands = []
    for brand, hs in handles.items():
        account_ids = frozenset(ids[h.lower()] for h in hs)
        brands.append(BrandAccounts(brand, hs, account_ids, account_ids & bots, sources))
    return brands


# --- the filtered stream ----------------------------------------------------------------


@dataclass(slots=True)
class _Connection:
    """How one stream connection went."""

    connected: bool = False
    lines: int = 0  # posts, other messages and heartbeats received
    reason: str | None = None
    status: int | None = None
    reset_at: float | None = None
    error: BaseException | None = None


class _StreamClient(tweepy.StreamingClient):  # type: ignore[misc]  # tweepy is untyped
    """tweepy's client for exactly one connection per :meth:`connect_once`."""

    def __init__(
        self, settings: XSettings, on_line: Callable[[bytes], None], on_up: Callable[[bool], None]
    ) -> None:
        super().__init__(
            settings.bearer_token, return_type=dict, wait_on_rate_limit=False, max_retries=0
        )
        self.read_timeout = settings.read_timeout
        self.adapter = _point(self.session, settings.api_base)
        self._on_line = on_line
        self._on_up = on_up
        self.current = _Connection()

    def connect_once(self, params: Mapping[str, Any]) -> _Connection:
        self.current = _Connection()
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


class XStream:
    """Filtered stream: rules synced at start, then connected until stopped.

    tweepy blocks, so it runs in a thread of its own; events are handed to the sink on
    the event loop of :meth:`run`, and the thread waits for the acknowledgement.
    """

    def __init__(
        self,
        settings: XSettings,
        brands: Sequence[BrandAccounts],
        sink: EventSink,
        metrics: ConnectorMetrics,
        *,
        policy: BackoffPolicy | None = None,
        customer_ids: CustomerIds = str,
    ) -> None:
        self.brands = list(brands)
        self.sink = sink
        self.metrics = metrics
        self.policy = policy or BackoffPolicy()
        self.customer_ids = customer_ids
        self.retrier = Retrier(metrics, self.policy)
        self.client = _StreamClient(settings, self._on_line, metrics.up)
        self.params: dict[str, Any] = {
            "expansions": list(EXPANSIONS),
            "tweet_fields": list(TWEET_FIELDS),
            "user_fields": list(USER_FIELDS),
        }
        if settings.backfill_minutes:
            self.params["backfill_minutes"] = settings.backfill_minutes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def sync_rules(self) -> RuleChanges:
        return await asyncio.to_thread(self._sync_rules)

    async def run(self) -> None:
        """Sync the rules, then stream until cancelled; raises on a fatal error."""
        loop = self._loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def main() -> None:
            error: BaseException | None = None
            try:
                self._sync_rules()
                self._stream()
            except _Stopped:
                pass
            except BaseException as exc:  # handed to run(), which raises it
                error = exc
            finally:
                self.metrics.up(False)
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(settle, error)

        self._thread = threading.Thread(target=main, name="carewatch-x-stream", daemon=True)
        self._thread.start()
        try:
            await done
        finally:
            self.stop()

    def stop(self) -> None:
        """Ask the thread to end: at once while it waits, else at the next line or heartbeat."""
        self.retrier.stop()
        self.client.disconnect()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _sync_rules(self) -> RuleChanges:
        doc = self.retrier.call("GET stream rules", self.client.get_rules)
        wanted = [rule for brand in self.brands for rule in stream_rules(brand)]
        changes = rule_changes(doc.get("data") or (), wanted)
        if changes.delete:
            ids = list(changes.delete)
            done = self.retrier.call("delete stream rules", lambda: self.client.delete_rules(ids))
            _check_rules_reply(done, "deleted")
        if changes.add:
            rules = [tweepy.StreamRule(value=r.value, tag=r.tag) for r in changes.add]
            done = self.retrier.call("add stream rules", lambda: self.client.add_rules(rules))
            _check_rules_reply(done, "created")
        log.info(
            "X stream rules synced",
            extra={
                "added": len(changes.add),
                "deleted": len(changes.delete),
                "foreign": list(changes.foreign),
            },
        )
        return changes

    def _stream(self) -> None:
        backoff = Backoff(self.policy)
        stopping = self.retrier.stopping
        while not stopping.is_set():
            outcome = self.client.connect_once(self.params)
            if outcome.error is not None:
                raise outcome.error
            if stopping.is_set():
                return
            reason = outcome.reason or "disconnected"
            self.metrics.error(reason)
            if reason == "client_error":
                raise XConnectorError(
                    f"the filtered stream answered HTTP {outcome.status}: check the bearer "
                    "token and the access level (CAREWATCH_X_MODE=poll works without the stream)"
                )
            if outcome.lines:  # a working connection dropped: reconnect at once
                backoff.reset()
                wait = 0.0
            else:
                wait = backoff.after(reason, reset_at=outcome.reset_at, now=time.time())
            log.warning(
                "X stream ended: %s; reconnecting in %.2f s",
                reason,
                wait,
                extra={"reason": reason, "status": outcome.status, "wait": wait},
            )
            if stopping.wait(wait):
                return

    def _on_line(self, raw: bytes) -> None:
        """One non-empty line of the stream (tweepy's thread): map it and deliver."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            self.metrics.error("malformed")
            log.warning(
                "malformed stream line skipped", extra={"reason": "malformed", "bytes": len(raw)}
            )
            return
        if "data" not in doc:  # X may add message types; errors ones are counted
            if "errors" in doc:
                self.metrics.error("stream_message")
                log.warning(
                    "X stream message", extra={"reason": "stream_message", "errors": doc["errors"]}
                )
            return
        try:
            events = events_from_stream_line(
                doc, self.brands, ingested_at=time.time(), customer_ids=self.customer_ids
            )
        except MalformedPost as exc:
            self.metrics.error("malformed")
            log.warning("malformed post skipped: %s", exc, extra={"reason": "malformed"})
            return
        events = checked(events, self.metrics)
        if events:
            self._wait(deliver(self.sink, events, self.policy))

    def _wait(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the event loop and block this thread until it is done."""
        assert self._loop is not None
        if self.retrier.stopping.is_set():
            work.close()
            return
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        while True:
            try:
                future.result(timeout=0.1)
                return
            except TimeoutError:
                if self.retrier.stopping.is_set():
                    future.cancel()
                    return


# --- polling ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetched:
    events: list[CareEvent]
    newest: dict[str, str]  # checkpoint key -> newest post id seen


class XPoller:
    """Polls each brand account's mentions and own posts since the checkpoint.

    Per brand: every page of both timelines of every account is fetched (newest first,
    ``pagination_token`` until X gives none), the events are sent in ``occurred_at``
    order, and only then are the timelines' checkpoints moved to the newest ids.
    """

    def __init__(
        self,
        client: Any,
        brands: Sequence[BrandAccounts],
        sink: EventSink,
        metrics: ConnectorMetrics,
        since_ids: SinceIds,
        *,
        lookback: float = 3600.0,
        policy: BackoffPolicy | None = None,
        customer_ids: CustomerIds = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.brands = list(brands)
        self.sink = sink
        self.metrics = metrics
        self.since_ids = since_ids
        self.lookback = lookback
        self.policy = policy or BackoffPolicy()
        self.customer_ids = customer_ids
        self.clock = clock
        self.retrier = Retrier(metrics, self.policy)

    async def run(self, interval: float) -> None:
        """Poll every ``interval`` seconds until cancelled."""
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(interval)
        finally:
            self.retrier.stop()
            self.metrics.up(False)

    async def poll_once(self) -> int:
        """One round over every brand; returns the number of events sent."""
        sent = 0
        for brand in self.brands:
            fetched = await asyncio.to_thread(self._fetch, brand)
            events = checked(fetched.events, self.metrics)
            if events:
                await deliver(self.sink, events, self.policy)
            self.since_ids.advance(fetched.newest)
            sent += len(events)
        self.metrics.up(True)
        return sent

    def _fetch(self, brand: BrandAccounts) -> _Fetched:
        events: dict[str, CareEvent] = {}
        newest: dict[str, str] = {}
        for account in sorted(brand.account_ids):
            for timeline in ("mentions", "tweets"):
                key = timeline_key(brand.brand, account, timeline)
                hinted = frozenset({brand.brand}) if timeline == "mentions" else frozenset()
                for page in self._pages(account, timeline, self.since_ids.get(key)):
                    found, malformed = events_from_page(
                        page,
                        self.brands,
                        hinted=hinted,
                        ingested_at=self.clock(),
                        customer_ids=self.customer_ids,
                    )
                    for _ in range(malformed):
                        self.metrics.error("malformed")
                    events.update((e.event_id, e) for e in found)
                    top = (page.get("meta") or {}).get("newest_id")
                    if top and int(top) > int(newest.get(key, "0")):
                        newest[key] = str(top)
        ordered = sorted(events.values(), key=lambda e: (e.occurred_at, e.event_id))
        return _Fetched(ordered, newest)

    def _pages(self, account: str, timeline: str, since_id: str | None) -> Iterable[dict[str, Any]]:
        method = (
            self.client.get_users_mentions
            if timeline == "mentions"
            else self.client.get_users_tweets
        )
        params: dict[str, Any] = {
            "max_results": 100,
            "expansions": list(EXPANSIONS),
            "tweet_fields": list(TWEET_FIELDS),
            "user_fields": list(USER_FIELDS),
        }
        if timeline == "tweets":
            params["exclude"] = ["retweets"]
        if since_id is not None:
            params["since_id"] = since_id
        elif self.lookback:
            params["start_time"] = datetime.fromtimestamp(self.clock(), UTC) - timedelta(
                seconds=self.lookback
            )
        token: str | None = None
        while True:
            page_params = dict(params, pagination_token=token) if token else params
            request = functools.partial(method, account, **page_params)
            page: dict[str, Any] = self.retrier.call(f"GET /2/users/:id/{timeline}", request)
            yield page
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return


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
    retrier = Retrier(metrics, policy)
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
            settings, brands, sink, metrics, policy=policy, customer_ids=customer_ids
        ).run()
    else:
        poller = XPoller(
            client,
            brands,
            sink,
            metrics,
            SinceIds(Path(settings.checkpoint_file)),
            lookback=settings.poll_lookback,
            policy=policy,
            customer_ids=customer_ids,
        )
        await poller.run(settings.poll_interval)


def _check_rules_reply(doc: Mapping[str, Any], counted: str) -> None:
    """X answers a rules POST with 200/201 even when some rules were refused."""
    summary = (doc.get("meta") or {}).get("summary") or {}
    every = list(doc.get("errors") or ())
    errors = [e for e in every if e.get("title") != "DuplicateRule"]  # added meanwhile: fine
    refused = int(summary.get(f"not_{counted}", 0)) - (len(every) - len(errors))
    if errors or refused > 0:
        detail = "; ".join(
            f"{e.get('title')}: {e.get('value', '')} {e.get('details', '')}" for e in errors
        )
        raise XConnectorError(f"X refused stream rules ({refused} not {counted}): {detail}")


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
    (:class:`XConnectorError`, :class:`ConfigError`) is raised. On the way out the
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


def run(settings: XSettings, kafka: KafkaOptions) -> int:
    """``carewatch connect x``: serve until SIGTERM or SIGINT."""

    if not logging.getLogger("carewatch").isEnabledFor(logging.DEBUG):
        # tweepy logs each error it hands to the callbacks above, which log it once
        logging.getLogger("tweepy").setLevel(logging.CRITICAL)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, kafka, stop)

    asyncio.run(main())
    return 0
