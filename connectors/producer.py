"""The producer every connector writes through, and the connectors' /health and /metrics.

Delivery: the Kafka producer is idempotent (``enable_idempotence``, ``acks="all"``), so
its own retries never duplicate a record; each record is keyed by its case key.
:meth:`EventProducer.send_all` returns only once the broker acknowledged every record,
and raises :class:`KafkaUnavailable` when that does not happen within
``kafka.ack_timeout`` (every record of the call then failed or expired in the producer:
kafka-python's ``delivery_timeout_ms`` is set to the same bound). A caller that saw the
exception may send the same events again; a record whose ack was lost in transit can
then reach the topic twice, which the stream drops by ``event_id``.

Privacy: with ``kafka.pseudonymise_key`` set, :meth:`EventProducer.submit` (which every
record of every connector goes through) re-encodes each record with its customer id
replaced by a keyed pseudonym (:mod:`connectors.pseudonym`) and keys it by the new case
key, so no raw customer id reaches Kafka whatever the connector.

Back-pressure: at most ``kafka.max_pending`` records are sent and not yet acknowledged
(a counted condition, because kafka-python 3's accumulator has no memory bound of its own); a
sender waits for a slot at most ``kafka.ack_timeout`` and then gets KafkaUnavailable.

Failures: transport errors inside the client are retried by kafka-python (reconnects
back off exponentially up to 1 s). A call that still fails starts a pause that doubles
after each further failure up to ``kafka.backoff_max``; during it calls fail at once
with ``retry_after``, so an outage costs the webhook's senders no waiting.

Blocking: kafka-python is synchronous. The async API runs every call that can block
(connecting, waiting for a slot or for metadata) in a small thread pool and waits for
acks through callbacks, so it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

from aiohttp import web
from kafka import KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry, generate_latest

from connectors.config import KafkaOptions
from connectors.pseudonym import Pseudonymiser
from streams.errors import CarewatchError
from streams.events import CareEvent, decode_event, encode_event
from streams.metrics import ConnectorMetrics

log = logging.getLogger("carewatch.connectors.producer")

EXPOSITION_TYPE: Final = "text/plain; version=0.0.4"  # aiohttp adds the charset itself
_ACK_GRACE: Final = 2.0  # seconds beyond delivery_timeout_ms for the producer's own expiry


class ErrorReason(StrEnum):
    """The fixed values of ``carewatch_connector_errors_total{reason}``."""

    KAFKA_UNAVAILABLE = "kafka_unavailable"  # no ack in time, or no connection
    BUFFER_FULL = "buffer_full"  # max_pending records await acks
    INVALID_EVENT = "invalid_event"  # an event the contract refuses
    UNAUTHENTICATED = "unauthenticated"  # missing or wrong token or signature
    STALE_TIMESTAMP = "stale_timestamp"  # a right signature of a timestamp outside the window
    BAD_REQUEST = "bad_request"  # a payload that cannot be read
    TOO_LARGE = "too_large"  # a body over the limit
    UNKNOWN_ACCOUNT = "unknown_account"  # a page or account no brand is configured for


class KafkaUnavailable(CarewatchError):
    """Kafka did not acknowledge in time; ``retry_after`` seconds is a fair pause."""

    def __init__(self, detail: str, retry_after: float) -> None:
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message for ``care.events.v1``; ``platform`` is its metric label."""

    key: bytes
    value: bytes
    platform: str

    @classmethod
    def of(cls, event: CareEvent) -> Record:
        """Encoded with :func:`encode_event`, which raises InvalidEvent for a broken event."""
        return cls(event.case_key.encode(), encode_event(event), event.platform)


class Backoff:
    """Exponential pause after failures: ``initial``, doubling, capped at ``maximum``."""

    def __init__(
        self, maximum: float, initial: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.maximum, self.initial, self.clock = maximum, initial, clock
        self.failures = 0
        self.until = 0.0

    def failed(self) -> float:
        delay = min(self.maximum, self.initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        self.until = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.until = 0, 0.0

    def remaining(self) -> float:
        return max(0.0, self.until - self.clock())


class EventProducer:
    """Thread-safe; one per process. See the module docstring for what each call promises."""

    def __init__(self, options: KafkaOptions, metrics: ConnectorMetrics) -> None:
        self.options = options
        self.metrics = metrics
        self._lock = threading.Lock()  # the client
        self._room = threading.Condition()  # the pending count, and who waits for room
        self._state_lock = threading.Lock()  # backoff and state
        self._producer: KafkaProducer | None = None
        self._backoff = Backoff(options.backoff_max)
        self._state = "unknown"
        self.pending = 0
        self.peak_pending = 0  # the most records ever awaiting acks at once
        self._executor = ThreadPoolExecutor(8, thread_name_prefix="carewatch-producer")
        key = options.pseudonymise_key
        self.pseudonymiser = Pseudonymiser(key) if key is not None else None

    def _kafka_config(self) -> dict[str, Any]:
        ack_ms = int(self.options.ack_timeout * 1000)
        linger = min(self.options.linger_ms, ack_ms // 4)
        return {
            "bootstrap_servers": self.options.bootstrap.split(","),
            "client_id": f"carewatch-{self.metrics.connector}",
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": linger,
            "batch_size": 256 * 1024,
            "delivery_timeout_ms": ack_ms,
            "request_timeout_ms": max(100, ack_ms - linger - 100),
            "max_block_ms": ack_ms,
            "bootstrap_timeout_ms": ack_ms,
            "reconnect_backoff_max_ms": 1000,
            **self.options.client_config(),  # SASL and TLS (streams/security.py)
        }

    def connect(self) -> KafkaProducer:
        """The client, created on first use (blocking, bounded by ``ack_timeout``)."""
        with self._lock:
            if self._producer is not None:
                return self._producer
            self._refuse_while_backing_off()
            try:
                producer = KafkaProducer(**self._kafka_config())
                producer.partitions_for(self.options.topic)  # the topic must exist
            except (KafkaError, OSError) as exc:
                detail = f"cannot reach Kafka at {self.options.bootstrap}: {exc}"
                raise self._failed(detail) from None
            self._producer = producer
        self._succeeded()
        return producer

    def submit(self, record: Record, delivery: Delivery | None = None) -> None:
        """Send one record; ``delivery`` hears its ack or failure (on the sender thread).

        Blocks while ``max_pending`` records await acks, at most ``ack_timeout``, then
        raises KafkaUnavailable (nothing of this record was sent)."""
        producer = self._producer or self.connect()  # no lock once connected
        if self.pseudonymiser is not None:  # every record of every connector passes here
            record = Record.of(self.pseudonymiser.event(decode_event(record.value)))
        bound = self.options.max_pending
        with self._room:
            if self.pending >= bound and not self._room.wait_for(
                lambda: self.pending < bound, self.options.ack_timeout
            ):
                self.metrics.error(ErrorReason.BUFFER_FULL)
                raise KafkaUnavailable(f"{bound} records still await acks", retry_after=1.0)
            self.pending += 1
            self.peak_pending = max(self.peak_pending, self.pending)
        try:
            future = producer.send(self.options.topic, key=record.key, value=record.value)
        except KafkaError as exc:  # no metadata within max_block_ms, or closed
            self._release()
            raise self._failed(f"Kafka refused a send: {exc}") from None
        platform = record.platform

        def acked(_metadata: object) -> None:
            self._release()
            self.metrics.wrote(platform)
            if delivery is not None:
                delivery.ack()

        def undelivered(exc: BaseException) -> None:
            self._release()
            if delivery is not None:
                delivery.fail(exc)

        future.add_callback(acked)
        future.add_errback(undelivered)

    def _release(self) -> None:
        with self._room:
            self.pending -= 1
            self._room.notify()

    async def send_all(self, events: Sequence[CareEvent]) -> None:
        """Encode (InvalidEvent for a broken event, before anything is sent) and send."""
        await self.send_records([Record.of(event) for event in events])

    async def send_records(self, records: Sequence[Record]) -> None:
        """Return once the broker acknowledged every record; else raise KafkaUnavailable."""
        if not records:
            return
        self._refuse_while_backing_off()
        loop = asyncio.get_running_loop()
        acks = _AckGroup(loop, len(records))
        try:
            await loop.run_in_executor(self._executor, self._submit_all, records, acks)
        except BaseException:
            acks.done.cancel()  # records already sent may still be acked: nobody waits
            raise
        try:
            await asyncio.wait_for(acks.done, self.options.ack_timeout + _ACK_GRACE)
        except TimeoutError:
            raise self._failed(f"no ack within {self.options.ack_timeout:g} s") from None
        except KafkaError as exc:
            raise self._failed(f"not acknowledged: {exc}") from None
        self._succeeded()

    def _submit_all(self, records: Sequence[Record], acks: _AckGroup) -> None:
        for record in records:
            self.submit(record, acks)

    def _refuse_while_backing_off(self) -> None:
        with self._state_lock:
            wait = self._backoff.remaining()
        if wait > 0:
            raise KafkaUnavailable(f"Kafka unavailable; next attempt in {wait:.1f} s", wait)

    def _failed(self, detail: str) -> KafkaUnavailable:
        self.metrics.error(ErrorReason.KAFKA_UNAVAILABLE)
        self.metrics.up(False)
        with self._state_lock:
            delay = self._backoff.failed()
            self._state = "down"
        log.warning("kafka unavailable", extra={"detail": detail, "retry_in": delay})
        return KafkaUnavailable(detail, delay)

    def _succeeded(self) -> None:
        with self._state_lock:
            was, self._state = self._state, "up"
            self._backoff.succeeded()
        if was != "up":
            log.info("kafka available", extra={"bootstrap": self.options.bootstrap})
        self.metrics.up(True)

    def health(self) -> dict[str, object]:
        return {
            "connector": self.metrics.connector,
            "kafka": self._state,
            "retry_in": round(self._backoff.remaining(), 3),
            "pending": self.pending,
            "max_pending": self.options.max_pending,
        }

    def flush(self, timeout: float | None = None) -> None:
        """Block until every record sent so far is acknowledged or failed."""
        if self._producer is not None:
            self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded by ``timeout``, default ``ack_timeout``), then close the client."""
        timeout = self.options.ack_timeout if timeout is None else timeout
        self._executor.shutdown(wait=True)
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.flush(timeout=timeout)
            except KafkaError as exc:
                log.warning("flush on close incomplete", extra={"detail": str(exc)})
            producer.close(timeout=timeout)
        self.metrics.up(False)


class Delivery(Protocol):
    """Told, on kafka-python's sender thread, how each record it was given to went."""

    def ack(self) -> None: ...
    def fail(self, exc: BaseException) -> None: ...


class _AckGroup:
    """Resolves one asyncio future when all ``n`` records are acked, or at the first failure.

    Callbacks run on kafka-python's sender thread; results cross to the loop with
    ``call_soon_threadsafe``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.remaining = n
        self.lock = threading.Lock()
        self.done: asyncio.Future[None] = loop.create_future()

    def ack(self) -> None:
        with self.lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            self._resolve(None)

    def fail(self, exc: BaseException) -> None:
        self._resolve(exc)

    def _resolve(self, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self.loop.call_soon_threadsafe(self._set, exc)

    def _set(self, exc: BaseException | None) -> None:
        if self.done.done():
            return
        if exc is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)


def health_routes(producer: EventProducer, registry: CollectorRegistry) -> list[web.RouteDef]:
    """``GET /health`` (JSON, always 200: the connector runs; ``kafka`` says whether it
    can write) and ``GET /metrics`` (Prometheus text format 0.0.4)."""

    async def health(_request: web.Request) -> web.Response:
        return web.json_response(producer.health())

    async def metrics(_request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, content_type=EXPOSITION_TYPE, charset="utf-8")

    return [web.get("/health", health), web.get("/metrics", metrics)]
