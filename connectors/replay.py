"""Replaying a saved event log into ``care.events.v1`` and driving replay mode to its end.

``replay`` sends every line of a JSON-lines log as it is (an invalid line is sent too:
the stream sends it to the dead letters with a reason, so nothing is lost silently),
keyed by its case key where the line is a valid event. Then it sends a clock marker
(:mod:`streams.control`) to every partition, advancing the stream clock past the end of
the log (``max occurred_at + lateness``) or to ``until``, and waits until the worker
group has committed every offset, markers included: by then every deadline up to that
instant is decided and every decision is in ``care.sla.v1``.

``load`` is the connector (``carewatch connect replay``): it validates each line first
(the contract's rules, :func:`decode_event`) and sends only valid events, unchanged and
keyed by their case key (re-encoded with pseudonymised customer ids when the producer
has a ``kafka.pseudonymise_key``), through the shared :class:`EventProducer` (idempotent,
``acks=all``, bounded in-flight records); invalid lines are counted by reason, never
sent. It sends as fast as the producer takes them, or paced by event time (``speed``:
gaps between ``occurred_at`` values divided by it; an event older than the first one
goes at once). It drives no clock and waits for no worker.

Both read JSON lines, plain or gzip-compressed (told apart by the gzip magic bytes, not
by the file name).
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, cast

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.producer import EventProducer, KafkaUnavailable, Record
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


GZIP_MAGIC: Final = b"\x1f\x8b"


@contextlib.contextmanager
def open_log(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """``(lines, raw)``: the decompressed stream when the file starts with the gzip magic
    bytes, else the file itself; ``raw.tell()`` is the position in the file on disk."""
    with path.open("rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield cast(IO[bytes], unpacked), raw
        else:
            raw.seek(0)
            yield raw, raw


def read_log(path: Path) -> Iterator[bytes]:
    """The non-empty lines of a JSON-lines file (plain or gzip), as bytes."""
    with open_log(path) as (lines, _):
        for line in lines:
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
    client_config: Mapping[str, Any] | None = None,
) -> ReplayReport:
    """``client_config``: SASL and TLS for every client it builds
    (:func:`~streams.security.kafka_python_config`); None is PLAINTEXT."""
    started = time.monotonic()
    client = dict(client_config or {})
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        retries=10,
        **client,
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
            headers, value = clock_marker(advanced_to, final=True)
            for partition in sorted(producer.partitions_for(topic)):
                producer.send(topic, value=value, headers=headers, partition=partition)
        producer.flush()
        producer.close()
        waiting = bar.add_task("waiting for the workers", total=None)
        _wait_consumed(
            bootstrap,
            topic,
            group,
            timeout,
            lambda n: bar.update(waiting, completed=n),
            client,
        )
    return ReplayReport(sent, invalid, advanced_to, time.monotonic() - started)


def _wait_consumed(
    bootstrap: str,
    topic: str,
    group: str,
    timeout: float,
    report: Callable[[int], None],
    client: Mapping[str, Any],
) -> None:
    """Block until ``group`` has committed the end offset of every partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **client)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client)
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


@dataclass(slots=True)
class LoadReport:
    """What ``load`` did: lines read, events sent and acknowledged, rejects by reason."""

    lines: int = 0
    sent: int = 0
    acked: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_rejected: dict[str, int] = field(default_factory=dict)  # reason -> first line number
    seconds: float = 0.0
    stopped: str | None = None  # why it ended before the end of the file, if it did

    @property
    def events_per_second(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else 0.0


_PROGRESS_EVERY: Final = 2000  # lines between progress bar updates


def load(
    path: Path,
    producer: EventProducer,
    *,
    speed: float | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LoadReport:
    """Send the file's valid events (module docstring). Returns when every event sent is
    acknowledged or failed, or ``stop`` is set (SIGTERM), or Kafka fails: then it stops
    sending, flushes what was sent, and says why in ``stopped``."""
    stop = threading.Event() if stop is None else stop
    report = LoadReport()
    tally = _Tally()
    failures = tally.failures
    started = clock()
    pace: tuple[float, float] | None = None  # (first occurred_at, its wall-clock instant)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    extra = (TextColumn("{task.fields[events]} events"), TimeElapsedColumn())
    bar = Progress(*columns, *extra, console=Console(stderr=True), disable=not progress)
    with open_log(path) as (lines, raw), bar:
        task = bar.add_task(f"replaying {path.name}", total=path.stat().st_size, events=0)
        for number, line in enumerate(lines, start=1):
            if stop.is_set() or failures:
                report.stopped = "stopped by a signal" if stop.is_set() else "Kafka failed"
                break
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            report.lines += 1
            if number % _PROGRESS_EVERY == 0:
                bar.update(task, completed=raw.tell(), events=report.sent)
            try:
                event = decode_event(line)
            except InvalidEvent as exc:
                report.rejected[exc.reason] += 1
                report.first_rejected.setdefault(exc.reason, number)
                continue
            if speed is not None:
                pace = pace or (event.occurred_at, clock())
                delay = pace[1] + (event.occurred_at - pace[0]) / speed - clock()
                if delay > 0 and stop.wait(delay):
                    continue  # stopped while waiting: the check above ends the loop
            try:
                producer.submit(Record(event.case_key.encode(), line, event.platform), tally)
            except KafkaUnavailable as exc:
                failures.append(exc)
                break
            report.sent += 1
        report.stopped = report.stopped or (f"Kafka failed: {failures[0]}" if failures else None)
        with contextlib.suppress(KafkaError):
            producer.flush(timeout=producer.options.ack_timeout + 5.0)
        bar.update(task, completed=raw.tell(), events=report.sent)
    report.acked = tally.acked
    report.seconds = clock() - started
    return report


class _Tally:
    """Acks and failures, counted on kafka-python's sender thread."""

    def __init__(self) -> None:
        self.acked = 0
        self.failures: list[BaseException] = []

    def ack(self) -> None:
        self.acked += 1

    def fail(self, exc: BaseException) -> None:
        self.failures.append(exc)


def print_report(report: LoadReport, path: Path, console: Console) -> None:
    """The summary ``carewatch connect replay`` prints: counts, speed, rejects by reason."""
    rejected = sum(report.rejected.values())
    console.print(
        f"{path}: {report.lines} lines, {report.acked} events acknowledged by Kafka "
        f"({report.sent} sent), {rejected} rejected, in {report.seconds:.2f} s "
        f"({report.events_per_second:,.0f} events/s)",
        soft_wrap=True,  # one line whatever the terminal's width: scripts read it
    )
    if report.rejected:
        table = Table("reason", "lines", "first at line", title="rejected lines (not sent)")
        for reason, count in report.rejected.most_common():
            table.add_row(reason, str(count), str(report.first_rejected[reason]))
        console.print(table)
    if report.stopped:
        console.print(f"stopped early: {report.stopped}", soft_wrap=True)
