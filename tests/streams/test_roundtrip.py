"""A round trip through the real broker: kafka-python produces, aiokafka consumes.

Keys and partitions are as the contract says: the key is the case key (UTF-8), so every
event of one case lands on one partition, the partition Kafka's murmur2 partitioner picks.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from streams.events import CareEvent, Kind, decode_event, encode_event
from tests.conftest import TestTopics


def _events(cases: int, per_case: int) -> list[CareEvent]:
    out = []
    for c in range(cases):
        for i in range(per_case):
            out.append(
                CareEvent(
                    event_id=f"rt-{c}-{i}",
                    kind=Kind.MESSAGE,
                    platform=("x", "facebook", "telegram")[c % 3],
                    brand="tele2_ru",
                    thread_id=f"thread-{c // 2}",
                    customer_id=f"customer-{c}",
                    occurred_at=1_790_000_000.0 + c * 10 + i,
                    text="Нет связи с утра / لا توجد شبكة",
                )
            )
    return out


async def _consume(topics: TestTopics, expected: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topics.events,
        bootstrap_servers=topics.settings.bootstrap,
        group_id=topics.group,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[tuple[int, bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < expected:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    got.extend((tp.partition, r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got


def test_events_round_trip_keyed_by_case(topics: TestTopics) -> None:
    events = _events(cases=40, per_case=5)
    producer = KafkaProducer(bootstrap_servers=topics.settings.bootstrap, acks="all")
    for event in events:
        producer.send(topics.events, key=event.case_key.encode(), value=encode_event(event))
    producer.flush()
    producer.close()

    got = asyncio.run(_consume(topics, len(events)))

    decoded = sorted((decode_event(value) for _, _, value in got), key=_order)
    assert decoded == sorted(events, key=_order)
    partitions_of_case: dict[bytes, set[int]] = defaultdict(set)
    for partition, key, value in got:
        assert key.decode() == decode_event(value).case_key
        partitions_of_case[key].add(partition)
    assert len(partitions_of_case) == 40
    for key, partitions in partitions_of_case.items():
        assert partitions == {(murmur2(key) & 0x7FFFFFFF) % 4}
    assert len({p for ps in partitions_of_case.values() for p in ps}) > 1  # spread over partitions


def _order(event: CareEvent) -> str:
    return event.event_id
