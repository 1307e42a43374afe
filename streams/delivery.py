"""Messages the worker sends, held until Kafka has confirmed each one.

A checkpoint acknowledges events only once everything they caused is in Kafka (see
:mod:`streams.agents`). The producer's ``flush()`` cannot tell: aiokafka's waits for
the batches and raises nothing when one failed (a broker away longer than the request
timeout, a leader change), so a decision or a case state could be lost while the event
that caused it was committed (RELIABILITY.md, Found 3). :class:`Deliveries` keeps every
message with its delivery future, and :meth:`Deliveries.confirm` waits for all of
them and sends again, backing off, whatever failed, until Kafka has it. Sending again
is safe: decisions repeat with the same ``decision_id``, and a case state is sent
again before any newer state of the same case (one per case per checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

log = logging.getLogger("carewatch.delivery")

MAX_BACKOFF = 30.0


@dataclass(slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    on_delivered: Callable[[Any], None] | None
    future: Any = None  # asyncio.Future of aiokafka's RecordMetadata


def _failed(future: Any) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError()
    exception: BaseException | None = future.exception()
    return exception


class Deliveries:
    def __init__(self, app: Any) -> None:
        self.app = app  # faust.App: its producer is created when the worker starts
        self.pending: list[Outgoing] = []
        self.resent = 0  # messages sent again since the worker started (health)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        on_delivered: Callable[[Any], None] | None = None,
    ) -> None:
        """Hand one message to the producer and keep it until :meth:`confirm`."""
        outgoing = Outgoing(topic, key, value, partition, on_delivered)
        await self._send(outgoing, attempt=0)

    async def _send(self, outgoing: Outgoing, attempt: int) -> None:
        while True:
            try:
                outgoing.future = await self.app.producer.send(
                    outgoing.topic, outgoing.key, outgoing.value, outgoing.partition, None, None
                )
                break
            except KafkaError as error:  # no metadata in time, the producer closing
                attempt += 1
                log.warning(
                    "send failed, trying again",
                    extra={
                        "topic": outgoing.topic,
                        "attempt": attempt,
                        "error": type(error).__name__,
                    },
                )
                await asyncio.sleep(_backoff(attempt))
        if outgoing.on_delivered is not None:
            outgoing.future.add_done_callback(_if_delivered(outgoing.on_delivered))
        self.pending.append(outgoing)

    async def confirm(self) -> None:
        """Return once Kafka has every message sent so far; send again what failed."""
        attempt = 0
        while self.pending:
            pending, self.pending = self.pending, []
            await asyncio.gather(*(o.future for o in pending), return_exceptions=True)
            failed = [o for o in pending if _failed(o.future) is not None]
            if not failed:
                continue  # messages sent meanwhile (none: the caller holds the lock)
            attempt += 1
            error = _failed(failed[0].future)
            log.warning(
                "messages not delivered, sending them again",
                extra={"messages": len(failed), "attempt": attempt, "error": type(error).__name__},
            )
            await asyncio.sleep(_backoff(attempt))
            for outgoing in failed:
                self.resent += 1
                await self._send(outgoing, attempt)


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF, 0.5 * 2 ** min(attempt, 10)))


def _if_delivered(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        if _failed(future) is None:
            callback(future.result())

    return done
