"""Customer ids as keyed pseudonyms, before any event reaches Kafka (``kafka.pseudonymise_key``).

With a key configured, the shared producer (:class:`~connectors.producer.EventProducer`)
passes every record through :meth:`Pseudonymiser.event` before sending it, so no
connector can forget to: ``customer_id`` becomes

    ``"p-"`` + the first 32 hex digits (128 bits) of HMAC-SHA256(key, ``{platform}:{customer_id}``)

(34 characters: within the contract's 1-256; no ``:``, so the case key still splits into
its four parts and the thread part, which conversation links are built from, is intact).
The same customer on the same platform always gets the same pseudonym under one key, so
the case key, and with it the case and its partition, stays stable across connectors,
restarts and replays; another key gives unrelated pseudonyms, and without the key they
cannot be turned back into ids, nor ids be tested against them.

``thread_id`` is left alone (a post, a conversation, a chat: links to it keep working),
except where the platform's thread *is* the customer (a Messenger or Instagram direct
conversation, whose thread id is the customer's page-scoped id): a ``thread_id`` equal to
the raw ``customer_id`` gets the same pseudonym, so the raw id is not carried there
either. Not covered: ids a sender puts in ``event_id``, ``agent_id`` (an agent's, not a
customer's) or in the text itself (an @handle in a reply's text).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from connectors.config import Secret
from streams.events import CareEvent

PREFIX: Final = "p-"
DIGITS: Final = 32  # hex digits kept: 128 bits


class Pseudonymiser:
    """Deterministic under one key; the key is never shown (``Secret``)."""

    __slots__ = ("_key",)

    def __init__(self, key: Secret) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymiser(***)"

    def customer(self, platform: str, customer_id: str) -> str:
        """The pseudonym of ``customer_id`` on ``platform``."""
        message = f"{platform}:{customer_id}".encode("utf-8", "surrogateescape")
        return PREFIX + self._key.sign(message)[:DIGITS]

    def event(self, event: CareEvent) -> CareEvent:
        """``event`` with its customer (and a thread that is the customer) pseudonymised."""
        pseudonym = self.customer(event.platform, event.customer_id)
        thread = pseudonym if event.thread_id == event.customer_id else event.thread_id
        return dataclasses.replace(event, customer_id=pseudonym, thread_id=thread)
