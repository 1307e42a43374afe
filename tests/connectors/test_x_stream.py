"""The filtered stream through tweepy against the local fake X (tests/connectors/fake_x.py).

tweepy really connects over HTTP: ``CAREWATCH_X_API_BASE`` points its session at the
fake (connectors.x_api_base.ApiBase). Waits are for conditions, with deadlines; the backoff
schedule is shrunk (:data:`FAST`), except where a test shows the wait for
``x-rate-limit-reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from connectors.x import make_client, rest_failure, stream_client_factory
from connectors.x_accounts import resolve_brands
from connectors.x_backoff import BackoffPolicy, Retrier, XConnectorError
from connectors.x_mapping import stream_rules
from connectors.x_settings import XSettings
from connectors.x_stream import XStream
from streams.events import AuthorType, Kind
from streams.metrics import ConnectorMetrics
from tests.connectors import fake_x
from tests.connectors.fake_x import (
    AMIRA,
    AMIRA_MENTION,
    AUTOMATION_TO_AMIRA,
    BORIS,
    BORIS_MENTION,
    BOT_TO_AMIRA,
    CHEN_UND,
    REPLY_TO_BORIS,
    RETWEET,
    ROOT,
    FakeX,
    ListSink,
    until,
)

FAST = BackoffPolicy(
    network_step=0.01,
    network_max=0.05,
    http_first=0.05,
    http_max=0.2,
    rate_limit_first=0.1,
    rate_limit_max=0.5,
    reset_margin=0.05,
    sink_first=0.01,
    sink_max=0.05,
)


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        server.load(fake_x.world())
        yield server


class Harness:
    def __init__(self, fake: FakeX, read_timeout: float = 2.0) -> None:
        self.fake = fake
        self.registry = CollectorRegistry()
        self.metrics = ConnectorMetrics(self.registry, "x")
        self.sink = ListSink()
        self.settings = XSettings(
            bearer_token=fake.token,
            brands="du=du_care,du_bot;tele2=tele2_ru",
            bot_accounts="du_bot",
            automation_sources="Khoros Automation",
            api_base=fake.base_url,
            read_timeout=read_timeout,
        )
        self.stream: XStream | None = None

    def errors(self, reason: str) -> float:
        labels = {"connector": "x", "reason": reason}
        return self.registry.get_sample_value("carewatch_connector_errors_total", labels) or 0.0

    def up(self) -> float | None:
        return self.registry.get_sample_value("carewatch_connector_up", {"connector": "x"})

    def written(self) -> float | None:
        labels = {"connector": "x", "platform": "x"}
        return self.registry.get_sample_value("carewatch_connector_events_total", labels)

    async def build(self) -> XStream:
        retrier = Retrier(self.metrics, FAST, rest_failure)
        client = make_client(self.settings)
        brands = await asyncio.to_thread(resolve_brands, client, self.settings, retrier)
        self.stream = XStream(
            self.settings,
            brands,
            self.sink,
            self.metrics,
            client_factory=stream_client_factory(self.settings),
            classify=rest_failure,
            policy=FAST,
        )
        return self.stream

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[asyncio.Task[None]]:
        stream = await self.build()
        task = asyncio.create_task(stream.run())
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(stream.join, 10.0), "the stream thread did not end"


def test_rules_are_synced_at_start(fake: FakeX) -> None:
    fake.rules = [
        {"id": "11", "value": "@du_old -is:retweet -from:du_old", "tag": "carewatch:du:mention"},
        {"id": "12", "value": "from:marketing has:media", "tag": "marketing"},
    ]
    h = Harness(fake)

    async def scenario() -> None:
        stream = await h.build()
        changes = await stream.sync_rules()
        assert changes.delete == ("11",)
        wanted = {(r.value, r.tag) for b in stream.brands for r in stream_rules(b)}
        assert {(r["value"], r["tag"]) for r in fake.rules} == wanted | {
            ("from:marketing has:media", "marketing")
        }
        posts = len(fake.calls("POST", "/2/tweets/search/stream/rules"))
        again = await stream.sync_rules()  # in sync now: nothing to change
        assert (again.add, again.delete) == ((), ())
        assert len(fake.calls("POST", "/2/tweets/search/stream/rules")) == posts

    asyncio.run(scenario())
    lookups = fake.calls("GET", "/2/users/by")
    assert lookups[0].query["usernames"] == "du_care,du_bot,tele2_ru"


def test_events_flow_and_only_what_the_rules_select(fake: FakeX) -> None:
    fake.script_stream([fake_x.post(AMIRA_MENTION), fake_x.post(RETWEET), fake_x.post(CHEN_UND)])
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 2, what="two events")
            assert h.up() == 1.0
            fake.push(BORIS_MENTION)
            await until(lambda: len(h.sink.events) >= 3, what="the pushed post")
        assert h.up() == 0.0

    asyncio.run(scenario())
    # the retweet matches no rule (-is:retweet), so the fake never sends it
    assert h.sink.ids() == [f"x:{AMIRA_MENTION}", f"x:{CHEN_UND}", f"x:{BORIS_MENTION}"]
    assert h.written() is None  # the sink counts what it writes (the producer does)
    stream_call = fake.stream_connects[0]
    assert stream_call.query["expansions"] == "author_id,referenced_tweets.id,in_reply_to_user_id"
    assert set(stream_call.query["tweet.fields"].split(",")) >= {
        "author_id",
        "conversation_id",
        "in_reply_to_user_id",
        "referenced_tweets",
        "created_at",
        "lang",
        "entities",
    }
    assert stream_call.query["user.fields"] == "username"


def test_429_waits_until_the_rate_limit_resets_then_resumes(fake: FakeX) -> None:
    limited = fake_x.rate_limited(reset_in=2)
    reset_at = float(limited.headers["x-rate-limit-reset"])
    fake.script_stream([limited], [fake_x.post(AMIRA_MENTION)])
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 1, what="the event after the 429")

    asyncio.run(scenario())
    first, second = fake.stream_connects[:2]
    assert (first.status, second.status) == (429, 200)
    assert second.at >= reset_at  # not before x-rate-limit-reset (FAST's 0.1 s would be)
    assert h.errors("rate_limited") == 1.0
    assert h.sink.ids() == [f"x:{AMIRA_MENTION}"]


def test_503_backs_off_exponentially(fake: FakeX) -> None:
    fake.script_stream([fake_x.status(503)], [fake_x.status(503)], [fake_x.post(AMIRA_MENTION)])
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 1, what="the event after two 503s")

    asyncio.run(scenario())
    a, b, c = fake.stream_connects[:3]
    assert (a.status, b.status, c.status) == (503, 503, 200)
    assert b.at - a.at >= FAST.http_first
    assert c.at - b.at >= 2 * FAST.http_first
    assert h.errors("server_error") == 2.0


def test_a_dropped_connection_resumes_with_no_event_lost_and_repeats_are_the_same_event(
    fake: FakeX,
) -> None:
    fake.script_stream(
        [fake_x.post(AMIRA_MENTION), fake_x.post(BORIS_MENTION), fake_x.drop()],
        # X delivers some posts again after a reconnect (backfill, redundant delivery)
        [fake_x.post(BORIS_MENTION), fake_x.post(REPLY_TO_BORIS)],
    )
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 4, what="four deliveries")

    asyncio.run(scenario())
    assert h.sink.ids() == [
        f"x:{AMIRA_MENTION}",
        f"x:{BORIS_MENTION}",
        f"x:{BORIS_MENTION}",
        f"x:{REPLY_TO_BORIS}",
    ]
    assert h.sink.events[1] == replace(h.sink.events[2], ingested_at=h.sink.events[1].ingested_at)
    assert len(fake.stream_connects) == 2
    assert fake.stream_connects[1].at - fake.stream_connects[0].at < 2.0  # at once, no backoff
    assert h.errors("disconnected") == 1.0


def test_a_silent_connection_is_reopened_after_the_read_timeout(fake: FakeX) -> None:
    fake.script_stream(
        [fake_x.post(AMIRA_MENTION), fake_x.stall(5.0)], [fake_x.post(BORIS_MENTION)]
    )
    h = Harness(fake, read_timeout=0.5)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 2, what="the event after the stall")

    asyncio.run(scenario())
    assert h.sink.ids() == [f"x:{AMIRA_MENTION}", f"x:{BORIS_MENTION}"]
    assert h.errors("stalled") == 1.0


def test_malformed_lines_are_counted_and_skipped(fake: FakeX) -> None:
    disconnect_notice = (fake_x.WORLD.parent / "stream_operational_disconnect.json").read_bytes()
    fake.script_stream(
        [
            fake_x.raw(b'{"data": {"id": "18965234000'),  # cut short
            fake_x.raw(b"<html>502 Bad Gateway</html>"),
            fake_x.raw(b"[1, 2, 3]"),
            fake_x.raw(b'{"data": {"id": "1896523400000000999", "text": "no author, no date"}}'),
            fake_x.raw(disconnect_notice.replace(b"\n", b"")),
            fake_x.post(AMIRA_MENTION),
        ]
    )
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 1, what="the good post after the bad lines")

    asyncio.run(scenario())
    assert h.sink.ids() == [f"x:{AMIRA_MENTION}"]
    assert h.errors("malformed") == 4.0
    assert h.errors("stream_message") == 1.0
    assert len(fake.stream_connects) == 1  # skipped, not reconnected


def test_a_reply_in_a_thread_many_customers_share_reaches_the_right_case(fake: FakeX) -> None:
    fake.script_stream(
        [
            fake_x.post(AMIRA_MENTION),
            fake_x.post(BOT_TO_AMIRA),
            fake_x.post(AUTOMATION_TO_AMIRA),
            fake_x.post(BORIS_MENTION),
            fake_x.post(REPLY_TO_BORIS),
        ]
    )
    h = Harness(fake)

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 5, what="five events")

    asyncio.run(scenario())
    cases: dict[str, list[tuple[Kind, AuthorType | None]]] = {}
    for event in h.sink.events:
        cases.setdefault(event.case_key, []).append((event.kind, event.author_type))
    assert cases == {
        f"x:du:{ROOT}:{AMIRA}": [
            (Kind.MESSAGE, None),
            (Kind.REPLY, AuthorType.BOT),
            (Kind.REPLY, AuthorType.AUTOMATION),
        ],
        f"x:du:{ROOT}:{BORIS}": [(Kind.MESSAGE, None), (Kind.REPLY, AuthorType.HUMAN)],
    }


def test_a_failing_sink_is_retried_before_the_stream_reads_on(fake: FakeX) -> None:
    fake.script_stream([fake_x.post(AMIRA_MENTION), fake_x.post(BORIS_MENTION)])
    h = Harness(fake)
    h.sink.failures = 2

    async def scenario() -> None:
        async with h.running():
            await until(lambda: len(h.sink.events) >= 2, what="both events")

    asyncio.run(scenario())
    assert h.sink.ids() == [f"x:{AMIRA_MENTION}", f"x:{BORIS_MENTION}"]
    assert h.sink.failures == 0
    assert len(fake.stream_connects) == 1  # the stream waited for the sink, it did not drop


def test_a_refused_stream_stops_the_connector(fake: FakeX) -> None:
    fake.script_stream([fake_x.status(403)])
    h = Harness(fake)

    async def scenario() -> None:
        stream = await h.build()
        with pytest.raises(XConnectorError, match="HTTP 403"):
            await stream.run()
        assert await asyncio.to_thread(stream.join, 10.0)

    asyncio.run(scenario())
    assert h.errors("client_error") == 1.0
    assert len(fake.stream_connects) == 1


def test_rules_calls_are_retried_after_429_and_503(fake: FakeX) -> None:
    fake.rate_limit("GET", "/2/tweets/search/stream/rules", reset_in=1)
    fake.fail("POST", "/2/tweets/search/stream/rules", 503)
    h = Harness(fake)

    async def scenario() -> None:
        stream = await h.build()
        changes = await stream.sync_rules()
        assert len(changes.add) == 4

    asyncio.run(scenario())
    assert len(fake.rules) == 4
    assert h.errors("rate_limited") == 1.0
    assert h.errors("server_error") == 1.0
    gets = fake.calls("GET", "/2/tweets/search/stream/rules")
    assert [g.status for g in gets] == [429, 200]
