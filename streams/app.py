"""The one place that builds the Faust app and everything it hands down.

:func:`build_worker` reads nothing itself: it takes :class:`Settings` and the policy
book, creates the app, its topics and its case table, the metrics registry and the
:class:`CaseProcessor`, then lets :mod:`streams.agents` attach the agent, the timers
and the web views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry

from streams.cases import CaseStore
from streams.enrich import build_enricher
from streams.metrics import CaseGauges, StreamMetrics
from streams.policy import PolicyBook
from streams.processor import CaseProcessor, Mode
from streams.security import faust_credentials
from streams.sensors import LeanPrometheusMonitor
from streams.settings import Settings


@dataclass
class Worker:
    settings: Settings
    app: faust.App
    events_topic: Any  # faust.TopicT (untyped library)
    sla_topic: Any
    deadletter_topic: Any
    table: Any  # faust.Table[str, bytes]
    store: CaseStore
    processor: CaseProcessor
    registry: CollectorRegistry
    metrics: StreamMetrics


class CaseTable(faust.Table[str, bytes]):
    """The case table: case keys as raw UTF-8, states as raw JSON bytes.

    Faust serialises ``str`` keys as JSON by default, so the changelog key of
    ``x:du:t1:a`` would be ``"x:du:t1:a"`` (quoted), which Kafka's partitioner files
    under another partition than the case's events: a worker taking a partition over
    would then recover other partitions' cases and miss its own (issue 10). Raw keys are
    the bytes the events are keyed by, so every path (the RocksDB store filing a key,
    Faust's routing) agrees with :func:`streams.processor.partition_for`.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"


def _broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{server}" for server in bootstrap.split(","))


def build_worker(settings: Settings, policies: PolicyBook) -> Worker:
    app = faust.App(
        settings.app_id,
        broker=_broker_url(settings.bootstrap),
        broker_credentials=faust_credentials(settings),
        # carewatch-rocksdb: RocksDB filing keys by their changelog partition (streams/stores.py)
        store="carewatch-rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(Path(settings.data_dir).absolute()),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=True,  # Faust declares its own changelog topic; ours exist already
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,
        # Faust would wait, at every rebalance and at shutdown, until every delivered event
        # is acknowledged; carewatch acknowledges only at its checkpoints, which stop with
        # the worker, so a SIGTERM never ended (RELIABILITY.md, Found 2). Unacknowledged
        # events are simply read again by the partition's next owner (streams/agents.py).
        stream_wait_empty=False,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.worker_url,
        web_in_thread=False,
        autodiscover=False,
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    events_topic = app.topic(settings.events_topic, partitions=settings.partitions, **raw)
    sla_topic = app.topic(settings.sla_topic, partitions=settings.partitions, **raw)
    deadletter_topic = app.topic(settings.deadletter_topic, partitions=settings.partitions, **raw)
    table: Any = app.tables.add(
        CaseTable(
            app,
            name="cases",
            beacon=app.tables.beacon,
            partitions=settings.partitions,
            key_type=str,
            value_type=bytes,
            schema=faust.Schema(key_type=str, value_type=bytes, **raw),
            # States are written at checkpoints, outside the event that changed them,
            # to the changelog partition of their events (streams/changelog.py).
            use_partitioner=True,
            help="carewatch case states (JSON), by case key",
        )
    )
    store = CaseStore(table, lateness=settings.lateness, retention=settings.retention)
    # built once: it loads the language models (seconds); a bad rules file fails here
    enricher = build_enricher(settings.language_set, settings.topic_rules_file)
    registry = CollectorRegistry()
    metrics = StreamMetrics(
        registry,
        policies.target_seconds(),
        settings.language_set,
        topics=enricher.classifier.topics,
    )
    # Faust's own sensors (messages in, commit and send latency, rebalances, table
    # operations) beside ours on /metrics, under a fixed prefix whatever the app id.
    # (Per-event hooks made cheap: streams/sensors.py.)
    app.monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))
    processor = CaseProcessor(
        store,
        policies,
        metrics,
        mode=Mode(settings.mode),
        lateness=settings.lateness,
        partitions=settings.partitions,
        enricher=enricher,
    )
    worker = Worker(
        settings,
        app,
        events_topic,
        sla_topic,
        deadletter_topic,
        table,
        store,
        processor,
        registry,
        metrics,
    )
    registry.register(CaseGauges(lambda: _owned_cases(worker)))

    from streams import agents  # attaches the agent, timers and views to this app

    agents.install(worker)
    return worker


def _owned_cases(worker: Worker) -> list[tuple[float, list[Any]]]:
    """Per partition this worker actively owns and has loaded: its stream clock and its
    cases. Nothing once the worker is stopping: its partitions may already be another
    worker's, and summed gauges must never count a case twice (a leaving worker went on
    reporting them until it exited: the rebalance drill saw a sum above the bound)."""
    if worker.app.should_stop:
        return []
    owned = worker.app.assignor.assigned_actives()
    topic = worker.settings.events_topic
    ready = worker.store.ready
    out = []
    for tp in owned:
        if tp.topic != topic or tp.partition not in ready:
            continue
        clock = worker.processor.clock(tp.partition)
        if clock is not None:
            out.append((clock, list(worker.store.cases(tp.partition))))
    return out
