"""The Faust side: one agent on ``care.events.v1``, the timers, and the web views.

Delivery: at-least-once, idempotent by design. Events are acknowledged only at a
checkpoint, which runs in this order: (1) flush the producer, so every decision sent so
far is in Kafka; (2) write the changed case states to the table (changelog); (3) in
replay mode, record each partition's clock there too; (4) acknowledge the events, so
Faust may commit their offsets (it flushes the producer again before committing). A
crash anywhere replays events from the committed offset against states at least as new
(newer where it struck mid-checkpoint) and the clock recorded with the last complete
checkpoint, so decisions may repeat, always identical, and none is lost. The agent runs
with concurrency 1 (faust#606).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from faust.web import Request, Response, View
from prometheus_client import generate_latest

from streams.changelog import ChangelogWriter
from streams.delivery import Deliveries
from streams.processor import Mode, Output, partition_for
from streams.stalls import (
    RECOVERY_TICK,
    OffsetTrail,
    RecoveryWatch,
    StallWatch,
    gate_consumer,
)
from streams.views import install_views

if TYPE_CHECKING:
    from streams.app import Worker

log = logging.getLogger("carewatch.agents")

# The classic text format, which Prometheus 2.42 reads; aiohttp refuses a charset here.
EXPOSITION_TYPE = "text/plain; version=0.0.4"


class Checkpointer:
    """Serialises event handling and checkpoints (they share the case store)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.changelog = ChangelogWriter(worker.app, worker.table)
        self.deliveries = Deliveries(worker.app)
        self.lock = asyncio.Lock()
        self.unacked: list[Any] = []
        self.last = time.monotonic()
        self.written = 0

    def due(self) -> bool:
        settings = self.worker.settings
        return (
            len(self.unacked) >= settings.checkpoint_events
            or time.monotonic() - self.last >= settings.checkpoint_interval
        )

    async def run(self) -> None:
        """Confirm the decisions, write and confirm the states, then the partitions'
        replay clocks, acknowledge. Call with :attr:`lock` held. Confirming waits until
        Kafka has every message, sending again what failed (streams/delivery.py), so
        nothing is acknowledged before what it caused is in Kafka, even across a broker
        restart."""
        worker = self.worker
        await self.deliveries.confirm()
        self.written += await self.changelog.write(worker.store.changes(), self.deliveries)
        await self.deliveries.confirm()
        clocks = worker.store.clock_changes(worker.processor.watermarks, worker.settings.partitions)
        if clocks:  # after the states: see "Partition clocks" in streams/cases.py
            await self.changelog.write(clocks, self.deliveries)
            await self.deliveries.confirm()
        for event in self.unacked:
            event.ack()
        self.unacked.clear()
        self.last = time.monotonic()


async def _produce(worker: Worker, deliveries: Deliveries, out: Output) -> None:
    """Hand the messages to the producer (confirmed by the next checkpoint).

    Straight to Faust's producer, not through ``Topic.send``: the topics exist, their
    values are bytes, and the key's partition is the producer's default (murmur2, as
    CONTRACT section 1 keys them), so the per-message wrapping Topic.send adds is cost
    without use on the hot path (BENCHMARKS.md).
    """
    send = deliveries.send
    settings = worker.settings
    for decision in out.decisions:
        await send(settings.sla_topic, decision.case_key.encode(), decision.to_json())
    for key, value in out.deadletters:
        await send(settings.deadletter_topic, key, value)
    for key, value in out.forwards:
        await send(settings.events_topic, key, value)


def install(worker: Worker) -> None:
    app = worker.app
    checkpointer = Checkpointer(worker)
    stalls = StallWatch()  # streams/stalls.py
    recoveries = RecoveryWatch()  # RELIABILITY.md, Found 5
    trail = OffsetTrail()  # RELIABILITY.md, Found 3

    @app.agent(worker.events_topic, name="carewatch.cases", concurrency=1)
    async def track_cases(stream: Any) -> None:
        consumer = app.consumer
        async for event in stream.noack().events():
            message = event.message
            if not await trail.admit(consumer, message.tp, message.offset):
                continue  # an offset before it never came: it comes again after them
            headers = dict(message.headers or ())  # a list of pairs or a mapping
            async with checkpointer.lock:
                out = worker.processor.handle(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    headers,
                )
                await _produce(worker, checkpointer.deliveries, out)
                checkpointer.unacked.append(event)
                if checkpointer.due():
                    await checkpointer.run()

    @app.timer(interval=worker.settings.tick_interval)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        """Live mode: decide due deadlines on the wall clock; both modes: checkpoint."""
        async with checkpointer.lock:
            if worker.processor.mode is Mode.LIVE:
                for partition in _active_partitions(worker):
                    decisions = worker.processor.tick(partition)
                    await _produce(worker, checkpointer.deliveries, Output(decisions=decisions))
            if checkpointer.unacked or worker.store.dirty:
                await checkpointer.run()
            events_topic = worker.settings.events_topic
            owned = [tp for tp in app.assignor.assigned_actives() if tp.topic == events_topic]
            if not app.rebalancing:
                consumer = getattr(app, "_consumer", None)
                holding = {e.message.partition for e in checkpointer.unacked}
                await stalls.check(consumer, owned, holding)
                if consumer is not None:
                    await trail.watch(consumer, owned)

    async def rebuild() -> None:
        """After table recovery: reload the owned partitions' cases and their deadlines.

        Ready are the assigned partitions whose changelog this recovery read (the
        assignment may already be a newer generation's), stamped with the generation."""
        generation = app.consumer_generation_id
        recovery = cast(Any, app.tables).recovery
        recovered = {tp.partition for tp in recovery.actives_for_table.get(worker.table, ())}
        active = _active_partitions(worker) & recovered
        partitions = worker.settings.partitions
        loaded = worker.store.load(
            worker.table.items(), lambda key: partition_for(key, partitions), active, generation
        )
        if worker.processor.mode is Mode.REPLAY:
            _restore_watermarks(worker, active)
        log.info(
            "cases recovered",
            extra={"cases": loaded, "partitions": sorted(active), "generation": generation},
        )

    worker.table.on_recover(rebuild)

    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        async with checkpointer.lock:
            lost = {tp.partition for tp in revoked if tp.topic == worker.settings.events_topic}
            worker.store.unready()  # nothing answerable until the next recovery's rebuild
            worker.store.drop_partitions(lost)
            trail.forget(lost)
            checkpointer.unacked = [
                e for e in checkpointer.unacked if e.message.partition not in lost
            ]
            for partition in lost:
                worker.processor.watermarks.pop(partition, None)

    app.on_partitions_revoked.connect(cast(Any, on_revoked))

    async def watch_recoveries() -> None:
        """Not a timer: Faust starts timers and the web server only once the first table
        recovery has ended, and a worker's first recovery can hang too."""
        recovery = cast(Any, app.tables).recovery
        while not app.should_stop:
            await asyncio.sleep(RECOVERY_TICK)
            await recoveries.check(recovery, getattr(app, "_consumer", None))

    async def on_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
        gate_consumer(app.consumer, worker.settings.events_topic)  # before its fetcher starts
        if not recoveries.started:
            recoveries.started = True
            app.add_future(watch_recoveries())

    app.on_partitions_assigned.connect(cast(Any, on_assigned))

    @app.page("/metrics")
    async def metrics(view: View, request: Request) -> Response:
        return view.bytes(generate_latest(worker.registry), content_type=EXPOSITION_TYPE)

    @app.page("/health")
    async def health(view: View, request: Request) -> Response:
        state = {
            "status": "ok" if app.rebalancing is False else "rebalancing",
            "mode": worker.processor.mode.value,
            "partitions": sorted(_active_partitions(worker)),
            "generation": app.consumer_generation_id,
            "ready": sorted(worker.store.ready),  # cases loaded, for ready_generation
            "ready_generation": worker.store.generation,
            "cases": len(worker.store),
            "states_written": checkpointer.written,
            "unacked_events": len(checkpointer.unacked),
            "messages_resent": checkpointer.deliveries.resent,
            "stalls_repaired": stalls.repairs,
            "recovery_reseeks": recoveries.reseeks,
            "offsets_skipped": trail.health(),
            "watermarks": {str(k): v for k, v in worker.processor.watermarks.items()},
            "offsets": _consumer_offsets(worker),
        }
        return view.json(state)

    install_views(worker)


def _consumer_offsets(worker: Worker) -> dict[str, dict[str, Any]]:
    """Per owned partition of the events topic: where Faust's consumer reads, what it
    committed, how many acknowledged offsets wait for a commit and the first of them
    (a commit waits for a gap-free run from the committed offset), and whether it is
    paused. Faust keeps these in private attributes; a stalled partition shows here."""
    consumer: Any = getattr(worker.app, "_consumer", None)  # the property would create one
    try:
        read, committed = consumer._read_offset, consumer._committed_offset
        acked, paused = consumer._acked, consumer._paused_partitions
    except AttributeError:  # not started yet, or another Faust
        return {}
    out: dict[str, dict[str, Any]] = {}
    for tp in worker.app.assignor.assigned_actives():
        if tp.topic != worker.settings.events_topic:
            continue
        waiting = acked.get(tp) or []
        out[str(tp.partition)] = {
            "read": read.get(tp),
            "committed": committed.get(tp),
            "acked_uncommitted": len(waiting),
            "first_acked": min(waiting) if waiting else None,
            "paused": tp in paused,
            "gaps": len(consumer._gap.get(tp) or ()),  # offsets Faust may commit unread
            "read_floor": getattr(read, "floors", {}).get(tp),  # streams/stalls.py
        }
    return out


def _active_partitions(worker: Worker) -> set[int]:
    topic = worker.settings.events_topic
    return {tp.partition for tp in worker.app.assignor.assigned_actives() if tp.topic == topic}


def _restore_watermarks(worker: Worker, active: set[int]) -> None:
    """A restarted replay worker resumes each partition's clock from its last record in
    the changelog ("Partition clocks" in streams/cases.py), not from its newest case
    state: a crash mid-checkpoint can leave newer states than the acknowledged events.
    A partition with no record had its clock unset at every acknowledgement (no valid
    event yet, or a changelog older than the records): its clock starts anew."""
    for partition in active:
        clock = worker.store.clocks.get(partition)
        if clock is not None and partition not in worker.processor.watermarks:
            worker.processor.watermarks[partition] = clock
