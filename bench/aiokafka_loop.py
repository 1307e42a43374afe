"""Baseline: a bare aiokafka consumer loop that only decodes each value with orjson.

``python -m bench.aiokafka_loop BOOTSTRAP TOPIC GROUP PARTITIONS``: joins ``GROUP``,
reads ``TOPIC`` from the earliest offset in batches (``getmany``, up to 10,000 records),
``orjson.loads`` every value and nothing else; once its position reaches, on every
partition, the end offset it saw when the partitions were assigned, it commits once,
prints ``{"messages", "seconds"}`` (its own timing, assignment to commit), and stays in
the group until SIGTERM (so the harness sees it the way it sees every contender). The
limit of Python with aiokafka (the library Faust uses) on this broker.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition


class Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.at: float | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.at = self.at or time.monotonic()


async def consume(bootstrap: str, topic: str, group: str, partitions: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    assigned = Assigned()
    consumer.subscribe([topic], listener=assigned)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    messages = 0
    try:
        ends: dict[TopicPartition, int] | None = None
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                    messages += 1
            owned = consumer.assignment()
            if len(owned) < partitions:
                continue
            if ends is None:  # the log was produced before the start: its end is fixed
                ends = await consumer.end_offsets(list(owned))
            if all([await consumer.position(tp) >= ends[tp] for tp in owned]):
                break
        await consumer.commit()
        seconds = time.monotonic() - (assigned.at or time.monotonic())
        print(orjson.dumps({"messages": messages, "seconds": seconds}).decode(), flush=True)
        await stop.wait()
    finally:
        await consumer.stop()


def main() -> None:
    bootstrap, topic, group, partitions = sys.argv[1:5]
    asyncio.run(consume(bootstrap, topic, group, int(partitions)))


if __name__ == "__main__":
    main()
