"""Replaying a saved event log into ``care.events.v1`` and driving replay mode to its end.

``replay`` sends every line of a JSON-lines log as it is (an invalid line is sent too:
the stream sends it to the dead letters with a reason, so nothing is lost silently),
keyed by its case key where the line is a valid event. Then it sends a clock marker
(:mod:`streams.control`) to every partition, advancing the stream clock past the end of
the log (``max occurred_at + lateness``) or to ``until``, and waits until the worker
group has committed every offset, markers included: by then every deadline up to that
instant is decided and every decision is in ``care.sla.v1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from rich.progress import Progress

from streams.control import clock_marker
from streams.errors import CarewatchError, InvalidEvent
from streams.events import decode_event


class ReplayTimeout(CarewatchError):
    """The workers did not consume the replayed log in time."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    sent: int
    invalid: int
    advanced_to: float | None
    seconds: float


def read_log(path: Path) -> Iterator[bytes]:
    """The non-empty lines of a JSON-lines file, as bytes."""
    with path.open("rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def replay(
    lines: Iterable[bytes],
    *,
    bootstrap: str,
    topic: str,
    group: str,
    lateness: float,
    until: float | None = None,
    timeout: float = 900.0,
    total: int | None = None,
    progress: bool = True,
) -> ReplayReport:
    started = time.monotonic()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024, retries=10
    )
    sent = invalid = 0
    last_event: float | None = None
    with Progress(disable=not progress, transient=False) as bar:
        sending = bar.add_task("sending events", total=total)
        for line in lines:
            key: bytes | None = None
            try:
                event = decode_event(line)
                key = event.case_key.encode()
                last_event = (
                    event.occurred_at if last_event is None else max(last_event, event.occurred_at)
                )
            except InvalidEvent:
                invalid += 1
            producer.send(topic, key=key, value=line)
            sent += 1
            bar.advance(sending)
        advanced_to = (
            until
            if until is not None
            else (None if last_event is None else last_event + lateness + 1.0)
        )
        if advanced_to is not None:
            headers, value = clock_marker(advanced_to)
            for partition in sorted(producer.partitions_for(topic)):
                producer.send(topic, value=value, headers=headers, partition=partition)
        producer.flush()
        producer.close()
        waiting = bar.add_task("waiting for the workers", total=None)
        _wait_consumed(bootstrap, topic, group, timeout, lambda n: bar.update(waiting, completed=n))
    return ReplayReport(sent, invalid, advanced_to, time.monotonic() - started)


def _wait_consumed(
    bootstrap: str, topic: str, group: str, timeout: float, report: Callable[[int], None]
) -> None:
    """Block until ``group`` has committed the end offset of every partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while True:
            try:
                committed = admin.list_group_offsets({group: partitions}).get(group, {})
            except KafkaError:  # the group may not exist yet while workers start
                committed = {}
            done = sum(
                min(committed[tp].offset, ends[tp]) if tp in committed else 0 for tp in partitions
            )
            report(done)
            behind = {
                tp.partition: ends[tp] - (committed[tp].offset if tp in committed else 0)
                for tp in partitions
            }
            if all(lag <= 0 for lag in behind.values()):
                return
            if time.monotonic() > deadline:
                raise ReplayTimeout(
                    f"group {group} still behind on {topic} after {timeout:.0f} s: {behind} (is a worker running?)"
                )
            time.sleep(0.5)
    finally:
        admin.close()
        consumer.close()
