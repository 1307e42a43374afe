"""``carewatch demo`` end to end: its own stack on free ports, two workers, the simulator.

The demo runs in a subprocess whose stdout is a pipe, so it prints one summary line per
second; the test reads them, waits for the demo to end by itself (``--duration``), and
checks that every process it started is gone and it unregistered its workers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.localstack.processes import start_ticks

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIELD = re.compile(r"(\w+)=(\S+)")


def summaries(output: str) -> list[dict[str, str]]:
    return [dict(FIELD.findall(line)) for line in output.splitlines() if line.startswith("t=")]


def test_the_demo_reaches_a_steady_state_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CAREWATCH_HOME": str(home),  # never the developer's stack
        "CAREWATCH_KAFKA_PORT": "0",
        "CAREWATCH_KAFKA_CONTROLLER_PORT": "0",
        "CAREWATCH_PROMETHEUS_PORT": "0",
        "CAREWATCH_ALERTMANAGER_PORT": "0",
    }
    started = time.monotonic()
    demo = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "45", "--speed", "60"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    took = time.monotonic() - started
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-4000:]

    pids_line = re.search(r"^demo: started pids: ([\d ]+)$", output, re.MULTILINE)
    assert pids_line, output[-4000:]
    pids = [int(p) for p in pids_line.group(1).split()]
    assert len(pids) == 6  # Kafka, Prometheus, Alertmanager, two workers, the simulator
    assert [p for p in pids if start_ticks(p) is not None] == []  # all gone, none a zombie

    lines = summaries(output)
    assert len(lines) >= 30, output[-4000:]  # about one a second for 45 s
    last = lines[-1]
    assert last["workers"] == "2/2"
    for name in ("sent", "events", "decisions", "mentions"):
        assert int(last[name]) > 0, (name, last)
    assert int(last["events"]) >= 100
    # Steady: events keep coming in the second half, and the stream keeps up with them.
    half = lines[len(lines) // 2]
    assert int(last["events"]) > int(half["events"]) > 0
    assert int(last["events"]) >= 0.9 * int(last["sent"])

    assert list((home / "prometheus" / "targets").glob("worker-*.json")) == []
    assert (home / "stack.json").read_text().strip() == "{}"  # it stopped the stack it started
    print(f"demo run took {took:.0f} s")  # the budget is about 90 s
