"""Every ``carewatch_*`` Prometheus series of CONTRACT.md section 5, in one place.

Series are created by :class:`StreamMetrics` (the worker) and :class:`ConnectorMetrics`
(the connectors), each against the registry it is given, so tests use a fresh
``CollectorRegistry``. Dashboards and alert rules take their names from :data:`SERIES`.

Labels are bounded by construction: brand, platform and topic are contract tokens,
priority, sla, outcome, how and kind are enumerations, ``lang`` is one of the
configured languages or ``other``, and ``reason`` one of the validation codes. No id,
handle or text ever becomes a label value.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.clocks import Counted, CountName, Decision, Effect, Observed, Sla
from streams.events import Priority


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    kind: str  # counter | histogram | gauge
    labels: tuple[str, ...]
    help: str


_BPP = ("brand", "platform", "priority")

SERIES: dict[str, Series] = {
    s.name: s
    for s in (
        Series("carewatch_events_total", "counter", ("brand", "platform", "kind"), "Valid events, each once."),
        Series("carewatch_events_rejected_total", "counter", ("reason",), "Invalid events sent to the dead-letter topic."),
        Series("carewatch_events_duplicate_total", "counter", ("brand", "platform"), "Events whose event_id was seen before."),
        Series("carewatch_events_late_total", "counter", ("brand", "platform"), "Events later than the allowed lateness."),
        Series("carewatch_first_reply_seconds", "histogram", _BPP, "First reply time (calendar seconds)."),
        Series("carewatch_next_reply_seconds", "histogram", _BPP, "Next reply time (calendar seconds)."),
        Series("carewatch_resolution_seconds", "histogram", (*_BPP, "how"), "Resolution time (calendar seconds)."),
        Series("carewatch_sla_decisions_total", "counter", (*_BPP, "sla", "outcome"), "SLA decisions by outcome."),
        Series("carewatch_cases_open", "gauge", _BPP, "Open cases on the partitions this worker owns."),
        Series("carewatch_cases_awaiting_reply", "gauge", _BPP, "Open cases waiting for a reply."),
        Series("carewatch_oldest_awaiting_seconds", "gauge", _BPP, "Age of the oldest unanswered message."),
        Series("carewatch_cases_reopened_total", "counter", _BPP, "Cases reopened after resolution."),
        Series("carewatch_bot_replies_total", "counter", ("brand", "platform"), "Replies by bots and automation."),
        Series("carewatch_mentions_total", "counter", ("brand", "platform", "topic", "lang"), "Customer messages by topic and language."),
        Series("carewatch_event_lag_seconds", "histogram", ("platform",), "Processing time minus occurred_at."),
        Series("carewatch_connector_events_total", "counter", ("connector", "platform"), "Events a connector wrote to Kafka."),
        Series("carewatch_connector_errors_total", "counter", ("connector", "reason"), "Connector errors (each retried with backoff)."),
        Series("carewatch_connector_up", "gauge", ("connector",), "1 while the connector is connected to its source."),
    )
}  # fmt: skip

BASE_BUCKETS: tuple[float, ...] = (
    15, 30, 60, 120, 240, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
    172800, 604800,
)  # fmt: skip
LAG_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def reply_buckets(targets: Iterable[float]) -> tuple[float, ...]:
    """The base bounds plus every configured target exactly, so "within target" is one bucket."""
    return tuple(sorted({float(b) for b in BASE_BUCKETS} | {float(t) for t in targets}))


class _Children:
    """A metric's labelled children, kept: ``labels()`` checks and locks on every call,
    a dictionary lookup does not (the hot path asks for a child per effect). Bounded
    like the labels themselves."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Counter | Histogram) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def _counter(series: str, registry: CollectorRegistry) -> Counter:
    spec = SERIES[series]
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def _histogram(series: str, registry: CollectorRegistry, buckets: Iterable[float]) -> Histogram:
    spec = SERIES[series]
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=tuple(buckets))


def _gauge(series: str, registry: CollectorRegistry) -> Gauge:
    spec = SERIES[series]
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


class StreamMetrics:
    """The worker's counters and histograms; gauges come from :class:`CaseGauges` at scrape time."""

    def __init__(
        self,
        registry: CollectorRegistry,
        targets: Iterable[float],
        languages: Iterable[str],
        topics: Iterable[str] = (),
    ) -> None:
        buckets = reply_buckets(targets)
        self.languages = frozenset(languages)
        self.topics = frozenset(topics)  # the topic rules' topics: others count as "other"
        self.events = _Children(_counter("carewatch_events_total", registry))
        self.rejected = _Children(_counter("carewatch_events_rejected_total", registry))
        self.duplicate = _Children(_counter("carewatch_events_duplicate_total", registry))
        self.late = _Children(_counter("carewatch_events_late_total", registry))
        self.histograms = {
            sla: _Children(_histogram(name, registry, buckets))
            for sla, name in (
                (Sla.FIRST_REPLY, "carewatch_first_reply_seconds"),
                (Sla.NEXT_REPLY, "carewatch_next_reply_seconds"),
                (Sla.RESOLUTION, "carewatch_resolution_seconds"),
            )
        }
        self.decisions = _Children(_counter("carewatch_sla_decisions_total", registry))
        self.reopened = _Children(_counter("carewatch_cases_reopened_total", registry))
        self.bot_replies = _Children(_counter("carewatch_bot_replies_total", registry))
        self.mentions = _Children(_counter("carewatch_mentions_total", registry))
        self.event_lag = _Children(_histogram("carewatch_event_lag_seconds", registry, LAG_BUCKETS))

    def apply(self, effects: Iterable[Effect], decisions: Iterable[Decision]) -> None:
        for effect in effects:
            if isinstance(effect, Observed):
                child = self.histograms[effect.sla]
                if effect.how is None:
                    child = child(effect.brand, effect.platform, effect.priority.value)
                else:
                    child = child(
                        effect.brand, effect.platform, effect.priority.value, effect.how.value
                    )
                child.observe(effect.seconds)
            else:
                self._count(effect)
        for d in decisions:
            self.decisions(
                d.brand, d.platform, d.priority.value, d.sla.value, d.outcome.value
            ).inc()

    def _count(self, c: Counted) -> None:
        if c.name is CountName.EVENTS:
            self.events(c.brand, c.platform, c.kind.value if c.kind else "").inc()
        elif c.name is CountName.DUPLICATE:
            self.duplicate(c.brand, c.platform).inc()
        elif c.name is CountName.LATE:
            self.late(c.brand, c.platform).inc()
        elif c.name is CountName.BOT_REPLY:
            self.bot_replies(c.brand, c.platform).inc()
        elif c.name is CountName.REOPENED:
            priority = (c.priority or Priority.NORMAL).value
            self.reopened(c.brand, c.platform, priority).inc()

    def mention(self, brand: str, platform: str, topic: str | None, lang: str | None) -> None:
        """Count one customer message under a bounded topic and language (``other`` otherwise).

        A BCP 47 tag counts under its primary language subtag, case-insensitively
        (``en-US`` and ``EN`` are ``en``), when that is a configured language. A topic
        counts as itself when the topic rules name it (a sender may state any token, a
        handle among them), otherwise as ``other``.
        """
        primary = lang.split("-", 1)[0].lower() if lang else None
        language = primary if primary in self.languages else "other"
        self.mentions(brand, platform, topic if topic in self.topics else "other", language).inc()

    def reject(self, reason: str) -> None:
        self.rejected(reason).inc()

    def lag(self, platform: str, occurred_at: float, now: float | None = None) -> None:
        seconds = (time.time() if now is None else now) - occurred_at
        self.event_lag(platform).observe(max(0.0, seconds))


class ConnectorMetrics:
    """A connector's series: events written, errors (each retried), and whether it is up."""

    def __init__(self, registry: CollectorRegistry, connector: str) -> None:
        self.connector = connector
        self._events = _counter("carewatch_connector_events_total", registry)
        self._errors = _counter("carewatch_connector_errors_total", registry)
        self._up = _gauge("carewatch_connector_up", registry)
        self._up.labels(connector).set(0)

    def wrote(self, platform: str, n: int = 1) -> None:
        self._events.labels(self.connector, platform).inc(n)

    def error(self, reason: str) -> None:
        """``reason`` must be a short code from a fixed set (never an exception's text)."""
        self._errors.labels(self.connector, reason).inc()

    def up(self, connected: bool) -> None:
        self._up.labels(self.connector).set(1 if connected else 0)


class CaseView(Protocol):
    """What a gauge needs of one case (``awaiting_since`` None when nobody waits)."""

    @property
    def brand(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def awaiting_since(self) -> float | None: ...


class CaseGauges(Collector):
    """Builds the three case gauges at scrape time from the partitions the worker owns now.

    ``owned`` yields ``(clock, cases)`` per owned partition: the partition's stream clock
    (wall clock in live mode, watermark in replay) and its cases. Summing the gauges over
    workers never counts a case twice, because each partition has one owner at a time.
    """

    def __init__(self, owned: Callable[[], Iterable[tuple[float, Iterable[CaseView]]]]) -> None:
        self.owned = owned

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_: dict[tuple[str, str, str], int] = defaultdict(int)
        waiting: dict[tuple[str, str, str], int] = defaultdict(int)
        oldest: dict[tuple[str, str, str], float] = {}
        for clock, cases in self.owned():
            for case in cases:
                if not case.is_open:
                    continue
                labels = (case.brand, case.platform, case.priority.value)
                open_[labels] += 1
                waiting[labels] += 0  # every open label set shows its waiting count, 0 included
                oldest.setdefault(labels, 0.0)
                if case.awaiting_since is not None:
                    waiting[labels] += 1
                    age = max(0.0, clock - case.awaiting_since)
                    oldest[labels] = max(oldest.get(labels, 0.0), age)
        for name, values in (
            ("carewatch_cases_open", open_),
            ("carewatch_cases_awaiting_reply", waiting),
            ("carewatch_oldest_awaiting_seconds", oldest),
        ):
            family = GaugeMetricFamily(name, SERIES[name].help, labels=list(_BPP))
            for labels, value in sorted(values.items()):
                family.add_metric(list(labels), float(value))
            yield family
