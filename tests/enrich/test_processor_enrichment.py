"""The processor asks the enricher for the labels of each new customer message, and only then."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.cases import CaseStore
from streams.enrich import Enricher
from streams.events import AuthorType, CareEvent, Kind, encode_event
from streams.metrics import StreamMetrics
from streams.policy import Policy, PolicyBook, Targets
from streams.processor import CaseProcessor, Mode, partition_for

T0 = 1_790_000_000.0
BOOK = PolicyBook.uniform(Policy("test", Targets(first_reply=900.0)))


class CountingEnricher:
    def __init__(self, inner: Enricher) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def labels(self, event: CareEvent) -> tuple[str | None, str | None]:
        self.calls.append(event.event_id)
        return self.inner.labels(event)


def message(event_id: str, at: float, **fields: object) -> CareEvent:
    return CareEvent(event_id, Kind.MESSAGE, "x", "du", "t1", "c1", at, **fields)  # type: ignore[arg-type]


def test_new_messages_are_enriched_before_they_are_counted(enricher: Enricher) -> None:
    registry = CollectorRegistry()
    topics = enricher.classifier.topics
    metrics = StreamMetrics(registry, BOOK.target_seconds(), ["ru", "en", "zh"], topics=topics)
    counting = CountingEnricher(enricher)
    processor = CaseProcessor(
        CaseStore({}, 60.0, 86400.0),
        BOOK,
        metrics,
        mode=Mode.REPLAY,
        lateness=60.0,
        partitions=4,
        enricher=counting,
    )
    events = [
        message("m1", T0, text="второй день нет связи"),
        message("m1", T0, text="второй день нет связи"),  # a repeat: not enriched again
        message("m2", T0 + 1, text="家里信号一格都没有", lang="zh", topic="billing"),  # given
        message("m3", T0 + 2, text="why was I charged twice this month?", lang="en"),
        message("m4", T0 + 3),  # no text
        CareEvent(
            "r1",
            Kind.REPLY,
            "x",
            "du",
            "t1",
            "c1",
            T0 + 4,
            text="второй день нет связи",
            author_type=AuthorType.HUMAN,
        ),
    ]
    for offset, event in enumerate(events):
        key = event.case_key.encode()
        processor.handle(
            "t", partition_for(event.case_key, 4), offset, key, encode_event(event), {}
        )

    assert counting.calls == ["m1", "m3", "m4"]  # m2 had both labels; replies are not mentions

    def mentions(topic: str, lang: str) -> float | None:
        labels = {"brand": "du", "platform": "x", "topic": topic, "lang": lang}
        return registry.get_sample_value("carewatch_mentions_total", labels)

    assert mentions("network_quality", "ru") == 1.0
    assert mentions("billing", "zh") == 1.0
    assert mentions("billing", "en") == 1.0
    assert mentions("other", "other") == 1.0
