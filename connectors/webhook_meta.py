"""Meta webhooks (Facebook Pages, Instagram) as contract events.

Payloads are Meta's published formats: ``{"object": "page"|"instagram", "entry": [...]}``,
each entry with ``changes`` (feed and comment updates) and/or ``messaging`` (Messenger
and Instagram direct messages; ``standby`` is read the same way, for threads another
app controls). ``entry[].id`` is the page or Instagram account; only accounts configured
with a brand are read, the others are counted and skipped.

Mapping (deterministic, so Meta's retries give the same ``event_id``):

- **Comments** (``object: page``, ``field: feed``, ``value.item: comment``,
  ``verb: add``; ``object: instagram``, ``field: comments``): ``thread_id`` is the post
  or media id. A comment thread stands for its customer: ``customer_id`` is the id of
  the thread's top-level comment (the comment itself, or its ``parent_id`` when that is
  not the post), because a page's reply names only the comment it answers, never its
  author, and the connector keeps no state. A comment whose ``from.id`` is the account
  itself is a public ``reply`` by a ``human`` (Meta marks nothing else on comments); the
  account's own top-level comments answer nobody and are skipped. Every other comment
  (``from`` absent included) is a public ``message``. ``event_id``:
  ``{platform}:comment:{comment id}``; time: ``created_time`` (Facebook), else the
  entry's ``time``.
- **Direct messages** (``messaging[].message``): from the customer, a private
  ``message``; an echo (``is_echo``, sent by the account) is a private ``reply``, by a
  ``human`` unless it carries an ``app_id`` not in ``meta.human_app_ids`` (an app sent
  it: ``bot``). Messages sent from Meta's own inbox apps are human: list their app ids
  there. ``thread_id`` and ``customer_id`` are the customer's page-scoped id;
  ``event_id``: ``{platform}:message:{mid}``; time: ``timestamp``. Deleted messages,
  reads, deliveries, reactions and postbacks are not care events and are skipped.

Objects other than ``page`` and ``instagram`` (e.g. ``user``, ``permissions``) carry no
care events and are accepted with nothing sent: refusing them would make Meta retry
and, in the end, disable the subscription. Epoch numbers above 1e11 are read as milliseconds (Messenger), others as seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.config import MetaOptions
from connectors.webhook_payloads import (
    epoch,
    ident,
    items,
    obj,
    optional_ident,
    text,
)
from streams.events import AuthorType, CareEvent, Kind, Visibility

_PLATFORMS = {"page": "facebook", "instagram": "instagram"}


@dataclass(slots=True)
class MetaBatch:
    events: list[CareEvent] = field(default_factory=list)
    unknown_accounts: set[str] = field(default_factory=set)


def map_meta(payload: Any, options: MetaOptions, received_at: float) -> MetaBatch:
    """Every care event of one webhook delivery; PayloadError for a shape it cannot read."""
    document = obj(payload, "body")
    kind = document.get("object")
    platform = _PLATFORMS.get(kind) if isinstance(kind, str) else None
    if platform is None:  # a subscription this connector does not read (e.g. "user")
        return MetaBatch()
    brands = options.facebook_pages if platform == "facebook" else options.instagram_accounts
    batch = MetaBatch()
    for i, raw_entry in enumerate(items(document.get("entry"), "entry")):
        where = f"entry[{i}]"
        entry = obj(raw_entry, where)
        account = ident(entry.get("id"), f"{where}.id")
        brand = brands.get(account)
        if brand is None:
            batch.unknown_accounts.add(account)
            continue
        ctx = _Entry(platform, brand, account, entry.get("time"), options, received_at)
        for j, change in enumerate(items(entry.get("changes"), f"{where}.changes")):
            batch.events.extend(
                ctx.comment(obj(change, f"{where}.changes[{j}]"), f"{where}.changes[{j}]")
            )
        for key in ("messaging", "standby"):
            for j, message in enumerate(items(entry.get(key), f"{where}.{key}")):
                batch.events.extend(
                    ctx.message(obj(message, f"{where}.{key}[{j}]"), f"{where}.{key}[{j}]")
                )
    return batch


@dataclass(frozen=True, slots=True)
class _Entry:
    platform: str
    brand: str
    account: str
    entry_time: Any
    options: MetaOptions
    received_at: float

    def comment(self, change: Mapping[str, Any], where: str) -> list[CareEvent]:
        value = obj(change.get("value"), f"{where}.value")
        where = f"{where}.value"
        if self.platform == "facebook":
            if change.get("field") != "feed" or value.get("item") != "comment":
                return []
            if value.get("verb") != "add":  # edits, hides and removals are not new words
                return []
            comment_id = ident(value.get("comment_id"), f"{where}.comment_id")
            thread = ident(value.get("post_id"), f"{where}.post_id")
            when = value.get("created_time", self.entry_time)
            words = text(value.get("message"), f"{where}.message")
        else:
            if change.get("field") not in ("comments", "live_comments"):
                return []
            comment_id = ident(value.get("id"), f"{where}.id")
            thread = ident(obj(value.get("media"), f"{where}.media").get("id"), f"{where}.media.id")
            when = value.get("timestamp", self.entry_time)
            words = text(value.get("text"), f"{where}.text")
        parent = optional_ident(value.get("parent_id"), f"{where}.parent_id")
        top_level = comment_id if parent is None or parent == thread else parent
        author = value.get("from")
        author_id = None
        if author is not None:
            author_id = optional_ident(obj(author, f"{where}.from").get("id"), f"{where}.from.id")
        by_account = author_id == self.account
        if by_account and top_level == comment_id:
            return []  # the account's own top-level comment answers nobody
        return [
            self._event(
                f"{self.platform}:comment:{comment_id}",
                thread,
                top_level,
                epoch(when, f"{where}.created_time"),
                words,
                Visibility.PUBLIC,
                AuthorType.HUMAN if by_account else None,
            )
        ]

    def message(self, messaging: Mapping[str, Any], where: str) -> list[CareEvent]:
        raw = messaging.get("message")
        if raw is None:
            return []  # reads, deliveries, reactions, postbacks
        message = obj(raw, f"{where}.message")
        if message.get("is_deleted") is True:
            return []
        mid = ident(message.get("mid"), f"{where}.message.mid")
        sender = ident(
            obj(messaging.get("sender"), f"{where}.sender").get("id"), f"{where}.sender.id"
        )
        recipient = ident(
            obj(messaging.get("recipient"), f"{where}.recipient").get("id"), f"{where}.recipient.id"
        )
        by_account = message.get("is_echo") is True or sender == self.account
        customer = recipient if by_account else sender
        author = None
        if by_account:
            app = optional_ident(message.get("app_id"), f"{where}.message.app_id")
            human = app is None or app in self.options.human_app_ids
            author = AuthorType.HUMAN if human else AuthorType.BOT
        return [
            self._event(
                f"{self.platform}:message:{mid}",
                customer,
                customer,
                epoch(messaging.get("timestamp", self.entry_time), f"{where}.timestamp"),
                text(message.get("text"), f"{where}.message.text"),
                Visibility.PRIVATE,
                author,
            )
        ]

    def _event(
        self,
        event_id: str,
        thread: str,
        customer: str,
        occurred_at: float,
        words: str | None,
        visibility: Visibility,
        author: AuthorType | None,
    ) -> CareEvent:
        return CareEvent(
            event_id=event_id,
            kind=Kind.MESSAGE if author is None else Kind.REPLY,
            platform=self.platform,
            brand=self.brand,
            thread_id=thread,
            customer_id=customer,
            occurred_at=occurred_at,
            ingested_at=self.received_at,
            text=words,
            visibility=visibility,
            author_type=author,
        )
