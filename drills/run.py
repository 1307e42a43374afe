"""``make drills`` (``python -m drills``): every drill on its own broker, one table, one JSON.

One run starts a Kafka broker (free loopback ports, a temporary folder), then runs the
drills one after the other, each on topics and a consumer group of its own: crash,
broker restart, rebalance, hostile input, coverage-guided fuzzing, soak (see each
module). It prints one table
(drill, verdict, figures) and saves the whole result, with the machine, its load and the
commit, as ``drills/results/<UTC start>.json``. Every process it started and the
temporary folder are removed at the end, also after Ctrl-C or SIGTERM. The exit status
is 1 when a drill found a property violated, 2 when a drill could not run.
"""

from __future__ import annotations

import argparse
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import orjson
from rich.console import Console
from rich.table import Table

from bench import machine
from drills.broker import broker_restart
from drills.crash import crash
from drills.fuzz import fuzz
from drills.hostile import hostile
from drills.rebalance import rebalance
from drills.rig import ROOT, Result, Rig
from drills.soak import soak

DRILLS = ("crash", "broker", "rebalance", "hostile", "fuzz", "soak")


def plan(args: argparse.Namespace) -> list[tuple[str, Callable[[Rig], Result]]]:
    steps: dict[str, Callable[[Rig], Result]] = {
        "crash": lambda rig: crash(rig, args.crash_events, args.crash_kills, args.seed, args.store),
        "broker": lambda rig: broker_restart(
            rig, args.broker_events, args.seed, args.broker_seconds
        ),
        "rebalance": lambda rig: rebalance(
            rig, args.rebalance_events, args.rebalance_chunks, args.seed
        ),
        "hostile": lambda rig: hostile(
            rig, args.hostile_inputs, args.seed, not args.no_far_timestamps
        ),
        "fuzz": lambda rig: fuzz(args.fuzz_runs, args.seed),
        "soak": lambda rig: soak(
            rig, args.soak_minutes * 60, args.soak_rate, args.soak_retention, args.seed
        ),
    }
    return [(name, steps[name]) for name in args.only]


def run_one(name: str, step: Callable[[Rig], Result], rig: Rig, console: Console) -> Result:
    console.print(f"[bold]{name}[/] ...")
    began = time.monotonic()
    try:
        result = step(rig)
    except Exception as exc:  # a drill that cannot run is reported, the others still run
        result = Result(name, "", ok=False, summary="could not run")
        result.problems = [f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=6)]
        result.figures["error"] = True
    result.seconds = time.monotonic() - began
    verdict = "[green]held[/]" if result.ok else "[red]VIOLATED[/]"
    console.print(f"  {verdict} in {result.seconds:.0f} s: {result.summary}", soft_wrap=True)
    for problem in result.problems[:10]:
        console.print(f"  [red]-[/] {problem}", soft_wrap=True)
    return result


def table(results: Sequence[Result]) -> Table:
    out = Table("drill", "verdict", "figures", "s", title="carewatch drills")
    for r in results:
        out.add_row(r.drill, "held" if r.ok else "VIOLATED", r.summary, f"{r.seconds:.0f}")
    return out


def save(results: Sequence[Result], report: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.json"
    body = {**report, "drills": [asdict(r) for r in results]}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


def _terminate(*_: Any) -> NoReturn:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    previous = signal.signal(signal.SIGTERM, _terminate)
    report: dict[str, Any] = {
        "command": command(args),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_start": machine.load(),
        "machine": machine.describe(),
    }
    results: list[Result] = []
    began = time.monotonic()
    try:
        with Rig(keep=args.keep) as rig:
            for name, step in plan(args):
                results.append(run_one(name, step, rig, console))
            if not all(r.ok for r in results) and not rig.keep:
                rig.keep = True  # the workers' and the broker's logs are the evidence
                console.print(f"a drill failed: logs kept in {rig.home}")
    except KeyboardInterrupt:
        console.print("interrupted: every process stopped, temporary files removed")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    report["load_end"] = machine.load()
    report["seconds"] = time.monotonic() - began
    path = save(
        results, report, Path(args.results_dir) if args.results_dir else ROOT / "drills" / "results"
    )
    console.print(table(results))
    console.print(
        f"load average {report['load_start']['1m']:.2f} at the start, {report['load_end']['1m']:.2f} at the end; saved {path}"
    )
    if any(r.figures.get("error") for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


def command(args: argparse.Namespace) -> str:
    words = ["python", "-m", "drills", "--only", ",".join(args.only), "--seed", str(args.seed)]
    for name in (
        "crash_events",
        "crash_kills",
        "store",
        "broker_events",
        "broker_seconds",
        "rebalance_events",
        "rebalance_chunks",
        "hostile_inputs",
        "fuzz_runs",
        "soak_minutes",
        "soak_rate",
        "soak_retention",
    ):
        words += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return " ".join(words)


QUICK = {
    "crash_events": 3000,
    "crash_kills": 2,
    "broker_events": 3000,
    "broker_seconds": 15.0,
    "rebalance_events": 4000,
    "rebalance_chunks": 3,
    "hostile_inputs": 1500,
    "fuzz_runs": 20_000,
    "soak_minutes": 1.0,
    "soak_retention": 15.0,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    p.add_argument(
        "--only",
        type=lambda s: [d.strip() for d in s.split(",") if d.strip()],
        default=list(DRILLS),
        help=f"some of {','.join(DRILLS)} (default all)",
    )
    p.add_argument("--quick", action="store_true", help="the tests' sizes: " + str(QUICK))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--crash-events", type=int, default=200_000)
    p.add_argument("--crash-kills", type=int, default=5)
    p.add_argument("--store", choices=("memory", "rocksdb"), default="memory")
    p.add_argument("--broker-events", type=int, default=40_000)
    p.add_argument("--broker-seconds", type=float, default=120.0, help="how long the load lasts")
    p.add_argument("--rebalance-events", type=int, default=60_000)
    p.add_argument("--rebalance-chunks", type=int, default=10)
    p.add_argument("--hostile-inputs", type=int, default=100_000)
    p.add_argument(
        "--no-far-timestamps",
        action="store_true",
        help="keep the valid year-1/year-9999 events away from the worker (RELIABILITY.md, Found 1)",
    )
    p.add_argument("--fuzz-runs", type=int, default=200_000, help="atheris inputs per target")
    p.add_argument("--soak-minutes", type=float, default=30.0)
    p.add_argument("--soak-rate", type=float, default=100.0, help="events/s")
    p.add_argument("--soak-retention", type=float, default=30.0, help="CAREWATCH_RETENTION, s")
    p.add_argument("--results-dir", help="where the JSON goes (default drills/results)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return p


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    unknown = set(args.only) - set(DRILLS)
    if unknown:
        p.error(f"unknown drills {sorted(unknown)}; choose from {','.join(DRILLS)}")
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == p.get_default(name):
                setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(argv))
