"""``carewatch connect replay``: a 100,000-line log, plain and gzip, lands exactly minus its
rejects; pacing by event time; a stop mid-file."""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.config import KafkaOptions
from connectors.producer import EventProducer
from connectors.replay import load, read_log
from streams.cli import main
from streams.events import format_timestamp
from streams.metrics import ConnectorMetrics
from tests.conftest import Broker, TestTopics, make_topics
from tests.connectors.harness import event_ids, topic_size

pytestmark = pytest.mark.kafka

INVALID: tuple[tuple[bytes, str], ...] = (
    (b"not json", "bad_json"),
    (b'{"schema": "care.event/1"}', "missing_field"),
    (b"[1, 2]", "not_object"),
    (b'{"schema": "care.event/1", "event_id": "bad", "kind": "chat"}', "bad_enum"),
    (b"\xff\xfe{}", "bad_encoding"),
)
T0 = 1795252400  # 2026-11-21T09:13:20Z


def valid_line(n: int, seconds: int = 0) -> bytes:
    return orjson.dumps({
        "schema": "care.event/1",
        "event_id": f"e{n}",
        "kind": "message",
        "platform": "x",
        "brand": "du",
        "thread_id": f"t{n % 500}",
        "customer_id": f"c{n % 97}",
        "occurred_at": orjson.Fragment(b'"%s"' % _stamp(T0 + seconds)),
    })  # fmt: skip


def _stamp(posix: int) -> bytes:
    return format_timestamp(posix).encode()


def write_log(path: Path, lines: int, every: int, packed: bool) -> Counter[str]:
    """``lines`` lines, every ``every``-th invalid (reasons in turn), blank lines between;
    returns the rejects by reason, as built."""
    rejects: Counter[str] = Counter()
    body = []
    for n in range(lines):
        if n % every == every - 1:
            line, reason = INVALID[(n // every) % len(INVALID)]
            rejects[reason] += 1
            body.append(line)
        else:
            body.append(valid_line(n))
        if n % 5000 == 0:
            body.append(b"   ")  # blank: skipped, not a line
    data = b"\n".join(body) + b"\n"
    path.write_bytes(gzip.compress(data, compresslevel=1) if packed else data)
    return rejects


@pytest.fixture
def producer(broker: Broker) -> Iterator[tuple[EventProducer, TestTopics]]:
    topics = make_topics(broker)
    options = KafkaOptions(broker.bootstrap, topics.events)
    producer = EventProducer(options, ConnectorMetrics(CollectorRegistry(), "replay"))
    try:
        yield producer, topics
    finally:
        producer.close()


def test_100k_lines_land_exactly_minus_the_counted_rejects(
    producer: tuple[EventProducer, TestTopics], tmp_path: Path
) -> None:
    sender, topics = producer
    path = tmp_path / "log.jsonl"
    rejects = write_log(path, 100_000, 1000, packed=False)
    report = load(path, sender, progress=False)
    assert report.rejected == rejects
    assert sum(rejects.values()) == 100
    assert report.stopped is None
    assert (report.lines, report.sent, report.acked) == (100_000, 99_900, 99_900)
    assert report.first_rejected["bad_json"] == 1001  # line numbers count the blank line too
    ids = event_ids(topics.settings.bootstrap, topics.events)
    assert len(ids) == len(set(ids)) == 100_000 - 100


def test_the_gzip_variant_through_the_command(
    broker: Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = make_topics(broker)
    monkeypatch.setenv("CAREWATCH_EVENTS_TOPIC", topics.events)
    path = tmp_path / "log.jsonl.bin"  # gzip is told by its magic bytes, not the name
    rejects = write_log(path, 100_000, 750, packed=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    argv = ["connect", "replay", str(path), "--bootstrap", broker.bootstrap, "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rejected = sum(rejects.values())
    assert f"100000 lines, {100_000 - rejected} events acknowledged by Kafka" in out
    for reason, count in rejects.items():
        assert any(reason in row and f" {count} " in row for row in out.splitlines()), reason
    assert topic_size(broker.bootstrap, topics.events) == 100_000 - rejected


class FakeTime:
    """A clock that only moves when the replay waits: the waits are the pacing."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def stop_event(self, stop_after: int | None = None) -> threading.Event:
        fake = self

        class Waits(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:
                assert timeout is not None
                fake.waits.append(round(timeout, 6))
                fake.now += timeout
                if stop_after is not None and len(fake.waits) >= stop_after:
                    self.set()
                return self.is_set()

        return Waits()


def test_speed_divides_the_event_time_gaps(
    producer: tuple[EventProducer, TestTopics], tmp_path: Path
) -> None:
    sender, topics = producer
    offsets = [0, 60, 30, 150, 150, 600]  # seconds after the first event; one out of order
    path = tmp_path / "paced.jsonl"
    path.write_bytes(b"\n".join(valid_line(n, s) for n, s in enumerate(offsets)))
    fake = FakeTime()
    report = load(path, sender, speed=10, progress=False, stop=fake.stop_event(), clock=fake.clock)
    # 60 s at 10x is 6 s; the older event goes at once; 150 s is 9 s after the 6; 600 s 45 after
    assert fake.waits == [6.0, 9.0, 45.0]
    assert report.acked == len(offsets)
    assert topic_size(topics.settings.bootstrap, topics.events) == len(offsets)


def test_a_stop_ends_the_replay_with_everything_sent_acknowledged(
    producer: tuple[EventProducer, TestTopics], tmp_path: Path
) -> None:
    sender, topics = producer
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(valid_line(n, 60 * n) for n in range(100)))
    fake = FakeTime()
    report = load(
        path, sender, speed=1, progress=False, stop=fake.stop_event(stop_after=3), clock=fake.clock
    )
    assert report.stopped == "stopped by a signal"
    assert report.sent == report.acked == 3  # the fourth waited, the stop came, it never went
    assert topic_size(topics.settings.bootstrap, topics.events) == 3


def test_read_log_reads_gzip_and_plain_alike(tmp_path: Path) -> None:
    """``carewatch replay`` (the worker's replay driver) takes gzip files too."""
    plain, packed = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz"
    write_log(plain, 50, 7, packed=False)
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(read_log(packed)) == list(read_log(plain))
    assert len(list(read_log(plain))) == 50
