"""From Kafka messages to clock steps: everything the agent does, without Faust.

:class:`CaseProcessor` validates a message, sends invalid ones to the dead letters,
re-keys events whose Kafka key is not their case key, runs the clock machine against
the :class:`CaseStore`, and keeps each partition's stream clock. It returns what must be
produced; the Faust agent (:mod:`streams.agents`) only moves bytes in and out.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

import orjson

from streams.cases import CaseStore
from streams.cases import partition_for as partition_for  # its old home; kept public here
from streams.clocks import CaseState, Counted, CountName, Decision, PolicyLookup, on_clock, on_event
from streams.control import CONTROL_HEADER, is_final_marker, parse_clock_marker
from streams.errors import InvalidEvent
from streams.events import CareEvent, Kind, decode_event
from streams.metrics import StreamMetrics

log = logging.getLogger("carewatch.processor")


class MessageEnricher(Protocol):
    """Fills in the ``lang`` and ``topic`` labels a message lacks (:mod:`streams.enrich`)."""

    def labels(self, event: CareEvent) -> tuple[str | None, str | None]: ...


class Mode(StrEnum):
    LIVE = "live"  # the stream clock is the wall clock
    REPLAY = "replay"  # the stream clock is the partition's watermark


@dataclass(slots=True)
class Output:
    """What handling one message asks the agent to produce."""

    decisions: list[Decision] = field(default_factory=list)
    deadletters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    forwards: list[tuple[bytes, bytes]] = field(default_factory=list)  # (case key, value)


class CaseProcessor:
    def __init__(
        self,
        store: CaseStore,
        policies: PolicyLookup,
        metrics: StreamMetrics,
        *,
        mode: Mode,
        lateness: float,
        partitions: int,
        wall_clock: Callable[[], float] = time.time,
        enricher: MessageEnricher | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self.metrics = metrics
        self.mode = mode
        self.lateness = lateness
        self.partitions = partitions
        self.wall_clock = wall_clock
        self.enricher = enricher
        self.watermarks: dict[int, float] = {}

    def clock(self, partition: int) -> float | None:
        """The partition's stream clock, or None in replay mode before its first event."""
        if self.mode is Mode.LIVE:
            return self.wall_clock()
        return self.watermarks.get(partition)

    def handle(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: dict[str, bytes],
    ) -> Output:
        """Handle one message of the events topic (at-least-once: it may come again)."""
        out = Output()
        if CONTROL_HEADER in headers:
            self._control(partition, value, out)
            return out
        try:
            event = decode_event(value)  # a tombstone (None) is bad_encoding, as documented
            _check_clockable(event)
        except InvalidEvent as invalid:
            self.metrics.reject(invalid.reason)
            log.warning(
                "invalid event sent to dead letters",
                extra={
                    "reason": invalid.reason,
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                },
            )
            out.deadletters.append((key, _deadletter(invalid, topic, partition, offset, value)))
            return out
        case_key = event.case_key
        if key != case_key.encode() and partition_for(case_key, self.partitions) != partition:
            out.forwards.append((case_key.encode(), value or b""))  # re-keyed, handled there
            return out
        if self.mode is Mode.REPLAY:
            mark = self.watermarks.get(partition)
            self.watermarks[partition] = (
                event.occurred_at if mark is None else max(mark, event.occurred_at)
            )
        clock = self.clock(partition)
        assert clock is not None
        try:
            step = on_event(
                self.store.get(partition, case_key), event, clock, self.policies, self.lateness
            )
        except Exception as error:  # a defect, not bad input: the partition must go on
            log.exception(
                "event not processable, sent to dead letters",
                extra={"partition": partition, "offset": offset},
            )
            self.metrics.reject(UNPROCESSABLE)
            failed = InvalidEvent(UNPROCESSABLE, None, f"{type(error).__name__} in the clocks")
            out.deadletters.append((key, _deadletter(failed, topic, partition, offset, value)))
            return out
        self.store.put(partition, step.state)
        self.metrics.apply(step.effects, step.decisions)
        out.decisions.extend(step.decisions)
        if event.kind is Kind.MESSAGE and _counted(step.effects):
            # Enriched once, when first counted: a repeat costs no detection.
            lang_label, topic_label = event.lang, event.topic
            if self.enricher is not None and not (lang_label and topic_label):
                lang_label, topic_label = self.enricher.labels(event)
            self.metrics.mention(event.brand, event.platform, topic_label, lang_label)
        if _counted(step.effects):
            self.metrics.lag(event.platform, event.occurred_at, self.wall_clock())
        out.decisions.extend(self.tick(partition))
        return out

    def tick(self, partition: int) -> list[Decision]:
        """Run every case of ``partition`` that has work at its stream clock."""
        clock = self.clock(partition)
        if clock is None:
            return []
        return self._run_clock(partition, self.store.due(partition, clock), clock)

    def _control(self, partition: int, value: bytes | None, out: Output) -> None:
        advance_to = parse_clock_marker(value)
        if advance_to is None:
            log.warning("ignored a malformed clock marker", extra={"partition": partition})
            return
        if self.mode is Mode.REPLAY:
            mark = self.watermarks.get(partition)
            self.watermarks[partition] = advance_to if mark is None else max(mark, advance_to)
            if is_final_marker(value):
                out.decisions.extend(self._advance_all(partition))
            else:
                out.decisions.extend(self.tick(partition))

    def _advance_all(self, partition: int) -> list[Decision]:
        """Move every case of the partition to its clock, due or not: only at a replay's
        end, and it leaves every case's horizon at the clock."""
        clock = self.clock(partition)
        assert clock is not None
        return self._run_clock(partition, list(self.store.cases(partition)), clock)

    def _run_clock(self, partition: int, states: list[CaseState], clock: float) -> list[Decision]:
        decisions: list[Decision] = []
        for state in states:
            try:
                step = on_clock(state, clock, self.policies, self.lateness)
            except Exception:  # a defect: this case waits for its next event, the rest go on
                log.exception("a case's clock failed", extra={"partition": partition})
                continue
            self.store.put(partition, step.state)
            self.metrics.apply(step.effects, step.decisions)
            decisions.extend(step.decisions)
        return decisions


UNPROCESSABLE: Final = "unprocessable"
"""The dead-letter reason of a valid event the clocks failed on (a defect, logged with
its traceback); with :data:`streams.events.REASONS`, the ``reason`` label's values."""
CLOCKABLE_FROM: Final = 631_152_000.0  # 1990-01-01T00:00:00Z
CLOCKABLE_UNTIL: Final = 4_102_444_800.0  # 2100-01-01T00:00:00Z


def _check_clockable(event: CareEvent) -> None:
    """The contract lets ``occurred_at`` be any RFC 3339 instant, year 1 to 9999; the
    clocks cannot run near either end (deadlines, calendar days and ``decided_at`` would
    fall outside what ``datetime`` holds, and a replay partition's clock would jump there
    for good: RELIABILITY.md, Found 1). Such an event goes to the dead letters as
    ``bad_timestamp``, like any other the stream cannot take (README, readings)."""
    if not CLOCKABLE_FROM <= event.occurred_at < CLOCKABLE_UNTIL:
        raise InvalidEvent(
            "bad_timestamp",
            "occurred_at",
            f"field 'occurred_at': {event.occurred_at:.0f} s from 1970 is outside "
            "1990-01-01T00:00:00Z to 2100-01-01T00:00:00Z, where the clocks run",
        )


def _counted(effects: Sequence[object]) -> bool:
    """True when the machine took the event as new (not a duplicate)."""
    return any(isinstance(e, Counted) and e.name is CountName.EVENTS for e in effects)


def _deadletter(
    invalid: InvalidEvent, topic: str, partition: int, offset: int, value: bytes | None
) -> bytes:
    return orjson.dumps(
        {
            "reason": invalid.reason,
            "detail": invalid.detail,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "value_b64": base64.b64encode(value or b"").decode(),
        }
    )
