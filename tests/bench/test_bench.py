"""The benchmark harness: its log generator, and whole quick runs on a real broker.

Benchmarks are not tests: nothing here asserts a speed. The quick run checks that the
harness produces every row with positive numbers and the machine facts, and that an
interrupted run leaves no process and no temporary file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import psutil
import pytest

from deploy.localstack.processes import wait_until
from streams.events import Kind, Status, decode_event

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is a repository folder, not an installed package

from bench.latency import quantile  # noqa: E402
from bench.logs import open_cases, write_log  # noqa: E402
from bench.report import ROW_IDS  # noqa: E402


def _open_by_sweep(lines: list[bytes]) -> tuple[int, int]:
    """Cases open at once, most and at the end, walked by the contract's rules
    (first message opens a cycle, status=resolved ends it, reopened on a resolved case
    opens one), in occurred_at order, repeats dropped."""
    events = {}
    for arrival, line in enumerate(lines):
        event = decode_event(line)
        events.setdefault(event.event_id, (event.occurred_at, arrival, event))
    state: dict[str, str] = defaultdict(lambda: "new")
    now = peak = 0
    for _, _, event in sorted(events.values(), key=lambda e: (e[0], e[1])):
        key, was = event.case_key, state[event.case_key]
        opens = (event.kind is Kind.MESSAGE and was != "open") or (
            event.status is Status.REOPENED and was == "resolved"
        )
        if opens:
            state[key], now = "open", now + 1
        elif event.status is Status.RESOLVED and was == "open":
            state[key], now = "resolved", now - 1
        peak = max(peak, now)
    return peak, now


def test_the_log_is_valid_exact_in_size_seeded_and_holds_many_cases_open(tmp_path: Path) -> None:
    events = 20_000
    stats = write_log(tmp_path / "a.jsonl", events, seed=3)
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    assert len(lines) == stats.lines == events
    decoded = [decode_event(line) for line in lines]  # raises on any contract violation
    assert {e.kind for e in decoded} == set(Kind)
    assert len({e.event_id for e in decoded}) == events - stats.repeats
    assert stats.messages + stats.replies + stats.statuses == stats.unique_events
    assert _open_by_sweep(lines) == (stats.peak_open, stats.open_at_end)
    # The share that makes a 1,000,000-event log hold 100,000 or more open at once.
    assert stats.peak_open >= events // 10
    write_log(tmp_path / "b.jsonl", events, seed=3)
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    write_log(tmp_path / "c.jsonl", events, seed=4)
    assert (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()


def test_open_cases_are_valid_messages_of_distinct_cases() -> None:
    cases = list(open_cases(range(100, 600)))
    decoded = [decode_event(line) for _, line, _ in cases]
    assert all(e.kind is Kind.MESSAGE for e in decoded)
    assert [key.decode() for key, _, _ in cases] == [e.case_key for e in decoded]
    assert len({e.case_key for e in decoded}) == 500
    assert max(at for _, _, at in cases) - min(at for _, _, at in cases) < 300


def test_quantile_is_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert quantile(ordered, 0.5) == 50.0
    assert quantile(ordered, 0.99) == 99.0
    assert quantile([7.0], 0.99) == 7.0


def _bench(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "bench", "--quick", *args],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "bench.out").open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_a_quick_run_gives_every_row_with_positive_numbers(tmp_path: Path) -> None:
    results = tmp_path / "results"
    harness = _bench(tmp_path, "--results-dir", str(results))
    code = harness.wait(timeout=5000)
    output = (tmp_path / "bench.out").read_text(errors="replace")
    assert code == 0, output[-5000:]
    [saved] = list(results.glob("*.json"))
    report = json.loads(saved.read_text())
    rows = {row["id"]: row for row in report["rows"]}
    assert set(rows) == set(ROW_IDS)
    for row in rows.values():
        numbers = [row["value"], *row["values"].values()]
        assert all(isinstance(n, int | float) and n > 0 for n in numbers), row
    for baseline in ("aiokafka", "confluent", "faust_noop", "quix_counter"):
        assert rows[f"throughput.{baseline}"]["values"]["ratio"] > 0
    machine = report["machine"]
    assert machine["cores_logical"] > 0
    assert machine["memory_bytes"] > 0
    assert machine["packages"]["quixstreams"]
    assert machine["kafka"]
    assert set(report["load_start"]) == set(report["load_end"]) == {"1m", "5m", "15m"}
    assert report["command"] == "carewatch bench --events 20000 --seed 1 --quick"
    assert report["log"]["lines"] == 20_000
    assert report["log"]["peak_open"] > 0
    assert report["command"] in output  # the table says how to reproduce it
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary folder is gone


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_interrupted_run_stops_every_process_and_removes_its_files(tmp_path: Path) -> None:
    harness = _bench(tmp_path, "--results-dir", str(tmp_path / "results"))
    seen: dict[int, psutil.Process] = {}

    def a_worker_runs() -> bool:
        for child in psutil.Process(harness.pid).children(recursive=True):
            seen.setdefault(child.pid, child)
        return any("streams.cli" in " ".join(_cmdline(p)) for p in _alive(seen))

    try:
        assert wait_until(a_worker_runs, 600, 0.5), (tmp_path / "bench.out").read_text()
        assert len(seen) >= 2  # the broker and a worker
        harness.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert harness.wait(timeout=300) == 130
    finally:
        if harness.poll() is None:
            harness.kill()
    assert _alive(seen) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "results").exists()


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(processes: dict[int, psutil.Process]) -> list[psutil.Process]:
    out = []
    for process in processes.values():
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.NoSuchProcess:
            continue
    return out
