"""``carewatch bench`` (``make bench``, ``python -m bench``): the whole benchmark, one table.

One run starts its own Kafka broker (free loopback ports, a temporary folder), writes a
seeded log (:mod:`bench.logs`), produces it once into a topic of its own, then measures,
one thing at a time so nothing competes for the CPU but what is measured and the broker:

1. throughput (:mod:`bench.throughput`): one carewatch worker with the memory store,
   one with RocksDB, the four baselines, two carewatch workers together;
2. live latency and breach detection delay (:mod:`bench.latency`) at 2,000 events/s
   and at 80 % of the one-worker throughput;
3. memory per open case and recovery from the changelog, both stores (:mod:`bench.memory`).

It prints one table and saves it, with the machine, its load and the versions, as
``bench/results/<UTC start>.json``. Every process and the temporary folder are removed
at the end, also after Ctrl-C or SIGTERM. ``--quick`` is the small version the tests run
(20,000 events, 5 s live runs): its numbers check the harness, they measure little.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import enrichment, latency, machine, memory, throughput
from bench.cluster import Broker, create_topics, produce_log, start_broker
from bench.logs import LATENESS, write_log
from bench.processes import ROOT, Processes
from bench.report import Report, Row

STEPS = ("throughput", "latency", "memory")
QUICK_EVENTS = 20_000
FULL_EVENTS = 1_000_000
LIVE_RATE = 2000.0
BUSY_LOAD = 1.5  # above this 1-minute load average, figures are taken under load


@dataclass(frozen=True, slots=True)
class Plan:
    events: int
    quick: bool
    seed: int
    partitions: int
    results: Path
    keep: bool
    steps: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        events = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
        steps = tuple(getattr(args, "steps", None) or STEPS)
        results = Path(args.results_dir) if args.results_dir else ROOT / "bench" / "results"
        return cls(events, args.quick, args.seed, 4, results, args.keep, steps)

    @property
    def live_seconds(self) -> float:
        return 5.0 if self.quick else min(60.0, max(10.0, self.events / 10_000))

    def command(self) -> str:
        words = ["carewatch", "bench", "--events", str(self.events), "--seed", str(self.seed)]
        if self.quick:
            words.append("--quick")
        if self.steps != STEPS:
            words += ["--steps", ",".join(self.steps)]
        return " ".join(words)


class Task:
    """One line of the progress display: ``add`` counts up, ``set`` sets the count."""

    def __init__(self, progress: Progress, description: str, total: float | None) -> None:
        self.progress = progress
        self.id = progress.add_task(description, total=total)

    def add(self, n: int) -> None:
        self.progress.advance(self.id, n)

    def set(self, n: int) -> None:
        self.progress.update(self.id, completed=n)


class Bench:
    def __init__(self, plan: Plan, console: Console) -> None:
        self.plan = plan
        self.console = console
        self.home = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
        self.processes = Processes(self.home)
        self.label = uuid.uuid4().hex[:8]
        self.report = Report(plan.command(), machine.describe())
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )

    @contextlib.contextmanager
    def step(self, description: str, total: float | None = None) -> Iterator[Task]:
        task = Task(self.progress, description, total)
        yield task
        done = self.progress.tasks[task.id].completed if total is None else total
        self.progress.update(task.id, total=done or 1, completed=done or 1)

    def note(self, row: Row) -> None:
        self.report.add(row)
        self.console.print(f"  {row.label}: {row.value:,.1f} {row.unit}  {row.detail}")

    def run(self) -> Report:
        started = time.monotonic()
        self.report.load_start = machine.load()
        with self.progress:
            with self.step("starting Kafka"):
                broker = start_broker(self.home / "kafka")
            try:
                self._measure(broker)
            finally:
                self.processes.stop_all()
                broker.stop()
        self.report.load_end = machine.load()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _measure(self, broker: Broker) -> None:
        plan = self.plan
        path = self.home / "events.jsonl"
        with self.step(f"generating {plan.events:,} events", 2 * plan.events) as task:
            stats = write_log(path, plan.events, plan.seed, task.add)
        self.report.log = stats.to_dict()
        topic = f"bench.events.{self.label}"
        create_topics(broker.bootstrap, [topic], plan.partitions)
        with self.step("producing them to Kafka", plan.events) as task:
            began = time.monotonic()
            advance_to = stats.last_at + LATENESS + 1.0  # as `carewatch replay` does
            messages = produce_log(
                broker.bootstrap, topic, path, plan.partitions, advance_to, task.add
            )
            self.report.log["produce_seconds"] = time.monotonic() - began
        self.report.log["topic_messages"] = messages  # the log, repeats and clock markers
        target = throughput.Target(broker.bootstrap, topic, plan.partitions, messages, self.label)
        rate = None
        if "throughput" in plan.steps:
            rate = self._throughput(target)
            self._enrichment(path, rate)
        if "latency" in plan.steps:
            self._latency(broker.bootstrap, LIVE_RATE, "2000")
            if rate is not None:
                self._latency(broker.bootstrap, 0.8 * rate, "80pct")
        if "memory" in plan.steps:
            for store in ("memory", "rocksdb"):
                self._memory(broker.bootstrap, store)

    def _enrichment(self, log: Path, rate: float) -> None:
        with self.step("enrichment: language and topic of the log's messages"):
            cost = enrichment.measure(log)
        share = cost.per_event_us * rate / 1e6  # of one worker's time per event
        self.note(
            Row(
                "enrichment.cost",
                "enrichment (language + topic) per event of the log",
                cost.per_event_us,
                "µs",
                {"per_message_us": cost.per_message_us, "share": share},
                detail=(
                    f"{cost.enriched:,} of {cost.events:,} events enriched, "
                    f"{cost.per_message_us:,.0f} µs each; {share:.1%} of one worker's time per event"
                ),
            )
        )

    def _throughput(self, target: throughput.Target) -> float:
        total = target.messages
        results: dict[str, throughput.Throughput] = {}
        for store in ("memory", "rocksdb"):
            with self.step(f"carewatch worker, {store} store", total) as task:
                results[store] = throughput.carewatch(target, self.processes, store, task.set)
            r = results[store]
            self.note(
                Row(
                    f"throughput.carewatch.{store}",
                    f"carewatch worker, {store} store (replay)",
                    r.rate,
                    "events/s",
                    detail=f"{r.messages:,} messages in {r.seconds:.1f} s; {r.extra['open_cases_held']:,} cases open at the end",
                )
            )
        mine = results["memory"].rate
        for name, (_module, what) in throughput.BASELINES.items():
            with self.step(what, total) as task:
                r = throughput.baseline(target, self.processes, name, task.set)
            own = r.extra.get("self_timed_rate")
            detail = f"{r.messages:,} messages in {r.seconds:.2f} s"
            if own:
                detail += f"; timed by itself (assignment to commit): {own:,.0f}/s"
            self.note(
                Row(
                    f"throughput.{name}", what, r.rate, "events/s", {"ratio": mine / r.rate}, detail
                )
            )
        with self.step("two carewatch workers, memory store", total) as task:
            r = throughput.carewatch(target, self.processes, "memory", task.set, workers=2)
        self.note(
            Row(
                "scaling.carewatch.two_workers",
                "two carewatch workers, memory store (replay)",
                r.rate,
                "events/s",
                {"speedup": r.rate / mine},
                detail=f"{r.rate / mine:.2f} × one worker; {r.messages:,} messages after both owned partitions, in {r.seconds:.1f} s",
            )
        )
        return mine

    def _latency(self, bootstrap: str, rate: float, name: str) -> None:
        seconds = self.plan.live_seconds
        label = f"{name}-{self.label}"
        with self.step(
            f"live at {rate:,.0f} events/s for {seconds:.0f} s", int(rate * seconds)
        ) as task:
            r = latency.live(
                bootstrap, self.processes, label, rate, seconds, self.plan.partitions, task.set
            )
        scope = f"live, {rate:,.0f} events/s" + (" (80 % of max)" if name == "80pct" else "")
        for kind, q, what in (
            ("latency", r.met, "decision latency (met: produced − due)"),
            ("breach", r.breached, "breach detection delay (produced − deadline − lateness)"),
        ):
            extra = (
                f"; event produced → decision ≈ {q.p50 * 1000 + 1000:,.0f} / {q.p99 * 1000 + 1000:,.0f} ms"
                if kind == "latency"
                else ""
            )
            self.note(
                Row(
                    f"{kind}.live.{name}",
                    f"{what}, {scope}",
                    q.p99 * 1000,
                    "ms",
                    {
                        "p50": q.p50 * 1000,
                        "p99": q.p99 * 1000,
                        "max": q.max * 1000,
                        "n": q.n,
                        "rate": r.rate,
                        "achieved": r.achieved,
                    },
                    detail=f"{q.n:,} decisions, max {q.max * 1000:,.0f} ms; sent {r.achieved:,.0f} events/s{extra}",
                )
            )

    def _memory(self, bootstrap: str, store: str) -> None:
        cases = self.plan.events
        with self.step(f"{cases:,} open cases, {store} store, then recovery", cases) as task:
            mem, rec = memory.memory_and_recovery(
                bootstrap, self.processes, store, cases, self.plan.partitions, self.label, task.set
            )
        self.note(
            Row(
                f"memory.per_case.{store}",
                f"resident memory per open case, {store} store",
                mem.per_case,
                "B/case",
                values={"marginal": mem.marginal},
                detail=f"{cases:,} cases: RSS {mem.rss_before / 2**20:,.0f} → {mem.rss_after / 2**20:,.0f} MiB; second half alone {mem.marginal:,.0f} B/case",
            )
        )
        self.note(
            Row(
                f"recovery.{store}",
                f"recovery of {cases:,} cases from the changelog, {store} store",
                rec.seconds,
                "s",
                detail=f"new worker's start to all cases loaded ({rec.changelog:,} changelog records read); it owned its partitions after {rec.owned_after:.1f} s",
            )
        )

    def cleanup(self) -> None:
        if self.plan.keep:
            self.console.print(f"kept {self.home} (logs, state, the event log)")
        else:
            shutil.rmtree(self.home, ignore_errors=True)


def _terminate(*_: Any) -> NoReturn:
    raise KeyboardInterrupt


def run(plan: Plan, console: Console | None = None) -> int:
    console = console or Console()
    previous = signal.signal(signal.SIGTERM, _terminate)
    bench = Bench(plan, console)
    try:
        report = bench.run()
    except KeyboardInterrupt:
        console.print("interrupted: every process stopped, temporary files removed")
        return 130
    finally:
        bench.cleanup()
        signal.signal(signal.SIGTERM, previous)
    path = report.save(plan.results)
    report.print(console)
    start, end = report.load_start.get("1m", 0.0), report.load_end.get("1m", 0.0)
    if max(start, end) > BUSY_LOAD:
        console.print(
            f"[bold]note:[/] 1-minute load average {start:.2f} at the start, {end:.2f} at the end"
            f" (above {BUSY_LOAD}): figures taken under load"
        )
    console.print(f"saved {path}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=int,
        help=f"events in the log (default {FULL_EVENTS:,}; --quick: {QUICK_EVENTS:,})",
    )
    parser.add_argument("--quick", action="store_true", help="the small version (tests)")
    parser.add_argument("--seed", type=int, default=1, help="the log's seed (default 1)")
    parser.add_argument("--results-dir", help="where the JSON goes (default bench/results)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--steps", type=lambda s: tuple(s.split(",")), help=f"some of {','.join(STEPS)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_arguments(parser)
    return run(Plan.from_args(parser.parse_args(argv)))
