"""A local X API v2 for the X connector's tests, on 127.0.0.1, over real HTTP.

It serves the endpoints the connector uses, in X's published formats:

- ``GET /2/tweets/search/stream``: JSON lines (``{"data", "includes", "matching_rules"}``)
  and ``\\r\\n`` heartbeats, chunked; each connection plays the next script of
  :meth:`FakeX.script_stream` (posts, raw lines, heartbeats, a dropped connection, a clean
  close, a silence, or an HTTP error status first), then holds the connection open with
  heartbeats, sending whatever :meth:`FakeX.push` queues;
- ``GET``/``POST /2/tweets/search/stream/rules``: the rule list, add and delete (a value
  that exists already is refused as ``DuplicateRule``, as X does). A post is streamed
  only when a current rule matches it: the fake evaluates the operators carewatch's rules
  use (``@handle``, ``from:``, ``is:reply``, ``is:retweet``, ``-``, ``( OR )``);
- ``GET /2/users/by``: handle lookup;
- ``GET /2/users/:id/mentions`` and ``/tweets``: newest first, ``since_id``,
  ``start_time``, ``exclude=retweets``, ``max_results`` (capped by ``page_size``) and
  ``pagination_token``/``meta.next_token``.

:meth:`FakeX.fail` makes the next matching REST requests answer an error status (429
with ``x-rate-limit-reset``, 503, ...). Every request is recorded with its wall-clock
time. The app runs on an event loop in a thread of its own, so tweepy's blocking calls
and the test's event loop both reach it like a remote server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from streams.errors import CarewatchError
from streams.events import CareEvent


@dataclass(frozen=True)
class Step:
    """One step of a scripted stream connection (build them with the functions below)."""

    kind: str
    post_id: str = ""
    data: bytes = b""
    seconds: float = 0.0
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)


def post(post_id: str) -> Step:
    """Send the stored post as X would (when a current rule matches it)."""
    return Step("post", post_id=post_id)


def raw(data: bytes) -> Step:
    """Send ``data`` as one line, as is (a malformed line, an error message)."""
    return Step("raw", data=data)


def heartbeat() -> Step:
    return Step("heartbeat")


def drop() -> Step:
    """Abort the TCP connection mid-stream (no terminating chunk)."""
    return Step("drop")


def close() -> Step:
    """End the response cleanly."""
    return Step("close")


def stall(seconds: float) -> Step:
    """Send nothing, not even heartbeats, for ``seconds``; then end the response."""
    return Step("stall", seconds=seconds)


def status(code: int, headers: Mapping[str, str] | None = None) -> Step:
    """Answer the connection attempt with this HTTP status (must be the only step)."""
    return Step("status", status=code, headers=dict(headers or {}))


def rate_limited(reset_in: int = 2) -> Step:
    """HTTP 429 whose ``x-rate-limit-reset`` is ``reset_in`` whole seconds ahead."""
    reset = int(time.time()) + reset_in
    return status(429, {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"})


@dataclass(frozen=True)
class Recorded:
    at: float  # time.time()
    method: str
    path: str
    query: Mapping[str, str]
    status: int


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    headers: Mapping[str, str]
    times: int


class FakeX:
    """The fake X; use as a context manager (``with FakeX() as x: ... x.base_url``)."""

    def __init__(
        self, *, token: str = "test-bearer", heartbeat: float = 0.05, page_size: int = 100
    ):
        self.token = token
        self.heartbeat = heartbeat
        self.page_size = page_size
        self.users: dict[str, dict[str, str]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.rules: list[dict[str, str]] = []
        self.requests: list[Recorded] = []
        self.stream_connects: list[Recorded] = []
        self._scripts: deque[list[Step]] = deque()
        self._live: deque[str] = deque()
        self._failures: list[_Failure] = []
        self._rule_ids = itertools.count(1_780_000_000_000_000_001)
        self._lock = threading.Lock()
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-x", daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle

    def __enter__(self) -> FakeX:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._loop.call_soon_threadsafe(self._closed.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._closed = asyncio.Event()
        app = web.Application()
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/users/by", self._users_by)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/users/{id}/tweets", self._tweets)
        self._runner = web.AppRunner(app, shutdown_timeout=0.25, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    # --- the world

    def add_user(self, user_id: str, username: str) -> None:
        self.users[user_id] = {"id": user_id, "name": username.title(), "username": username}

    def add_post(self, post: Mapping[str, Any]) -> str:
        self.posts[str(post["id"])] = dict(post)
        return str(post["id"])

    def load(self, world: Mapping[str, Any]) -> None:
        """Users and posts from a ``{"users": [...], "posts": [...]}`` document."""
        for user in world["users"]:
            self.add_user(user["id"], user["username"])
        for stored in world["posts"]:
            self.add_post(stored)

    # --- scripting

    def script_stream(self, *connections: Iterable[Step]) -> None:
        """The next stream connections play these scripts, in order, one each."""
        with self._lock:
            self._scripts.extend(list(c) for c in connections)

    def push(self, *post_ids: str) -> None:
        """Send these posts on the connection that is holding (now, or the next one)."""
        with self._lock:
            self._live.extend(post_ids)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` REST requests whose path matches the regex ``path`` get ``status``."""
        with self._lock:
            self._failures.append(
                _Failure(method, re.compile(path), status, dict(headers or {}), times)
            )

    def rate_limit(self, method: str, path: str, *, reset_in: int = 2) -> None:
        reset = str(int(time.time()) + reset_in)
        self.fail(
            method, path, 429, headers={"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"}
        )

    def calls(self, method: str, path: str) -> list[Recorded]:
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    # --- HTTP plumbing

    def _record(self, request: web.Request, code: int) -> Recorded:
        entry = Recorded(time.time(), request.method, request.path, dict(request.query), code)
        with self._lock:
            self.requests.append(entry)
        return entry

    def _refuse(self, request: web.Request) -> web.Response | None:
        """401 without the bearer token; an injected failure; else None."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self._record(request, 401)
            return _json(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                401,
            )
        with self._lock:
            for failure in self._failures:
                if (
                    failure.times
                    and failure.method == request.method
                    and failure.path.fullmatch(request.path)
                ):
                    failure.times -= 1
                    break
            else:
                return None
        self._record(request, failure.status)
        body = {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": failure.status,
        }
        if failure.status != 429:
            body = {
                "title": "Service Unavailable",
                "detail": "Service Unavailable",
                "type": "about:blank",
                "status": failure.status,
            }
        return _json(body, failure.status, headers=failure.headers)

    # --- the stream

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        with self._lock:
            script = self._scripts.popleft() if self._scripts else []
        if script and script[0].kind == "status":
            step = script[0]
            self.stream_connects.append(self._record(request, step.status))
            body = {
                "title": "ConnectionException" if step.status == 429 else "Service Unavailable",
                "detail": "scripted",
                "type": "https://api.twitter.com/2/problems/streaming-connection",
                "status": step.status,
            }
            return _json(body, step.status, headers=step.headers)
        self.stream_connects.append(self._record(request, 200))
        response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
        await response.prepare(request)
        try:
            for step in script:
                if step.kind == "post":
                    await self._send_post(response, step.post_id)
                elif step.kind == "raw":
                    await response.write(step.data + b"\r\n")
                elif step.kind == "heartbeat":
                    await response.write(b"\r\n")
                elif step.kind == "drop":
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                elif step.kind == "close":
                    await response.write_eof()
                    return response
                elif step.kind == "stall":
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closed.wait(), step.seconds)
                    return response
            while not self._closing:  # hold: heartbeats, and posts pushed meanwhile
                with self._lock:
                    pushed = list(self._live)
                    self._live.clear()
                for post_id in pushed:
                    await self._send_post(response, post_id)
                await response.write(b"\r\n")
                await asyncio.sleep(self.heartbeat)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def _send_post(self, response: web.StreamResponse, post_id: str) -> None:
        stored = self.posts[post_id]
        matched = [
            {"id": r["id"], "tag": r["tag"]}
            for r in self.rules
            if self._matches(r["value"], stored)
        ]
        if not matched:
            return
        line = {"data": stored, "includes": self._includes([stored]), "matching_rules": matched}
        await response.write(orjson.dumps(line) + b"\r\n")

    # --- rules

    async def _get_rules(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self._record(request, 200)
        meta = {"sent": _now(), "result_count": len(self.rules)}
        return _json({"data": list(self.rules), "meta": meta} if self.rules else {"meta": meta})

    async def _post_rules(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await request.json()
        self._record(request, 200)
        if "delete" in body:
            ids = set(body["delete"]["ids"])
            before = len(self.rules)
            self.rules = [r for r in self.rules if r["id"] not in ids]
            deleted = before - len(self.rules)
            summary = {"deleted": deleted, "not_deleted": len(ids) - deleted}
            return _json({"meta": {"sent": _now(), "summary": summary}})
        created, errors = [], []
        for rule in body.get("add", []):
            if any(r["value"] == rule["value"] for r in self.rules):
                errors.append(
                    {
                        "value": rule["value"],
                        "id": "",
                        "title": "DuplicateRule",
                        "type": "https://api.twitter.com/2/problems/duplicate-rules",
                    }
                )
                continue
            new = {
                "id": str(next(self._rule_ids)),
                "value": rule["value"],
                "tag": rule.get("tag", ""),
            }
            self.rules.append(new)
            created.append(new)
        summary = {
            "created": len(created),
            "not_created": len(errors),
            "valid": len(created),
            "invalid": 0,
        }
        doc: dict[str, Any] = {"meta": {"sent": _now(), "summary": summary}}
        if created:
            doc["data"] = created
        if errors:
            doc["errors"] = errors
        return _json(doc, 201)

    def _matches(self, rule: str, stored: Mapping[str, Any]) -> bool:
        """The rule operators carewatch uses: a conjunction of terms, a term being an
        optionally negated atom or a parenthesised OR of atoms."""
        terms = re.findall(r"-?\([^)]*\)|\S+", rule)
        for term in terms:
            negated = term.startswith("-")
            body = term[1:] if negated else term
            atoms = body.strip("()").split(" OR ") if body.startswith("(") else [body]
            hit = any(self._atom(atom.strip(), stored) for atom in atoms)
            if hit == negated:
                return False
        return True

    def _atom(self, atom: str, stored: Mapping[str, Any]) -> bool:
        refs = {r["type"] for r in stored.get("referenced_tweets", [])}
        author = self.users.get(stored.get("author_id", ""), {}).get("username", "")
        if atom.startswith("@"):
            mentions = stored.get("entities", {}).get("mentions", [])
            return any(m["username"].lower() == atom[1:].lower() for m in mentions)
        if atom.startswith("from:"):
            return author.lower() == atom[5:].lower()
        if atom == "is:reply":
            return "replied_to" in refs
        if atom == "is:retweet":
            return "retweeted" in refs
        return False

    # --- users and timelines

    async def _users_by(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self._record(request, 200)
        wanted = request.query.get("usernames", "").split(",")
        by_name = {u["username"].lower(): u for u in self.users.values()}
        found = [by_name[w.lower()] for w in wanted if w.lower() in by_name]
        missing = [w for w in wanted if w.lower() not in by_name]
        doc: dict[str, Any] = {"data": found} if found else {}
        if missing:
            doc["errors"] = [
                {
                    "value": w,
                    "detail": f"Could not find user with usernames: [{w}].",
                    "title": "Not Found Error",
                    "parameter": "usernames",
                    "resource_type": "user",
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
                for w in missing
            ]
        return _json(doc)

    async def _mentions(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["id"], {}).get("username", "").lower()
        return await self._timeline(
            request,
            lambda p: any(
                m["username"].lower() == user for m in p.get("entities", {}).get("mentions", [])
            ),
        )

    async def _tweets(self, request: web.Request) -> web.Response:
        user_id = request.match_info["id"]
        no_retweets = "retweets" in request.query.get("exclude", "")
        return await self._timeline(
            request,
            lambda p: (
                p.get("author_id") == user_id
                and not (
                    no_retweets
                    and any(r["type"] == "retweeted" for r in p.get("referenced_tweets", []))
                )
            ),
        )

    async def _timeline(self, request: web.Request, selects: Any) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self._record(request, 200)
        query = request.query
        chosen = [p for p in self.posts.values() if selects(p)]
        if "since_id" in query:
            chosen = [p for p in chosen if int(p["id"]) > int(query["since_id"])]
        if "start_time" in query:
            start = datetime.fromisoformat(query["start_time"])
            chosen = [p for p in chosen if datetime.fromisoformat(p["created_at"]) >= start]
        chosen.sort(key=lambda p: int(p["id"]), reverse=True)
        size = min(int(query.get("max_results", 10)), self.page_size)
        offset = int(query.get("pagination_token", "0"))
        page = chosen[offset : offset + size]
        if not page:
            return _json({"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if offset + size < len(chosen):
            meta["next_token"] = str(offset + size)
        return _json({"data": page, "includes": self._includes(page), "meta": meta})

    def _includes(self, posts: list[dict[str, Any]]) -> dict[str, Any]:
        """Users (authors, users replied to) and referenced posts, as the expansions ask."""
        user_ids: dict[str, None] = {}
        referenced: dict[str, dict[str, Any]] = {}
        for p in posts:
            user_ids.update(
                dict.fromkeys(x for x in (p.get("author_id"), p.get("in_reply_to_user_id")) if x)
            )
            for ref in p.get("referenced_tweets", []):
                if ref["id"] in self.posts:
                    referenced[ref["id"]] = self.posts[ref["id"]]
        includes: dict[str, Any] = {"users": [self.users[u] for u in user_ids if u in self.users]}
        if referenced:
            includes["tweets"] = list(referenced.values())
        return includes


def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(doc), status=status, headers=headers, content_type="application/json"
    )


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- what the X tests share


WORLD = Path(__file__).parent / "payloads" / "x" / "world.json"
DU, DU_BOT, TELE2 = "17250021", "1400000000000000001", "21650133"
AMIRA, BORIS, CHEN = "1111111111", "2222222222", "3333333333"
ROOT = "1896523400000000001"
AMIRA_MENTION, BORIS_MENTION = "1896523400000000101", "1896523400000000102"
REPLY_TO_BORIS, BOT_TO_AMIRA, AUTOMATION_TO_AMIRA = (
    "1896523400000000201",
    "1896523400000000202",
    "1896523400000000203",
)
REPLY_TO_BORIS_2 = "1896523400000000204"
CHEN_UND, RETWEET, TWO_BRANDS, TELE2_MENTION = (
    "1896523400000000301",
    "1896523400000000302",
    "1896523400000000303",
    "1896523400000000304",
)


def world() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(WORLD.read_bytes())
    return doc


class ListSink:
    """An :class:`connectors.x_delivery.EventSink` that keeps what it got; ``failures`` first
    raises that many times (as an unreachable Kafka would)."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[CareEvent] = []
        self.batches: list[list[CareEvent]] = []
        self.failures = failures

    async def send_all(self, events: Sequence[CareEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise CarewatchError("kafka is away")
        self.batches.append(list(events))
        self.events.extend(events)

    def ids(self) -> list[str]:
        return [e.event_id for e in self.events]


async def until(condition: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    """Wait for ``condition`` to hold, checking every 10 ms; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what or condition}")
        await asyncio.sleep(0.01)
