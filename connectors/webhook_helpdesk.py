"""Chatwoot webhooks as contract events.

Chatwoot posts one event per request (its published formats: ``message_created`` is the
message with its ``conversation``, ``sender`` and ``account``;
``conversation_status_changed`` is the conversation itself, with ``changed_attributes``).
Other events (``conversation_created``, ``message_updated``, ...) carry no care event and
are accepted with nothing sent.

The account comes from the URL (``/chatwoot/{account_id}``, configured with its brand),
because a status payload does not name it; a payload naming another account is refused.

Mapping:

- ``thread_id`` is ``{account_id}:{conversation id}`` (Chatwoot numbers conversations per
  account), ``customer_id`` the conversation's contact id, ``platform`` the inbox's
  channel (:data:`CHANNEL_PLATFORMS`; unknown channels are ``chatwoot``), ``priority``
  the conversation's (``medium`` is ``normal``) when it has one.
- ``message_created``: ``incoming`` is a private ``message``; a ``private`` note is a
  ``reply`` with visibility ``internal``; ``outgoing`` and ``template`` are private
  ``reply`` events whose ``author_type`` is ``human`` for an agent (``sender.type`` user),
  ``bot`` for an agent bot, and ``automation`` when there is no sender (automation rules,
  campaigns, templates); ``activity`` messages are skipped. ``agent_id`` is the agent's
  id. ``event_id``: ``chatwoot:{account_id}:message:{id}``; time: ``created_at``.
- ``conversation_status_changed``: ``resolved``, ``open`` (``reopened`` when
  ``changed_attributes`` says it was resolved), ``pending``, and ``snoozed`` as
  ``pending`` (the customer is waited for). ``event_id``:
  ``chatwoot:{account_id}:conversation:{id}:{status}:{updated_at}``, so a redelivery
  keeps its id and a later change of the same kind gets a new one; time: ``updated_at``
  (else ``timestamp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.webhook_payloads import PayloadError, epoch, ident, items, obj, text
from streams.events import AuthorType, CareEvent, Kind, Priority, Status, Visibility

CHANNEL_PLATFORMS: Final[Mapping[str, str]] = {
    "Channel::WebWidget": "webchat",
    "Channel::Email": "email",
    "Channel::FacebookPage": "facebook",
    "Channel::Instagram": "instagram",
    "Channel::TwitterProfile": "x",
    "Channel::Telegram": "telegram",
    "Channel::Whatsapp": "whatsapp",
    "Channel::Sms": "sms",
    "Channel::TwilioSms": "sms",
    "Channel::Line": "line",
    "Channel::Api": "api",
}
_PRIORITIES: Final = {
    "urgent": Priority.URGENT,
    "high": Priority.HIGH,
    "medium": Priority.NORMAL,
    "low": Priority.LOW,
}
_STATUSES: Final = {
    "open": Status.OPEN,
    "resolved": Status.RESOLVED,
    "pending": Status.PENDING,
    "snoozed": Status.PENDING,
}
_MESSAGE_TYPES: Final = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}
_AUTHORS: Final = {"user": AuthorType.HUMAN, "agent_bot": AuthorType.BOT}


def map_chatwoot(payload: Any, account: str, brand: str, received_at: float) -> list[CareEvent]:
    """The care events of one Chatwoot delivery (none for events that carry none)."""
    document = obj(payload, "body")
    event = document.get("event")
    if event == "message_created":
        return _message(document, account, brand, received_at)
    if event == "conversation_status_changed":
        return [_status(document, account, brand, received_at)]
    return []


def _message(doc: Mapping[str, Any], account: str, brand: str, now: float) -> list[CareEvent]:
    _same_account(doc.get("account"), account)
    conversation = obj(doc.get("conversation"), "conversation")
    kind = doc.get("message_type")
    kind = _MESSAGE_TYPES.get(kind, kind) if isinstance(kind, int) else kind
    if kind == "activity":
        return []
    if kind not in ("incoming", "outgoing", "template"):
        raise PayloadError("bad_enum", "message_type: expected incoming, outgoing or template")
    private = doc.get("private") is True
    sender = doc.get("sender")
    sender = obj(sender, "sender") if sender is not None else {}
    author, agent = None, None
    if private or kind != "incoming":
        role = sender.get("type")
        author = _AUTHORS.get(role, AuthorType.AUTOMATION) if isinstance(role, str) else None
        author = author or AuthorType.AUTOMATION
        if author is AuthorType.HUMAN and "id" in sender:
            agent = ident(sender.get("id"), "sender.id")
    message_id = ident(doc.get("id"), "id")
    return [
        CareEvent(
            event_id=f"chatwoot:{account}:message:{message_id}",
            kind=Kind.MESSAGE if author is None else Kind.REPLY,
            visibility=Visibility.INTERNAL if private else Visibility.PRIVATE,
            author_type=author,
            agent_id=agent,
            occurred_at=epoch(doc.get("created_at"), "created_at"),
            text=text(doc.get("content"), "content"),
            **_case(conversation, "conversation", account, brand, now),
        )
    ]


def _status(doc: Mapping[str, Any], account: str, brand: str, now: float) -> CareEvent:
    for i, message in enumerate(items(doc.get("messages"), "messages")):
        _same_account({"id": obj(message, f"messages[{i}]").get("account_id")}, account)
    raw = doc.get("status")
    status = _STATUSES.get(raw) if isinstance(raw, str) else None
    if status is None:
        raise PayloadError("bad_enum", "status: expected open, resolved, pending or snoozed")
    if status is Status.OPEN and _previous_status(doc) == "resolved":
        status = Status.REOPENED
    when = doc.get("updated_at", doc.get("timestamp"))
    occurred_at = epoch(when, "updated_at")
    case = _case(doc, "", account, brand, now)
    return CareEvent(
        event_id=f"chatwoot:{account}:conversation:{ident(doc.get('id'), 'id')}:{raw}:{occurred_at:.6f}",
        kind=Kind.STATUS,
        status=status,
        occurred_at=occurred_at,
        **case,
    )


def _case(
    conversation: Mapping[str, Any], where: str, account: str, brand: str, now: float
) -> dict[str, Any]:
    """The fields every event of a conversation shares."""
    at = f"{where}." if where else ""
    meta = conversation.get("meta")
    contact = obj(meta, f"{at}meta").get("sender") if meta is not None else None
    if contact is not None:
        customer = ident(obj(contact, f"{at}meta.sender").get("id"), f"{at}meta.sender.id")
    else:
        inbox = obj(conversation.get("contact_inbox"), f"{at}contact_inbox")
        customer = ident(inbox.get("contact_id"), f"{at}contact_inbox.contact_id")
    channel = conversation.get("channel")
    priority = conversation.get("priority")
    return {
        "platform": CHANNEL_PLATFORMS.get(channel, "chatwoot")
        if isinstance(channel, str)
        else "chatwoot",
        "brand": brand,
        "thread_id": f"{account}:{ident(conversation.get('id'), f'{at}id')}",
        "customer_id": customer,
        "ingested_at": now,
        "priority": _PRIORITIES.get(priority) if isinstance(priority, str) else None,
    }


def _same_account(value: Any, account: str) -> None:
    if value is None:
        return
    given = obj(value, "account").get("id")
    if given is not None and ident(given, "account.id") != account:
        raise PayloadError("bad_enum", "account.id: not the account of this URL")


def _previous_status(doc: Mapping[str, Any]) -> Any:
    for change in items(doc.get("changed_attributes"), "changed_attributes"):
        if isinstance(change, dict) and isinstance(change.get("status"), dict):
            return change["status"].get("previous_value")
    return None
