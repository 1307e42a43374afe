"""Baseline: a bare confluent-kafka (librdkafka) consumer loop that only decodes JSON.

``python -m bench.confluent_loop BOOTSTRAP TOPIC GROUP PARTITIONS``: joins ``GROUP``,
reads ``TOPIC`` from the earliest offset in batches (``consume``, up to 10,000
messages), ``orjson.loads`` every value and nothing else; once it has read every
partition up to the end offset it saw at start, it commits once, prints
``{"messages", "seconds"}`` (its own timing, assignment to commit), and stays in the
group until SIGTERM (so the harness sees it the way it sees every contender). The limit
of Python with the fastest Kafka client it has, on this broker.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any, NoReturn

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition  # type: ignore[import-untyped]


def _leave(*_: Any) -> NoReturn:
    raise SystemExit(0)


def consume(bootstrap: str, topic: str, group: str, partitions: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    assigned_at: list[float] = []
    messages = 0
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
        left = {p for p, end in ends.items() if end > 0}
        consumer.subscribe([topic], on_assign=lambda c, tps: assigned_at.append(time.monotonic()))
        while left:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                orjson.loads(message.value())
                messages += 1
                if message.offset() + 1 >= ends[message.partition()]:
                    left.discard(message.partition())
        consumer.commit(asynchronous=False)
        seconds = time.monotonic() - assigned_at[0]
        print(orjson.dumps({"messages": messages, "seconds": seconds}).decode(), flush=True)
        while True:  # stay in the group (heartbeats) until SIGTERM
            consumer.consume(num_messages=1, timeout=0.5)
    finally:
        consumer.close()


def main() -> None:
    signal.signal(signal.SIGTERM, _leave)
    bootstrap, topic, group, partitions = sys.argv[1:5]
    consume(bootstrap, topic, group, int(partitions))


if __name__ == "__main__":
    main()
