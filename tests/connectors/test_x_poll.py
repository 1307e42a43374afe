"""Polling mode against the local fake X: timelines, pagination, since_id across restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from connectors.x import make_client, rest_failure
from connectors.x_accounts import resolve_brands
from connectors.x_backoff import BackoffPolicy, Retrier, Stopped
from connectors.x_checkpoint import SinceIds
from connectors.x_mapping import BrandAccounts
from connectors.x_poll import XPoller
from connectors.x_settings import XSettings
from deploy.localstack.processes import free_port
from streams.errors import CarewatchError
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
    DU,
    DU_BOT,
    REPLY_TO_BORIS,
    REPLY_TO_BORIS_2,
    ROOT,
    TELE2,
    TELE2_MENTION,
    TWO_BRANDS,
    FakeX,
    ListSink,
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
NOON = datetime.fromisoformat("2026-03-02T12:00:00Z").timestamp()  # after every post of world.json


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX(page_size=2) as server:  # every timeline of the world takes several pages
        server.load(fake_x.world())
        yield server


class Poll:
    def __init__(self, fake: FakeX, checkpoints: Path, sink: ListSink | None = None) -> None:
        self.registry = CollectorRegistry()
        self.metrics = ConnectorMetrics(self.registry, "x")
        self.sink = sink or ListSink()
        settings = XSettings(
            bearer_token=fake.token,
            brands="du=du_care,du_bot;tele2=tele2_ru",
            bot_accounts="du_bot",
            automation_sources="Khoros Automation",
            api_base=fake.base_url,
            mode="poll",
        )
        self.client = make_client(settings)
        self.brands = resolve_brands(
            self.client, settings, Retrier(self.metrics, FAST, rest_failure)
        )
        self.poller = XPoller(
            self.client,
            self.brands,
            self.sink,
            self.metrics,
            SinceIds(checkpoints),
            classify=rest_failure,
            lookback=86_400,
            policy=FAST,
            clock=lambda: NOON,
        )

    def once(self) -> int:
        return asyncio.run(self.poller.poll_once())

    def errors(self, reason: str) -> float:
        labels = {"connector": "x", "reason": reason}
        return self.registry.get_sample_value("carewatch_connector_errors_total", labels) or 0.0


def test_brands_resolve_to_account_ids(fake: FakeX, tmp_path: Path) -> None:
    brands = Poll(fake, tmp_path / "since.json").brands
    assert brands == [
        BrandAccounts(
            "du",
            ("du_care", "du_bot"),
            frozenset({DU, DU_BOT}),
            frozenset({DU_BOT}),
            frozenset({"Khoros Automation"}),
        ),
        BrandAccounts(
            "tele2",
            ("tele2_ru",),
            frozenset({TELE2}),
            frozenset(),
            frozenset({"Khoros Automation"}),
        ),
    ]


def test_polling_reads_every_page_and_keeps_since_id_across_a_restart(
    fake: FakeX, tmp_path: Path
) -> None:
    path = tmp_path / "x" / "since.json"
    first = Poll(fake, path)
    assert first.once() == len(first.sink.events)
    by_id = {e.event_id: e for e in first.sink.events}
    assert set(by_id) == {
        f"x:{i}"
        for i in (
            AMIRA_MENTION,
            BORIS_MENTION,
            CHEN_UND,
            REPLY_TO_BORIS,
            REPLY_TO_BORIS_2,
            BOT_TO_AMIRA,
            AUTOMATION_TO_AMIRA,
            TELE2_MENTION,
        )
    } | {f"x:{TWO_BRANDS}:du", f"x:{TWO_BRANDS}:tele2"}
    assert by_id[f"x:{REPLY_TO_BORIS}"].case_key == f"x:du:{ROOT}:{BORIS}"
    assert (by_id[f"x:{BOT_TO_AMIRA}"].kind, by_id[f"x:{BOT_TO_AMIRA}"].customer_id) == (
        Kind.REPLY,
        AMIRA,
    )
    assert by_id[f"x:{BOT_TO_AMIRA}"].author_type is AuthorType.BOT
    assert len(first.sink.batches) == 2  # one per brand, each in occurred_at order
    for batch in first.sink.batches:
        assert [e.occurred_at for e in batch] == sorted(e.occurred_at for e in batch)
    paged = [
        r for r in fake.calls("GET", r"/2/users/\d+/mentions") if "pagination_token" in r.query
    ]
    assert paged, "the fake's page size forces pagination"
    first_round = fake.calls("GET", r"/2/users/\d+/(mentions|tweets)")
    assert all(
        "since_id" not in r.query and r.query["start_time"] == "2026-03-01T12:00:00Z"
        for r in first_round
    )
    saved = json.loads(path.read_text())
    assert saved["since_id"][f"du/{DU}/mentions"] == TWO_BRANDS
    assert saved["since_id"][f"du/{DU}/tweets"] == REPLY_TO_BORIS_2
    assert saved["since_id"][f"tele2/{TELE2}/mentions"] == TELE2_MENTION

    # new posts arrive while the connector is down; a new process polls from the checkpoint
    new_mention = {
        **fake.posts[CHEN_UND],
        "id": "1896523400000000401",
        "text": "@du_care still down",
        "conversation_id": "1896523400000000401",
        "created_at": "2026-03-02T11:00:00.000Z",
        "lang": "en",
        "edit_history_tweet_ids": ["1896523400000000401"],
    }
    fake.add_post(new_mention)
    before = len(fake.requests)
    second = Poll(fake, path)
    assert second.once() == 1
    assert second.sink.ids() == ["x:1896523400000000401"]
    again = [r for r in fake.requests[before:] if r.path.endswith(f"/{DU}/mentions")]
    assert [r.query.get("since_id") for r in again] == [TWO_BRANDS]
    assert json.loads(path.read_text())["since_id"][f"du/{DU}/mentions"] == "1896523400000000401"

    third = Poll(fake, path)  # nothing new: nothing sent, nothing moves
    assert third.once() == 0
    assert third.sink.events == []


def test_a_429_while_polling_waits_for_the_reset_and_loses_nothing(
    fake: FakeX, tmp_path: Path
) -> None:
    fake.rate_limit("GET", rf"/2/users/{DU}/mentions", reset_in=1)
    fake.fail("GET", rf"/2/users/{DU}/tweets", 503)
    poll = Poll(fake, tmp_path / "since.json")
    poll.once()
    assert f"x:{AMIRA_MENTION}" in poll.sink.ids()
    assert f"x:{REPLY_TO_BORIS}" in poll.sink.ids()
    assert poll.errors("rate_limited") == 1.0
    assert poll.errors("server_error") == 1.0
    limited, retried = fake.calls("GET", rf"/2/users/{DU}/mentions")[:2]
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at >= int(limited.at) + 1  # x-rate-limit-reset, whole seconds


def test_the_checkpoint_moves_only_after_the_sink_took_the_events(
    fake: FakeX, tmp_path: Path
) -> None:
    path = tmp_path / "since.json"

    class Broken(ListSink):
        async def send_all(self, events: object) -> None:
            raise RuntimeError("not a transport error: the poll fails")

    with pytest.raises(RuntimeError):
        Poll(fake, path, sink=Broken()).once()
    assert not path.exists()
    retry = Poll(fake, path)
    retry.once()
    assert f"x:{AMIRA_MENTION}" in retry.sink.ids()  # polled again, same event ids


def test_transport_failures_of_the_sink_are_retried(fake: FakeX, tmp_path: Path) -> None:
    sink = ListSink(failures=2)
    poll = Poll(fake, tmp_path / "since.json", sink=sink)
    poll.once()
    assert sink.failures == 0  # both failures were met, and retried
    assert f"x:{AMIRA_MENTION}" in poll.sink.ids()
    assert json.loads((tmp_path / "since.json").read_text())["since_id"]


def test_an_unknown_handle_is_a_config_error(fake: FakeX) -> None:
    settings = XSettings(
        bearer_token=fake.token, brands="du=du_care,du_gone", api_base=fake.base_url
    )
    metrics = ConnectorMetrics(CollectorRegistry(), "x")
    with pytest.raises(CarewatchError, match="du_gone"):
        resolve_brands(make_client(settings), settings, Retrier(metrics, FAST, rest_failure))


def test_a_wrong_token_is_fatal_not_retried(fake: FakeX) -> None:
    settings = XSettings(bearer_token="wrong", brands="du=du_care", api_base=fake.base_url)
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry, "x")
    with pytest.raises(CarewatchError, match="401"):
        resolve_brands(make_client(settings), settings, Retrier(metrics, FAST, rest_failure))
    assert len(fake.calls("GET", "/2/users/by")) == 1
    labels = {"connector": "x", "reason": "client_error"}
    assert registry.get_sample_value("carewatch_connector_errors_total", labels) == 1.0


def test_an_unreachable_x_is_retried_as_connection_errors_until_stopped(fake: FakeX) -> None:

    settings = XSettings(
        bearer_token=fake.token, brands="du=du_care", api_base=f"http://127.0.0.1:{free_port()}"
    )
    registry = CollectorRegistry()
    retrier = Retrier(ConnectorMetrics(registry, "x"), FAST, rest_failure)
    labels = {"connector": "x", "reason": "connection_error"}

    async def scenario() -> None:
        lookup = asyncio.create_task(
            asyncio.to_thread(resolve_brands, make_client(settings), settings, retrier)
        )
        await fake_x.until(
            lambda: (
                (registry.get_sample_value("carewatch_connector_errors_total", labels) or 0) >= 3
            ),
            what="three refused connections, each counted",
        )
        retrier.stop()
        with pytest.raises(Stopped):
            await lookup

    asyncio.run(scenario())
