"""The brands' X accounts: the user id of every configured handle, looked up at start.

An unknown handle, or a bot account (``id:NNN``) that is none of the brands' accounts,
stops the connector with a :class:`~streams.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import functools
from typing import Any

from connectors.x_backoff import Retrier
from connectors.x_mapping import BrandAccounts
from connectors.x_settings import XSettings
from streams.errors import ConfigError


def resolve_brands(client: Any, settings: XSettings, retrier: Retrier) -> list[BrandAccounts]:
    """Look up the user id of every configured handle (``GET /2/users/by``, 100 at a time)."""
    handles = settings.brand_handles()
    listed = [h for hs in handles.values() for h in hs]
    ids: dict[str, str] = {}
    for start in range(0, len(listed), 100):
        chunk = listed[start : start + 100]
        lookup = functools.partial(client.get_users, usernames=chunk, user_fields=["username"])
        doc = retrier.call("GET /2/users/by", lookup)
        for user in doc.get("data") or ():
            ids[str(user["username"]).lower()] = str(user["id"])
    missing = [h for h in listed if h.lower() not in ids]
    if missing:
        raise ConfigError("CAREWATCH_X_BRANDS", f"no X account for {', '.join(missing)}")
    bot_handles, bot_ids = settings.bot_handles()
    every_id = set(ids.values())
    if not bot_ids <= every_id:
        unknown = ", ".join(sorted(bot_ids - every_id))
        raise ConfigError(
            "CAREWATCH_X_BOT_ACCOUNTS", f"id:{unknown} is none of the brands' accounts"
        )
    bots = bot_ids | {ids[h] for h in bot_handles}
    sources = frozenset(s.strip() for s in settings.automation_sources.split(",") if s.strip())
    brands = []
    for brand, hs in handles.items():
        account_ids = frozenset(ids[h.lower()] for h in hs)
        brands.append(BrandAccounts(brand, hs, account_ids, account_ids & bots, sources))
    return brands
