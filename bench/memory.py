"""Memory per open case, and recovery of a worker's table from its changelog.

Memory: a carewatch worker (replay mode, the given store) starts on an empty topic of
its own; once it owns every partition and its resident set size (psutil RSS) has
settled, the harness produces ``cases`` cases of one customer message each (see
:func:`bench.logs.open_cases`: open, waiting for a first reply, none decided), in two
halves, each followed by a clock marker past it; after each half it waits until the
group has committed all of it and ``/health`` counts every case so far, and lets the RSS
settle. Reported: the growth from the idle worker to all cases, divided by ``cases``
(what an operator sees), and the growth over the second half per case of it (the
marginal cost of one more case, without the buffers and caches the first events
allocate once). "Settled": two readings 0.5 s apart within 0.5 % (at most 10 s).

Recovery: that worker is stopped (SIGTERM: it leaves the group at once, so the time
below holds no session timeout), and a new worker of the same group starts with an
empty state folder. Measured: from starting its process until its ``/health`` counts
every case, i.e. the table restored from the changelog topic and the cases rebuilt from
it. Its start-up before it owns the partitions (Python, Faust, the language models,
the group join) is part of that time and is also reported on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.cluster import BenchError, GroupWatch, Sender, create_topics, end_offsets
from bench.logs import START, open_cases
from bench.processes import Processes, Worker
from bench.throughput import Target, worker_settings

SETTLE_TOLERANCE = 0.005
SETTLE_LIMIT = 10.0


@dataclass(frozen=True, slots=True)
class MemoryResult:
    cases: int
    rss_before: int
    rss_half: int  # after the first half of the cases
    rss_after: int

    @property
    def per_case(self) -> float:
        """RSS growth from the idle worker to all cases loaded, per case."""
        return (self.rss_after - self.rss_before) / self.cases

    @property
    def marginal(self) -> float:
        """RSS growth per case over the second half only: without what the first
        events cost once (fetch and send buffers, caches, code warmed up)."""
        return (self.rss_after - self.rss_half) / (self.cases - self.cases // 2)


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    cases: int
    seconds: float  # process start to every case recovered
    owned_after: float  # process start to owning the partitions
    changelog: int  # records in the changelog topic (all read back: not yet compacted)


def settled_rss(worker: Worker) -> int:
    """The worker's RSS once two readings 0.5 s apart differ by less than 0.5 %."""
    deadline = time.monotonic() + SETTLE_LIMIT
    last = worker.process.rss()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = worker.process.rss()
        if abs(now - last) <= SETTLE_TOLERANCE * last:
            return now
        last = now
    return last


def memory_and_recovery(
    bootstrap: str,
    processes: Processes,
    store: str,
    cases: int,
    partitions: int,
    label: str,
    advance: Callable[[int], None],
) -> tuple[MemoryResult, RecoveryResult]:
    topic = f"bench.open.{store}.{label}"
    group = f"bench-open-{store}-{label}"
    create_topics(bootstrap, [topic], partitions)
    target = Target(bootstrap, topic, partitions, cases + 2 * partitions, label)
    settings = worker_settings(target, group, "replay", store)
    first = Worker(processes, f"{group}-first", settings)
    halves = (range(cases // 2), range(cases // 2, cases))
    rss: list[int] = []
    with processes.running(first.process):
        watch = GroupWatch(bootstrap, group, topic, partitions)
        try:
            watch.wait_owned(1, target.timeout, first.process.check)
            first.wait_health(lambda h: len(h["partitions"]) == partitions, 120, "ready")
            rss.append(settled_rss(first))
            sender, start, sent = Sender(bootstrap, partitions), START, 0
            for numbers in halves:
                start = _load(sender, topic, numbers, start)
                sent += len(numbers) + partitions
                watch.wait_committed(sent, target.timeout, first.process.check, advance)
                loaded = numbers.stop
                first.wait_health(lambda h, n=loaded: h["cases"] == n, target.timeout, f"{loaded} cases")  # fmt: skip
                rss.append(settled_rss(first))
        finally:
            watch.close()
    changelog = sum(end_offsets(bootstrap, f"{group}-cases-changelog", partitions).values())
    second = Worker(processes, f"{group}-second", settings)  # an empty state folder
    with processes.running(second.process):
        owned_at = None
        deadline = time.monotonic() + target.timeout
        while time.monotonic() < deadline:
            second.process.check()
            health = second.health() or {"partitions": [], "cases": 0}
            if owned_at is None and len(health["partitions"]) == partitions:
                owned_at = time.monotonic()
            if health["cases"] == cases and owned_at is not None:
                done_at = time.monotonic()
                break
            time.sleep(0.1)
        else:
            raise BenchError(
                f"{group}: the new worker did not recover {cases} cases in {target.timeout:.0f} s"
            )
    started = second.process.started
    return (
        MemoryResult(cases, *rss),
        RecoveryResult(cases, done_at - started, owned_at - started, changelog),
    )


def _load(sender: Sender, topic: str, numbers: range, start: float) -> float:
    """Produce one message for each case of ``numbers`` from ``start``, then a clock
    marker past the last (the default 60 s lateness and 1 s): every case is applied.
    Returns when the next cases may start (after the marker, by more than the lateness)."""
    last = start
    for key, line, at in open_cases(numbers, start):
        sender.send(topic, key, line)
        last = at
    sender.markers(topic, last + 61.0)
    sender.flush()
    return last + 200.0
