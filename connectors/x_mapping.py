"""What on X is a carewatch event: the filtered-stream rules that select it, and the pure
mapping of X API v2 payloads (stream lines, timeline pages) to ``care.events.v1`` events.

No I/O and no tweepy here: :mod:`connectors.x` fetches the payloads (as the plain JSON
dicts X sends) and hands them over; the tests feed recorded payloads directly.

For each configured brand a post is:

- a **message** (the customer wrote) when its author is not one of the brand's accounts,
  it is not a retweet, and it mentions one of the brand's handles (``entities.mentions``),
  replies to a brand account (``in_reply_to_user_id``), or arrived through the brand's
  own rule or timeline when X left those fields out: the case is the author in the post's
  ``conversation_id``;
- a **reply** when its author is one of the brand's accounts and it answers a customer:
  ``in_reply_to_user_id``, else the author of the ``replied_to`` post from the includes,
  else, when the brand continues its own reply, the user that earlier reply answered. So
  in a thread many customers share (one ``conversation_id``), a reply lands in the case
  of the customer it answers. A brand post that answers nobody but the brand is no event.
  ``author_type`` is ``bot`` for a configured bot account, ``automation`` when the post's
  ``source`` (the posting app, when X supplies it) is a configured automation source,
  else ``human``.

``event_id`` is ``x:{post id}``, so a post delivered twice (a reconnect, backfill, a poll
overlapping the stream) is the same event; an edited post keeps the id of the original
(the first of its ``edit_history_tweet_ids``), so an edit is not a second message. A post that belongs to several configured
brands (a customer mentions two of them) gives one event per brand, with ids
``x:{post id}:{brand}``: ids stay globally unique, and still repeat exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from streams.errors import CarewatchError
from streams.events import LANG_PATTERN, AuthorType, CareEvent, Kind

PLATFORM: Final = "x"
RULE_TAG_PREFIX: Final = "carewatch:"
"""Tags of the stream rules carewatch owns; rules tagged otherwise are never touched."""

TWEET_FIELDS: Final = (
    "author_id",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "created_at",
    "lang",
    "entities",
    "source",  # the posting app: marks automation where X still supplies it
    "note_tweet",  # the full text of posts longer than 280 characters
)
EXPANSIONS: Final = ("author_id", "referenced_tweets.id", "in_reply_to_user_id")
USER_FIELDS: Final = ("username",)

NO_LANGUAGE: Final = frozenset({"und", "qam", "qct", "qht", "qme", "qst", "zxx"})
"""X's ``lang`` values that name no language: ``und`` (undetermined) and X's codes for
posts of only mentions, cashtags, hashtags, media links, very short text, or no
linguistic content. The event leaves ``lang`` out, so the stream detects it."""

MAX_TEXT: Final = 10_000
_LANG = re.compile(LANG_PATTERN)
_POST_ID = re.compile(r"[0-9]{1,19}")

CustomerIds = Callable[[str], str]
"""Turns an X user id into the event's ``customer_id``. The identity by default; the hook
where a pseudonymising function goes."""


class MalformedPost(CarewatchError):
    """A payload that is not an X post carewatch can read (counted as ``malformed``)."""


@dataclass(frozen=True, slots=True)
class BrandAccounts:
    """One brand's X accounts. ``account_ids`` holds every account of ``handles`` (bot
    accounts included); ``bot_account_ids`` the ones whose replies are ``bot``."""

    brand: str
    handles: tuple[str, ...]
    account_ids: frozenset[str]
    bot_account_ids: frozenset[str] = frozenset()
    automation_sources: frozenset[str] = frozenset()

    @property
    def handle_keys(self) -> frozenset[str]:
        """Handles as X compares them: without ``@``, case-insensitively."""
        return frozenset(h.lower() for h in self.handles)


@dataclass(frozen=True, slots=True)
class StreamRule:
    value: str
    tag: str


def stream_rules(brand: BrandAccounts) -> tuple[StreamRule, StreamRule]:
    """The brand's two filtered-stream rules: customers' mentions (no retweets, none by
    the brand) and the brand's own replies, e.g. ``@du_care -is:retweet -from:du_care``
    and ``from:du_care is:reply``; several handles are OR-ed in one rule of each kind."""
    mentions = _any(f"@{h}" for h in brand.handles)
    authors = _any(f"from:{h}" for h in brand.handles)
    not_brand = " ".join(f"-from:{h}" for h in brand.handles)
    return (
        StreamRule(
            f"{mentions} -is:retweet {not_brand}", f"{RULE_TAG_PREFIX}{brand.brand}:mention"
        ),
        StreamRule(f"{authors} is:reply", f"{RULE_TAG_PREFIX}{brand.brand}:reply"),
    )


def _any(terms: Iterable[str]) -> str:
    listed = list(terms)
    return listed[0] if len(listed) == 1 else "(" + " OR ".join(listed) + ")"


@dataclass(frozen=True, slots=True)
class RuleChanges:
    add: tuple[StreamRule, ...]
    delete: tuple[str, ...]  # rule ids
    foreign: tuple[str, ...]  # values of rules not tagged by carewatch, left alone


def rule_changes(
    existing: Iterable[Mapping[str, Any]], wanted: Iterable[StreamRule]
) -> RuleChanges:
    """What makes the stream's rules equal ``wanted``: carewatch-tagged rules not wanted
    are deleted (delete before add: X refuses a value that exists already), wanted rules
    missing are added. A rule of the same value with a foreign tag already selects those
    posts (the mapping does not depend on tags), so it is kept and not added twice."""
    wanted_set = set(wanted)
    kept: set[StreamRule] = set()
    delete: list[str] = []
    foreign: dict[str, str] = {}
    for rule in existing:
        value, tag = str(rule.get("value", "")), str(rule.get("tag") or "")
        current = StreamRule(value, tag)
        if current in wanted_set:
            kept.add(current)
        elif tag.startswith(RULE_TAG_PREFIX):
            delete.append(str(rule["id"]))
        else:
            foreign[value] = tag
    add = tuple(
        sorted(
            (r for r in wanted_set - kept if r.value not in foreign),
            key=lambda r: r.tag,
        )
    )
    return RuleChanges(add, tuple(delete), tuple(sorted(foreign)))


@dataclass(frozen=True, slots=True)
class Includes:
    """A payload's ``includes``, indexed by id (users and referenced posts)."""

    users: Mapping[str, Mapping[str, Any]]
    posts: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_doc(cls, includes: object) -> Includes:
        if not isinstance(includes, Mapping):
            return cls({}, {})
        return cls(_index(includes.get("users")), _index(includes.get("tweets")))


def _index(items: object) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(i["id"]): i for i in items if isinstance(i, Mapping) and "id" in i}


def events_from_stream_line(
    doc: Mapping[str, Any],
    brands: Sequence[BrandAccounts],
    *,
    ingested_at: float,
    customer_ids: CustomerIds = str,
) -> list[CareEvent]:
    """The events of one filtered-stream line (``{"data", "includes", "matching_rules"}``).

    Raises :class:`MalformedPost` when ``data`` is not a readable post. The brands of the
    rules that matched (their ``carewatch:{brand}:...`` tags) count as mentioned when X
    left the entities out.
    """
    hinted = _rule_brands(doc.get("matching_rules"))
    return events_from_post(
        doc.get("data"),
        Includes.from_doc(doc.get("includes")),
        brands,
        ingested_at=ingested_at,
        customer_ids=customer_ids,
        hinted=hinted,
    )


def _rule_brands(matching_rules: object) -> frozenset[str]:
    """The brands named by the ``carewatch:{brand}:{kind}`` tags of the matching rules."""
    if not isinstance(matching_rules, list):
        return frozenset()
    tags = (r.get("tag") for r in matching_rules if isinstance(r, Mapping))
    return frozenset(
        tag.split(":")[1]
        for tag in tags
        if isinstance(tag, str) and tag.startswith(RULE_TAG_PREFIX) and tag.count(":") >= 2
    )


def events_from_page(
    doc: Mapping[str, Any],
    brands: Sequence[BrandAccounts],
    *,
    hinted: frozenset[str],
    ingested_at: float,
    customer_ids: CustomerIds = str,
) -> tuple[list[CareEvent], int]:
    """The events of one timeline page (``{"data": [...], "includes", "meta"}``) and the
    number of malformed posts skipped. ``hinted``: the brands whose timeline this is."""
    data = doc.get("data")
    posts = data if isinstance(data, list) else []
    includes = Includes.from_doc(doc.get("includes"))
    events: list[CareEvent] = []
    malformed = 0
    for post in posts:
        try:
            events.extend(
                events_from_post(
                    post,
                    includes,
                    brands,
                    ingested_at=ingested_at,
                    customer_ids=customer_ids,
                    hinted=hinted,
                )
            )
        except MalformedPost:
            malformed += 1
    return events, malformed


def events_from_post(
    post: object,
    includes: Includes,
    brands: Sequence[BrandAccounts],
    *,
    ingested_at: float,
    customer_ids: CustomerIds = str,
    hinted: frozenset[str] = frozenset(),
) -> list[CareEvent]:
    """The events one post gives, one per brand it belongs to (usually none or one)."""
    if not isinstance(post, Mapping):
        raise MalformedPost("the post is not an object")
    post_id = _text_field(post, "id")
    if not _POST_ID.fullmatch(post_id):
        raise MalformedPost(f"not an X post id: {post_id[:32]!r}")
    author = _text_field(post, "author_id")
    occurred_at = _created_at(post)
    if "retweeted" in _referenced(post):
        return []
    roles = [
        (brand, role)
        for brand in brands
        if (role := _role(post, author, includes, brand, brand.brand in hinted)) is not None
    ]
    thread = str(post.get("conversation_id") or post_id)
    text = _post_text(post)
    lang = _lang(post.get("lang"))
    events = []
    for brand, (kind, customer) in roles:
        first = _original_id(post, post_id)
        event_id = f"x:{first}" if len(roles) == 1 else f"x:{first}:{brand.brand}"
        events.append(
            CareEvent(
                event_id=event_id,
                kind=kind,
                platform=PLATFORM,
                brand=brand.brand,
                thread_id=thread,
                customer_id=customer_ids(customer),
                occurred_at=occurred_at,
                ingested_at=ingested_at,
                text=text,
                lang=lang,
                author_type=_author_type(post, author, brand) if kind is Kind.REPLY else None,
            )
        )
    return events


def _role(
    post: Mapping[str, Any], author: str, includes: Includes, brand: BrandAccounts, hinted: bool
) -> tuple[Kind, str] | None:
    """``(kind, customer's X user id)`` of the post for this brand, or None."""
    if author in brand.account_ids:
        customer = _answered_customer(post, includes, brand)
        return None if customer is None else (Kind.REPLY, customer)
    if hinted or _addresses(post, brand):
        return Kind.MESSAGE, author
    return None


def _addresses(post: Mapping[str, Any], brand: BrandAccounts) -> bool:
    if str(post.get("in_reply_to_user_id") or "") in brand.account_ids:
        return True
    entities = post.get("entities")
    mentions = entities.get("mentions") if isinstance(entities, Mapping) else None
    if not isinstance(mentions, list):
        return False
    keys = brand.handle_keys
    return any(
        isinstance(m, Mapping)
        and (
            str(m.get("username", "")).lower() in keys or str(m.get("id", "")) in brand.account_ids
        )
        for m in mentions
    )


def _answered_customer(
    post: Mapping[str, Any], includes: Includes, brand: BrandAccounts
) -> str | None:
    """The customer a brand post answers: the user replied to, else the replied-to post's
    author (from includes), else, when the brand answers its own earlier reply, the user
    that reply answered. None when the post answers nobody outside the brand."""
    candidates = [post.get("in_reply_to_user_id")]
    parent_id = _referenced(post).get("replied_to")
    parent = includes.posts.get(parent_id) if parent_id else None
    if parent is not None:
        candidates += [parent.get("author_id"), parent.get("in_reply_to_user_id")]
    for candidate in candidates:
        if candidate and str(candidate) not in brand.account_ids:
            return str(candidate)
    return None


def _author_type(post: Mapping[str, Any], author: str, brand: BrandAccounts) -> AuthorType:
    if author in brand.bot_account_ids:
        return AuthorType.BOT
    if post.get("source") in brand.automation_sources:
        return AuthorType.AUTOMATION
    return AuthorType.HUMAN


def _original_id(post: Mapping[str, Any], post_id: str) -> str:
    """The id of the post as first written: an edit is a new post whose
    ``edit_history_tweet_ids`` starts with the original's id, and it is the same event."""
    history = post.get("edit_history_tweet_ids")
    first = history[0] if isinstance(history, list) and history else post_id
    return first if isinstance(first, str) and _POST_ID.fullmatch(first) else post_id


def _referenced(post: Mapping[str, Any]) -> dict[str, str]:
    """``{type: post id}`` of ``referenced_tweets`` (replied_to, quoted, retweeted)."""
    refs = post.get("referenced_tweets")
    if not isinstance(refs, list):
        return {}
    return {
        str(r["type"]): str(r["id"])
        for r in refs
        if isinstance(r, Mapping) and "type" in r and "id" in r
    }


def _text_field(post: Mapping[str, Any], name: str) -> str:
    value = post.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedPost(f"field {name!r} missing or not a string")
    return value


def _created_at(post: Mapping[str, Any]) -> float:
    raw = _text_field(post, "created_at")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedPost(f"created_at is not a timestamp: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        raise MalformedPost(f"created_at has no offset: {raw[:40]!r}")
    return moment.timestamp()


def _post_text(post: Mapping[str, Any]) -> str | None:
    note = post.get("note_tweet")
    text = note.get("text") if isinstance(note, Mapping) else None
    if not isinstance(text, str):
        text = post.get("text")
    if not isinstance(text, str):
        return None
    # X escapes exactly these three characters in v2 text; "&amp;" last, so that a
    # literal "&amp;lt;" (as X sends a typed "&lt;") comes back as typed.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text[:MAX_TEXT]


def _lang(value: object) -> str | None:
    if not isinstance(value, str) or value in NO_LANGUAGE or not _LANG.fullmatch(value):
        return None
    return value
