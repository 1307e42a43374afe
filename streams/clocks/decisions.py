"""What the clocks emit: SLA decisions (CONTRACT.md section 4) and metric effects.

Both are plain frozen values. The agent sends each :class:`Decision` to ``care.sla.v1``
and turns each effect into a Prometheus observation; nothing here imports Kafka, Faust
or ``prometheus_client``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from streams.events import Kind, Priority

SCHEMA = "care.sla/1"


class Sla(StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    RESOLUTION = "resolution"


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"
    WARNING = "warning"


class How(StrEnum):
    """How a cycle was resolved: the ``how`` label of ``carewatch_resolution_seconds``."""

    STATUS = "status"
    AUTO = "auto"


def rfc3339(instant: float) -> str:
    """``2026-05-01T10:00:00Z``; microseconds are written only when not zero."""
    moment = datetime.fromtimestamp(instant, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Decision:
    """One SLA decision. Instants are POSIX seconds here and RFC 3339 UTC on the wire.

    ``decided_at`` is the stream-clock instant at which the decision was due (its
    virtual instant plus the allowed lateness), so it is a function of the event log
    alone and a repeat after a crash carries the same value as the original.
    """

    case_key: str
    cycle: int
    sla: Sla
    n: int
    outcome: Outcome
    target_seconds: float
    elapsed_seconds: float
    deadline: float
    decided_at: float
    brand: str
    platform: str
    priority: Priority

    @property
    def decision_id(self) -> str:
        """``{case_key}|{cycle}|{sla}|{n}|{outcome}``: a repeat carries the same id."""
        return f"{self.case_key}|{self.cycle}|{self.sla}|{self.n}|{self.outcome}"

    @property
    def deadline_id(self) -> str:
        """The deadline this decision belongs to (the id without the outcome)."""
        return f"{self.case_key}|{self.cycle}|{self.sla}|{self.n}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "decision_id": self.decision_id,
            "case_key": self.case_key,
            "cycle": self.cycle,
            "sla": self.sla.value,
            "outcome": self.outcome.value,
            "target_seconds": self.target_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 6),
            "deadline": rfc3339(self.deadline),
            "decided_at": rfc3339(self.decided_at),
            "brand": self.brand,
            "platform": self.platform,
            "priority": self.priority.value,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


class CountName(StrEnum):
    """Counters the machine increments; the metrics module maps them to series."""

    EVENTS = "events"  # carewatch_events_total{brand, platform, kind}
    DUPLICATE = "duplicate"  # carewatch_events_duplicate_total{brand, platform}
    LATE = "late"  # carewatch_events_late_total{brand, platform}
    BOT_REPLY = "bot_reply"  # carewatch_bot_replies_total{brand, platform}
    REOPENED = "reopened"  # carewatch_cases_reopened_total{brand, platform, priority}


@dataclass(frozen=True, slots=True)
class Counted:
    """Add one to a counter. ``kind`` only for ``events``, ``priority`` only for ``reopened``."""

    name: CountName
    brand: str
    platform: str
    kind: Kind | None = None
    priority: Priority | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """One histogram observation of a calendar duration in seconds.

    ``sla`` names the histogram (``carewatch_{sla}_seconds``); ``how`` is set only for
    resolution.
    """

    sla: Sla
    seconds: float
    brand: str
    platform: str
    priority: Priority
    how: How | None = None


Effect = Counted | Observed
