"""Polling mode, for accounts without filtered-stream access: each brand account's
mentions (``GET /2/users/:id/mentions``) and own posts (``GET /2/users/:id/tweets``), all
pages since the ``since_id`` checkpoint kept in a JSON file (:mod:`connectors.x_checkpoint`).

A poll's checkpoints move only after the sink acknowledged all of its events: delivery
is at least once, and a repeat carries the same ``event_id``.

No tweepy here: the REST client (``connectors.x.make_client``) and what its exceptions
mean (``connectors.x.rest_failure``) are handed in.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.x_backoff import BackoffPolicy, Classify, Retrier
from connectors.x_checkpoint import SinceIds, timeline_key
from connectors.x_delivery import EventSink, checked, deliver
from connectors.x_mapping import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    BrandAccounts,
    CustomerIds,
    events_from_page,
)
from streams.events import CareEvent
from streams.metrics import ConnectorMetrics


@dataclass(frozen=True, slots=True)
class _Fetched:
    events: list[CareEvent]
    newest: dict[str, str]  # checkpoint key -> newest post id seen


class XPoller:
    """Polls each brand account's mentions and own posts since the checkpoint.

    Per brand: every page of both timelines of every account is fetched (newest first,
    ``pagination_token`` until X gives none), the events are sent in ``occurred_at``
    order, and only then are the timelines' checkpoints moved to the newest ids.
    ``client`` is ``connectors.x.make_client``'s; ``classify`` reads its failed calls
    (``connectors.x.rest_failure``).
    """

    def __init__(
        self,
        client: Any,
        brands: Sequence[BrandAccounts],
        sink: EventSink,
        metrics: ConnectorMetrics,
        since_ids: SinceIds,
        *,
        classify: Classify,
        lookback: float = 3600.0,
        policy: BackoffPolicy | None = None,
        customer_ids: CustomerIds = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.brands = list(brands)
        self.sink = sink
        self.metrics = metrics
        self.since_ids = since_ids
        self.lookback = lookback
        self.policy = policy or BackoffPolicy()
        self.customer_ids = customer_ids
        self.clock = clock
        self.retrier = Retrier(metrics, self.policy, classify)

    async def run(self, interval: float) -> None:
        """Poll every ``interval`` seconds until cancelled."""
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(interval)
        finally:
            self.retrier.stop()
            self.metrics.up(False)

    async def poll_once(self) -> int:
        """One round over every brand; returns the number of events sent."""
        sent = 0
        for brand in self.brands:
            fetched = await asyncio.to_thread(self._fetch, brand)
            events = checked(fetched.events, self.metrics)
            if events:
                await deliver(self.sink, events, self.policy)
            self.since_ids.advance(fetched.newest)
            sent += len(events)
        self.metrics.up(True)
        return sent

    def _fetch(self, brand: BrandAccounts) -> _Fetched:
        events: dict[str, CareEvent] = {}
        newest: dict[str, str] = {}
        for account in sorted(brand.account_ids):
            for timeline in ("mentions", "tweets"):
                key = timeline_key(brand.brand, account, timeline)
                hinted = frozenset({brand.brand}) if timeline == "mentions" else frozenset()
                for page in self._pages(account, timeline, self.since_ids.get(key)):
                    found, malformed = events_from_page(
                        page,
                        self.brands,
                        hinted=hinted,
                        ingested_at=self.clock(),
                        customer_ids=self.customer_ids,
                    )
                    for _ in range(malformed):
                        self.metrics.error("malformed")
                    events.update((e.event_id, e) for e in found)
                    top = (page.get("meta") or {}).get("newest_id")
                    if top and int(top) > int(newest.get(key, "0")):
                        newest[key] = str(top)
        ordered = sorted(events.values(), key=lambda e: (e.occurred_at, e.event_id))
        return _Fetched(ordered, newest)

    def _pages(self, account: str, timeline: str, since_id: str | None) -> Iterable[dict[str, Any]]:
        method = (
            self.client.get_users_mentions
            if timeline == "mentions"
            else self.client.get_users_tweets
        )
        params: dict[str, Any] = {
            "max_results": 100,
            "expansions": list(EXPANSIONS),
            "tweet_fields": list(TWEET_FIELDS),
            "user_fields": list(USER_FIELDS),
        }
        if timeline == "tweets":
            params["exclude"] = ["retweets"]
        if since_id is not None:
            params["since_id"] = since_id
        elif self.lookback:
            params["start_time"] = datetime.fromtimestamp(self.clock(), UTC) - timedelta(
                seconds=self.lookback
            )
        token: str | None = None
        while True:
            page_params = dict(params, pagination_token=token) if token else params
            request = functools.partial(method, account, **page_params)
            page: dict[str, Any] = self.retrier.call(f"GET /2/users/:id/{timeline}", request)
            yield page
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return
