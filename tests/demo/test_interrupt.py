"""Ctrl-C stops everything ``carewatch demo`` started, and only that.

The demo runs without ``--duration`` in a process group of its own; once it is steady
(both workers up, events and decisions counted) the test sends SIGINT to the group, as a
terminal does, and checks the demo exits with 0 and that every process it started is
gone. Twice: with a stack the demo starts itself (all of it stops), and with a stack that
was up before (it stays up, untouched, rule files included, as docs/demo.md says).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.localstack.processes import start_ticks
from tests.demo.demo_process import ROOT, DemoProcess, isolated_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PRODUCTION_ALERTS = (
    ROOT / "dashboards" / "generated" / "prometheus" / "rules" / "carewatch-alerts.yml"
)


def stack_pids(home: Path) -> dict[str, int]:
    state = json.loads((home / "stack.json").read_text())
    return {name: int(entry["pid"]) for name, entry in state.items()}


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if start_ticks(p) is not None]


def steady(fields: dict[str, str]) -> bool:
    return fields.get("workers") == "2/2" and all(
        int(fields.get(name, "0")) > 0 for name in ("events", "decisions")
    )


@pytest.mark.parametrize("stack_before", [False, True], ids=["own-stack", "stack-kept"])
def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path, stack_before: bool) -> None:
    home = tmp_path / "home"
    env = isolated_env(home)
    before: dict[str, int] = {}
    rules = home / "prometheus" / "rules"
    if stack_before:
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "stack", "up"],
            cwd=ROOT, env=env, check=True, timeout=240, capture_output=True,
        )  # fmt: skip
        before = stack_pids(home)
        shutil.copyfile(PRODUCTION_ALERTS, rules / PRODUCTION_ALERTS.name)  # someone's rules
    began = time.monotonic()
    demo = DemoProcess(["--speed", "60"], env)
    try:
        demo.wait_for_summary("events and decisions", 240, steady)
        steady_after = time.monotonic() - began
        demo.interrupt()
        code = demo.wait(90)
        stopped_after = time.monotonic() - began - steady_after
        still_up = alive(list(before.values()))  # before the test stops the stack
    finally:
        demo.close(env)
        if stack_before:
            subprocess.run(
                [sys.executable, "-m", "streams.cli", "stack", "down"],
                cwd=ROOT, env=env, timeout=120, check=False, capture_output=True,
            )  # fmt: skip
    output = demo.output
    assert code == 0, output[-4000:]
    assert "demo: final" in output
    started = demo.started_pids()
    assert alive(started) == []  # all gone, none a zombie
    assert list((home / "prometheus" / "targets").glob("worker-*.json")) == []
    if stack_before:
        assert len(started) == 3  # two workers and the simulator; the stack was there
        assert not set(started) & set(before.values())
        assert still_up == list(before.values())  # Kafka, Prometheus, Alertmanager
        assert "the stack stays up" in output
        assert (rules / PRODUCTION_ALERTS.name).read_bytes() == PRODUCTION_ALERTS.read_bytes()
        assert not (rules / "carewatch-recording.yml").exists()  # the demo's, taken away
    else:
        assert len(started) == 6  # Kafka, Prometheus, Alertmanager, two workers, simulator
        assert (home / "stack.json").read_text().strip() == "{}"
    print(f"steady after {steady_after:.0f} s, stopped {stopped_after:.1f} s after Ctrl-C")
