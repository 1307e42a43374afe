"""Who to answer next: the waiting cases, served from the workers' case tables.

- ``GET /cases/waiting?brand=&platform=&priority=&limit=``: every case waiting for a
  reply, oldest first, across all workers. The worker asked fetches each other
  worker's part (``scope=local``) and merges them: the parts are small (waiting cases
  only, already filtered) and each worker knows only its own partitions, so a merge at
  the asking worker is the one place that sees them all.
- ``GET /cases/{case_key}``: one case's state, answered by the worker that owns its
  partition, wherever the request lands (routed like Faust's table views).

Correctness during a rebalance: a worker answers only while it is not rebalancing and
its loaded partitions (``CaseStore.ready``) are exactly the ones assigned to it in the
consumer group generation it is in, and only if every loaded partition holding cases
has a stream clock. Each part carries that generation; a merged list is returned only
when every part comes from the asking worker's current generation and the parts cover
every partition exactly once. Otherwise the answer is 503 with ``Retry-After``, never a
list with a case missing. Every view needs ``Authorization: Bearer <token>``
(``CAREWATCH_API_TOKEN``); without a configured token the views answer 403. States
hold no customer text, so none can leak.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING, Any

import aiohttp
from faust.web import Request, Response, View

from streams.clocks import CaseState, rfc3339
from streams.openapi import SPEC
from streams.processor import partition_for

if TYPE_CHECKING:
    from streams.app import Worker

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5)


class Unavailable(Exception):
    """The list cannot be complete right now (a rebalance, a worker not answering)."""


def conversation_link(state: CaseState) -> str | None:
    """A link to the conversation on its platform, where one can be built from the case key."""
    platform, _brand, rest = state.key.split(":", 2)
    thread = rest.rsplit(":", 1)[0]
    if platform == "x" and thread.isdigit():
        return f"https://x.com/i/web/status/{thread}"
    if platform in ("facebook", "instagram") and thread.replace("_", "").isdigit():
        return f"https://www.facebook.com/{thread}"
    return None


def waiting_row(state: CaseState, clock: float) -> dict[str, Any] | None:
    """The JSON row of a waiting case, or None when nobody waits in it."""
    since = state.awaiting_since
    reply = state.reply
    if since is None or reply is None or not state.is_open:
        return None
    deadline = reply.deadline
    return {
        "case_key": state.key,
        "brand": state.brand,
        "platform": state.platform,
        "priority": state.priority.value,
        "sla": reply.sla.value,
        "cycle": state.cycle,
        "waiting_since": rfc3339(since),
        "waiting_since_ts": since,  # POSIX seconds: the sort key (RFC 3339 strings do not sort)
        "waiting_seconds": round(max(0.0, clock - since), 3),
        "deadline": None if deadline is None else rfc3339(deadline),
        "time_left_seconds": None if deadline is None else round(deadline - clock, 3),
        "link": conversation_link(state),
    }


def _oldest_first(row: dict[str, Any]) -> tuple[float, str]:
    return (float(row["waiting_since_ts"]), str(row["case_key"]))


def _matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(row[name] == value for name, value in filters.items())


def assigned_partitions(worker: Worker) -> set[int]:
    """The partitions of the events topic assigned to this worker now (actives)."""
    topic = worker.settings.events_topic
    return {tp.partition for tp in worker.app.assignor.assigned_actives() if tp.topic == topic}


def unready_reason(worker: Worker) -> str | None:
    """Why this worker cannot answer for its partitions now, or None when it can."""
    if worker.app.rebalancing:
        return "rebalancing"
    generation: int = worker.app.consumer_generation_id
    return worker.store.unready_reason(assigned_partitions(worker), generation)


def local_part(worker: Worker, filters: dict[str, str]) -> dict[str, Any]:
    """This worker's waiting cases, oldest first, with the partitions they cover and the
    consumer group generation they belong to; Unavailable when it cannot answer."""
    reason = unready_reason(worker)
    if reason is not None:
        raise Unavailable(reason)
    generation = worker.app.consumer_generation_id
    ready = sorted(worker.store.ready)
    rows = []
    for partition in ready:
        cases = list(worker.store.cases(partition))
        clock = worker.processor.clock(partition)
        if clock is None:
            if cases:  # never skip them: the part would claim the partition, short
                raise Unavailable(f"partition {partition} has cases but no stream clock yet")
            continue
        for state in cases:
            row = waiting_row(state, clock)
            if row is not None and _matches(row, filters):
                rows.append(row)
    # A rebalance starts from the consumer's own thread: it must not have begun meanwhile.
    if unready_reason(worker) is not None:
        raise Unavailable("rebalanced while reading")
    rows.sort(key=_oldest_first)
    return {"generation": generation, "partitions": ready, "cases": rows}


def merge_parts(
    parts: list[dict[str, Any]], generation: int, partitions: int, limit: int
) -> list[dict[str, Any]]:
    """The parts merged, oldest first: only when they all come from ``generation`` and
    cover the partitions ``0 .. partitions - 1`` exactly once."""
    generations = [part.get("generation") for part in parts]
    if any(g != generation for g in generations):
        raise Unavailable(f"parts from generations {generations}, asked at {generation}")
    covered = sorted(p for part in parts for p in part["partitions"])
    if covered != list(range(partitions)):
        raise Unavailable(f"partitions covered {covered}")
    rows = [row for part in parts for row in part["cases"]]
    rows.sort(key=_oldest_first)
    return rows[:limit]


async def merged(
    worker: Worker, filters: dict[str, str], limit: int, token: str
) -> list[dict[str, Any]]:
    """Every worker's part, checked to come from one generation and to cover all
    partitions exactly once, merged."""
    me = str(worker.app.conf.canonical_url).rstrip("/")
    hosts = [str(url).rstrip("/") for url in worker.app.router.table_metadata(worker.table.name)]
    mine = local_part(worker, filters)
    others = [h for h in hosts if h != me]
    async with aiohttp.ClientSession(timeout=FETCH_TIMEOUT) as session:
        parts = [mine]
        parts += await asyncio.gather(*(_fetch_part(session, h, filters, token) for h in others))
    if (
        unready_reason(worker) is not None
        or worker.app.consumer_generation_id != mine["generation"]
    ):
        raise Unavailable("rebalanced while asking the other workers")
    return merge_parts(parts, mine["generation"], worker.settings.partitions, limit)


async def _fetch_part(
    session: aiohttp.ClientSession, host: str, filters: dict[str, str], token: str
) -> dict[str, Any]:
    params = {**filters, "scope": "local"}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with session.get(f"{host}/cases/waiting", params=params, headers=headers) as r:
            if r.status != 200:
                raise Unavailable(f"{host} answered {r.status}")
            part: dict[str, Any] = await r.json()
            return part
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"{host} unreachable") from exc


def authorised(request: Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def install_views(worker: Worker) -> None:
    app = worker.app
    token = worker.settings.api_token

    def refuse(view: View, request: Request) -> Response | None:
        if not token:
            return view.json({"error": "no API token configured (CAREWATCH_API_TOKEN)"}, status=403)
        if not authorised(request, token):
            return view.json({"error": "missing or wrong bearer token"}, status=401)
        return None

    @app.page("/openapi.json")
    async def openapi(view: View, request: Request) -> Response:
        return view.json(SPEC)

    @app.page("/cases/waiting")
    async def waiting(view: View, request: Request) -> Response:
        refused = refuse(view, request)
        if refused is not None:
            return refused
        query = request.query
        filters = {k: query[k] for k in ("brand", "platform", "priority") if query.get(k)}
        try:
            limit = max(1, min(10_000, int(query.get("limit", "50"))))
            if query.get("scope") == "local":
                return view.json(local_part(worker, filters))
            rows = await merged(worker, filters, limit, token)
        except ValueError:
            return view.json({"error": "limit must be a whole number"}, status=400)
        except Unavailable as exc:
            return view.json(
                {"error": f"try again: {exc}"}, status=503, headers={"Retry-After": "1"}
            )
        return view.json({"cases": rows, "count": len(rows)})

    @app.page("/cases/{case_key:.+}")  # keys may hold any character
    async def one_case(view: View, request: Request, case_key: str) -> Response:
        refused = refuse(view, request)
        if refused is not None:
            return refused
        partition = partition_for(case_key, worker.settings.partitions)
        if partition in worker.store.ready and unready_reason(worker) is None:
            state = worker.store.get(partition, case_key)
            if state is None:
                return view.json({"error": "no such case"}, status=404)
            return view.json({"partition": partition, "state": state.to_dict()})
        if request.query.get("scope") == "local":
            return view.json({"error": "not owned here"}, status=503, headers={"Retry-After": "1"})
        return await _route(view, request, worker, case_key, partition, token)


async def _route(
    view: View, request: Request, worker: Worker, key: str, partition: int, token: str
) -> Response:
    """Ask the worker that owns ``partition`` (``scope=local`` so it never routes again)."""
    for host, topics in worker.app.router.table_metadata(worker.table.name).items():
        if any(partition in partitions for partitions in topics.values()):
            url = f"{str(host).rstrip('/')}/cases/{key}"
            headers = {"Authorization": f"Bearer {token}"}
            try:
                async with (
                    aiohttp.ClientSession(timeout=FETCH_TIMEOUT) as session,
                    session.get(url, params={"scope": "local"}, headers=headers) as r,
                ):
                    return view.json(await r.json(), status=r.status)
            except (aiohttp.ClientError, TimeoutError):
                break
    return view.json(
        {"error": "owner unknown or unreachable"}, status=503, headers={"Retry-After": "1"}
    )
