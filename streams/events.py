"""The ``care.events.v1`` event record (CONTRACT.md section 2).

This module is the contract in code: connectors build :class:`CareEvent` values and
serialise them with :func:`encode_event`; the stream turns bytes back into events with
:func:`decode_event`, which raises :class:`streams.errors.InvalidEvent` (a bounded
``reason`` code and a message naming the field) for anything that breaks the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SCHEMA = "care.event/1"


class Kind(StrEnum):
    MESSAGE = "message"
    REPLY = "reply"
    STATUS = "status"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more urgent: ``low`` 0, ``normal`` 1, ``high`` 2, ``urgent`` 3."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class AuthorType(StrEnum):
    HUMAN = "human"
    BOT = "bot"
    AUTOMATION = "automation"


class Status(StrEnum):
    RESOLVED = "resolved"
    REOPENED = "reopened"
    PENDING = "pending"
    OPEN = "open"


def case_key(platform: str, brand: str, thread_id: str, customer_id: str) -> str:
    """The case key ``{platform}:{brand}:{thread_id}:{customer_id}``: one customer in one thread."""
    return f"{platform}:{brand}:{thread_id}:{customer_id}"


@dataclass(frozen=True, slots=True)
class CareEvent:
    """One valid event. Timestamps are POSIX seconds (UTC), parsed from RFC 3339.

    ``priority`` is ``None`` when the event does not state one: the contract's default
    ``normal`` applies to the case only when no event of the cycle stated a priority.
    """

    event_id: str
    kind: Kind
    platform: str
    brand: str
    thread_id: str
    customer_id: str
    occurred_at: float
    ingested_at: float | None = None
    priority: Priority | None = None
    text: str | None = None
    lang: str | None = None
    topic: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    author_type: AuthorType | None = None
    agent_id: str | None = None
    status: Status | None = None

    @property
    def case_key(self) -> str:
        return case_key(self.platform, self.brand, self.thread_id, self.customer_id)
