"""What enrichment costs: language and topic detection on the log's own messages.

Run in the harness's process, no Kafka: the worker's :class:`streams.enrich.Enricher`
(the default languages and topic rules) labels every customer message of the log that
lacks ``lang`` or ``topic``, as the worker does once per new message. Reported: the
microseconds per enriched message, and per event of the log (the enriched messages'
share of all events), which set against one worker's microseconds per event (1 / its
events per second) gives enrichment's share of the worker's time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from streams.enrich import build_enricher
from streams.events import Kind, decode_event
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class EnrichmentCost:
    events: int
    enriched: int
    seconds: float

    @property
    def per_message_us(self) -> float:
        return self.seconds / self.enriched * 1e6 if self.enriched else 0.0

    @property
    def per_event_us(self) -> float:
        return self.seconds / self.events * 1e6 if self.events else 0.0


def measure(log: Path, limit: int = 50_000) -> EnrichmentCost:
    settings = Settings()
    enricher = build_enricher(settings.language_set, settings.topic_rules_file)
    events, wanted = 0, []
    with log.open("rb") as lines:
        for line in lines:
            if events == limit:
                break
            events += 1
            event = decode_event(line.rstrip(b"\n"))
            if event.kind is Kind.MESSAGE and event.text and not (event.lang and event.topic):
                wanted.append(event)
    began = time.perf_counter()
    for event in wanted:
        enricher.labels(event)
    return EnrichmentCost(events, len(wanted), time.perf_counter() - began)
