"""The benchmark's own Kafka: one broker in a temporary folder, topics, producing, offsets.

The broker is the local stack's (:mod:`deploy.localstack.kafka`, the cached jars) on
free loopback ports. Logs are produced with confluent-kafka (librdkafka, far faster than
kafka-python) using the ``murmur2_random`` partitioner, which places a key on the
partition Java's and kafka-python's default partitioner give it (and so
:func:`streams.processor.partition_for`): the worker never has to re-key an event.

:class:`GroupWatch` is how every contender is timed, the same way: it polls the consumer
group's description (who owns which partition) and its committed offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # type: ignore[import-untyped]
from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped]

from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import ProcessRecord, free_port, stop
from streams.control import CLOCK, CONTROL_HEADER
from streams.errors import CarewatchError
from streams.events import case_key
from streams.processor import partition_for
from streams.settings import TopicSpec
from streams.topics import ensure_topics

POLL = 0.1  # seconds between two looks at a group's offsets or members
MARKER_KEY = b"carewatch-control"  # markers carry a key so keyed state stores accept them
LOG_APPEND_TIME = (("message.timestamp.type", "LogAppendTime"),)


class BenchError(CarewatchError):
    """A benchmark step could not run (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Broker:
    bootstrap: str
    record: ProcessRecord

    def stop(self) -> None:
        stop(self.record)


def start_broker(home: Path) -> Broker:
    """A fresh single-node KRaft broker in ``home`` on free loopback ports."""
    node = kafka.KafkaNode(home, free_port(), free_port(), default_cache_dir(), heap="1g")
    return Broker(node.bootstrap, kafka.start(node))


def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int, append_time: bool = False
) -> None:
    """Create topics; ``append_time``: Kafka stamps each message when it appends it."""
    config = LOG_APPEND_TIME if append_time else ()
    ensure_topics(bootstrap, [TopicSpec(n, partitions, 1, config) for n in names])


def producer(bootstrap: str, linger_ms: int = 50) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",  # Java's partitioner: the worker's partition_for
            "linger.ms": linger_ms,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "acks": "all",
            "enable.idempotence": True,
            "log_level": 3,  # errors only (a fresh broker says "coordinator load in progress")
        }
    )


class Sender:
    """Produces keyed lines; fails loudly on any delivery error. Checks, for the first
    thousand keyed messages, that Kafka put each on the partition the worker expects."""

    def __init__(self, bootstrap: str, partitions: int, linger_ms: int = 50) -> None:
        self.producer = producer(bootstrap, linger_ms)
        self.partitions = partitions
        self.errors: list[str] = []
        self.checked = 0
        self.sent = 0

    def _delivered(self, err: object, msg: object) -> None:
        if err is not None:
            self.errors.append(str(err))
            return
        key = msg.key()  # type: ignore[attr-defined]
        if self.checked < 1000 and key and key != MARKER_KEY:
            self.checked += 1
            want = partition_for(key.decode(), self.partitions)
            if msg.partition() != want:  # type: ignore[attr-defined]
                self.errors.append(f"key {key!r} on partition {msg.partition()}, not {want}")  # type: ignore[attr-defined]

    def send(self, topic: str, key: bytes, value: bytes, **extra: object) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=self._delivered, **extra)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.05)
        self.sent += 1
        if self.sent % 1000 == 0:
            self.producer.poll(0)  # delivery callbacks, in batches
        if self.errors:
            raise BenchError(f"producing to {topic} failed: {self.errors[0]}")

    def poll(self) -> None:
        self.producer.poll(0)

    def markers(self, topic: str, advance_to: float) -> None:
        """A clock marker to every partition (:mod:`streams.control`)."""
        value = orjson.dumps({"advance_to": advance_to})
        for partition in range(self.partitions):
            self.send(
                topic, MARKER_KEY, value, partition=partition, headers=[(CONTROL_HEADER, CLOCK)]
            )

    def flush(self) -> None:
        left = self.producer.flush(120)
        if left or self.errors:
            raise BenchError(f"{left} messages undelivered; {self.errors[:1]}")


def produce_log(
    bootstrap: str,
    topic: str,
    path: Path,
    partitions: int,
    advance_to: float,
    advance: Callable[[int], None],
) -> int:
    """Every line of the JSON-lines file at ``path``, keyed by its case key, then clock
    markers that move a replay worker's clock to ``advance_to``. Returns the number of
    messages now in the topic."""
    sender = Sender(bootstrap, partitions)
    sent = 0
    with path.open("rb") as lines:
        for line in lines:
            doc = orjson.loads(line)
            key = case_key(doc["platform"], doc["brand"], doc["thread_id"], doc["customer_id"])
            sender.send(topic, key.encode(), line.rstrip(b"\n"))
            sent += 1
            if sent % 5000 == 0:
                advance(5000)
    sender.markers(topic, advance_to)
    sender.flush()
    advance(sent % 5000)
    return sent + partitions


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


class GroupWatch:
    """A consumer group on one topic, seen from outside: members and committed offsets."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        self.group = group
        self.topic = topic
        self.partitions = partitions
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.offsets = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )  # never subscribes, so it never joins the group

    def close(self) -> None:
        self.offsets.close()

    def owners(self) -> list[set[int]] | None:
        """The partitions of the topic each member owns, when the group is stable."""
        try:
            description = self.admin.describe_consumer_groups([self.group])[self.group].result()
        except KafkaException:
            return None
        if str(description.state).rsplit(".", 1)[-1] != "STABLE":
            return None
        owned = []
        for member in description.members:
            tps = member.assignment.topic_partitions if member.assignment else []
            owned.append({tp.partition for tp in tps if tp.topic == self.topic})
        return owned

    def committed(self) -> int:
        """Messages committed over all partitions (0 where nothing is committed yet)."""
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            got = self.offsets.committed(tps, timeout=10)
        except KafkaException:
            return 0
        return sum(max(tp.offset, 0) for tp in got)

    def wait_owned(
        self, members: int, timeout: float, alive: Callable[[], None]
    ) -> tuple[float, int]:
        """Wait until ``members`` members own every partition between them (each some);
        returns that instant (``time.monotonic``) and the messages committed then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive()
            owned = self.owners()
            if owned is not None:
                holders = [o for o in owned if o]
                covered = set().union(*holders) if holders else set()
                if len(holders) == members and covered == set(range(self.partitions)):
                    return time.monotonic(), self.committed()
            time.sleep(POLL)
        raise BenchError(
            f"group {self.group}: {members} member(s) did not own {self.topic} within {timeout:.0f} s"
        )

    def wait_committed(
        self, total: int, timeout: float, alive: Callable[[], None], advance: Callable[[int], None]
    ) -> float:
        """Wait until the group committed ``total`` messages; returns that instant."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive()
            done = self.committed()
            advance(done)
            if done >= total:
                return time.monotonic()
            time.sleep(POLL)
        raise BenchError(
            f"group {self.group} committed {self.committed()} of {total} in {timeout:.0f} s"
        )
