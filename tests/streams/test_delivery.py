"""Deliveries: nothing is confirmed before the producer reports every message delivered.

The producer here is a stand-in that fails chosen sends the way aiokafka does (the
future of a batch that expired carries ``KafkaTimeoutError``; ``send`` itself raises
when no metadata came in time); that Kafka is reached for real, and a real broker
restart, are the drills' (tests/drills, RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams import delivery
from streams.delivery import Deliveries


class FlakyProducer:
    def __init__(self, fail_futures: int = 0, fail_sends: int = 0) -> None:
        self.fail_futures = fail_futures
        self.fail_sends = fail_sends
        self.delivered: list[tuple[str, bytes | None, int | None]] = []
        self.offset = 0

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None, *_: Any
    ) -> Any:
        if self.fail_sends:
            self.fail_sends -= 1
            raise KafkaTimeoutError()
        future = asyncio.get_running_loop().create_future()
        if self.fail_futures:
            self.fail_futures -= 1
            future.set_exception(KafkaTimeoutError())
        else:
            self.offset += 1
            self.delivered.append((topic, value, partition))
            future.set_result(
                SimpleNamespace(topic_partition=(topic, partition), offset=self.offset)
            )
        return future


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "_backoff", lambda attempt: 0.0)


def run(deliveries: Deliveries, *messages: bytes) -> None:
    async def go() -> None:
        for value in messages:
            await deliveries.send("t", b"k", value, 1, on_delivered=seen.append)
        await deliveries.confirm()

    seen: list[Any] = []
    asyncio.run(go())
    deliveries.seen = seen  # type: ignore[attr-defined]


def test_failed_deliveries_are_sent_again_until_kafka_has_each_once_confirmed() -> None:
    producer = FlakyProducer(fail_futures=2)
    deliveries = Deliveries(SimpleNamespace(producer=producer))
    run(deliveries, b"a", b"b", b"c")
    assert sorted(v for _, v, _ in producer.delivered) == [b"a", b"b", b"c"]
    assert deliveries.resent == 2
    assert deliveries.pending == []
    assert len(deliveries.seen) == 3  # type: ignore[attr-defined]  # callbacks: delivered only


def test_a_send_that_raises_is_tried_again() -> None:
    producer = FlakyProducer(fail_sends=3)
    deliveries = Deliveries(SimpleNamespace(producer=producer))
    run(deliveries, b"a")
    assert producer.delivered == [("t", b"a", 1)]


def test_nothing_to_confirm_returns_at_once() -> None:
    deliveries = Deliveries(SimpleNamespace(producer=FlakyProducer()))
    asyncio.run(deliveries.confirm())
    assert deliveries.resent == 0
