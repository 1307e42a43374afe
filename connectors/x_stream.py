"""The filtered stream (``GET /2/tweets/search/stream``): rules synced, then connected
until stopped, reconnecting per X's "handling disconnections" guide.

At start the rules of every brand (:func:`connectors.x_mapping.stream_rules`) are synced:
carewatch-tagged rules not wanted are deleted, missing ones added, foreign rules left
alone. Then one connection after another: an established connection that drops (closed,
broken, or silent past the read timeout: X sends a ``\\r\\n`` heartbeat every 20 s) is
reopened at once; a failed attempt waits per :class:`~connectors.x_backoff.Backoff`.
A line is read only after the sink acknowledged the events of the previous one.

No tweepy here: the client (:class:`StreamClient`, tweepy's ``StreamingClient`` for one
connection per attempt) and what a REST call's exception means are handed in by
:mod:`connectors.x`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from connectors.x_backoff import (
    Backoff,
    BackoffPolicy,
    Classify,
    Retrier,
    Stopped,
    XConnectorError,
)
from connectors.x_delivery import EventSink, checked, deliver
from connectors.x_mapping import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    BrandAccounts,
    CustomerIds,
    MalformedPost,
    RuleChanges,
    StreamRule,
    events_from_stream_line,
    rule_changes,
    stream_rules,
)
from connectors.x_settings import XSettings
from streams.metrics import ConnectorMetrics

log = logging.getLogger("carewatch.connectors.x")  # one logger for the whole connector


@dataclass(slots=True)
class ConnectionOutcome:
    """How one stream connection went."""

    connected: bool = False
    lines: int = 0  # posts, other messages and heartbeats received
    reason: str | None = None
    status: int | None = None
    reset_at: float | None = None
    error: BaseException | None = None


class StreamClient(Protocol):
    """What :class:`XStream` needs of its client (``connectors.x``: tweepy's)."""

    def connect_once(self, params: Mapping[str, Any]) -> ConnectionOutcome:
        """One connection, until it ends; blocks. Ended by :meth:`disconnect` too."""

    def disconnect(self) -> None: ...

    def get_rules(self) -> Any: ...

    def delete_rules(self, ids: list[str]) -> Any: ...

    def add_stream_rules(self, rules: Sequence[StreamRule]) -> Any: ...


StreamClientFactory = Callable[[Callable[[bytes], None], Callable[[bool], None]], StreamClient]
"""Makes the client, given what to call with each non-empty line and with whether the
stream is connected."""


class XStream:
    """Filtered stream: rules synced at start, then connected until stopped.

    tweepy blocks, so it runs in a thread of its own; events are handed to the sink on
    the event loop of :meth:`run`, and the thread waits for the acknowledgement.
    ``client_factory`` makes the client (``connectors.x.stream_client_factory``);
    ``classify`` reads a failed rules call (``connectors.x.rest_failure``).
    """

    def __init__(
        self,
        settings: XSettings,
        brands: Sequence[BrandAccounts],
        sink: EventSink,
        metrics: ConnectorMetrics,
        *,
        client_factory: StreamClientFactory,
        classify: Classify,
        policy: BackoffPolicy | None = None,
        customer_ids: CustomerIds = str,
    ) -> None:
        self.brands = list(brands)
        self.sink = sink
        self.metrics = metrics
        self.policy = policy or BackoffPolicy()
        self.customer_ids = customer_ids
        self.retrier = Retrier(metrics, self.policy, classify)
        self.client = client_factory(self._on_line, metrics.up)
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
            except Stopped:
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
            rules = changes.add
            done = self.retrier.call(
                "add stream rules", lambda: self.client.add_stream_rules(rules)
            )
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
