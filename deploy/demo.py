"""``carewatch demo``: the whole thing on one machine, with simulated traffic and a board.

What it does, in order:

1. ``Stack.up()``: Kafka, Prometheus and Alertmanager (those already running are kept);
   the recording and alert rules of ``dashboards/``, built from the workers' policy file
   with every window and ``for:`` ``--speed`` times shorter (deploy/demo_rules.py), are
   written into Prometheus' rule folder, and Prometheus is told to reload.
2. Topics of this run only (``demo.<run>.care.events.v1`` and its two siblings) and a
   consumer group of its own (``carewatch-demo-<run>``): a run never replays an earlier
   run's events or case states, which would fill the board with old cases.
3. ``--workers`` stream workers (``python -m streams.cli worker`` in ``replay`` mode,
   each on a free web port, registered with Prometheus through file_sd as every worker
   does), then the simulator (``python -m connectors.simulator``) once they own every
   partition.
4. The board, once a second (deploy/demo_board.py): a live rich screen on a terminal,
   one plain summary line per second otherwise.

Time: the workers' stream clocks are event time. The simulator moves simulated time at
``--speed`` times the wall clock and, once per wall second, sends every partition a clock
marker at the simulated now, so deadlines fall due at the simulated pace
(docs/enrichment.md, "How the demo keeps time").

Stopping (Ctrl-C, SIGTERM or ``--duration`` wall seconds of traffic): the simulator,
then the workers together (each unregistered from Prometheus first, then SIGTERM,
SIGKILL after 10 s) and the run's topics go, and the rule files the demo replaced are
put back. The stack is stopped only when this demo started all of it, and
``--keep-stack`` was not given; a stack that was up before is left as it was. Every
child runs in a session of its own, so a Ctrl-C reaches only the demo, which then stops
them in that order (tests/demo/test_interrupt.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from rich.console import Console
from rich.live import Live

from deploy.demo_board import board, read_floor, summary_line
from deploy.demo_rules import (
    InstalledRules,
    demo_timing,
    describe,
    reload_prometheus,
    rule_files,
    seconds_of,
)
from deploy.localstack.processes import StackError, free_port, log_tail, wait_until
from deploy.localstack.stack import Stack, StackConfig
from streams.settings import Settings
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "dashboards" / "generated"
EXAMPLE_POLICY = ROOT / "deploy" / "policies.example.yaml"
# Seconds a child has to exit after SIGTERM, then SIGKILL. Short: the run's topics and
# consumer group are deleted right after, so a worker's clean exit saves nothing, and
# Faust's stop often waits out its consumer's wait_empty on the events the agent holds
# until its next checkpoint (seen: no exit within 30 s, ending in the SIGKILL).
STOP_TIMEOUT = 10.0
DEMO_RETENTION = 6 * 3600.0  # event-time seconds a closed case is kept by the demo's workers


@dataclass(frozen=True, slots=True)
class DemoOptions:
    scenario: str = "normal"
    speed: float = 60.0
    duration: float | None = None  # wall seconds of traffic; None: until stopped
    workers: int = 2
    seed: int = 1
    keep_stack: bool = False


@dataclass
class Child:
    """A process the demo started, in a session of its own."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    web_port: int | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for it to exit until ``deadline`` (monotonic), then SIGKILL."""
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.terminate()
        self.wait_or_kill(time.monotonic() + timeout)


def _spawn(name: str, argv: list[str], env: dict[str, str], log: Path, port: int | None) -> Child:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Child(name, proc, log, port)


@dataclass
class DemoRun:
    options: DemoOptions
    console: Console
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))
    children: list[Child] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    rules: InstalledRules | None = None  # the rule files it wrote, until put back
    prometheus: str = ""

    def run(self) -> int:
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
        stack = Stack(StackConfig.from_env(), out=lambda line: self.console.print(f"stack: {line}"))
        self.stack_was_up = {row.name for row in stack.status() if row.running}
        try:
            return self._run(stack)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleaning up: no second interrupt
            stop_stack = not self.stack_was_up and not self.options.keep_stack
            self._cleanup(stack, stop_stack=stop_stack)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop.set()

    def _run(self, stack: Stack) -> int:
        rows = {row.name: row for row in stack.up()}
        bootstrap = rows["kafka"].address
        prometheus, alertmanager = rows["prometheus"].address, rows["alertmanager"].address
        self.prometheus = prometheus
        started = [r.pid for r in rows.values() if r.pid and r.name not in self.stack_was_up]
        self._install_rules(stack.config, prometheus)
        self.home = stack.config.home / "demo" / self.run_id
        self.home.mkdir(parents=True, exist_ok=True)
        self.settings = Settings.from_env(
            bootstrap=bootstrap,
            events_topic=f"demo.{self.run_id}.care.events.v1",
            sla_topic=f"demo.{self.run_id}.care.sla.v1",
            deadletter_topic=f"demo.{self.run_id}.care.deadletter.v1",
            app_id=f"carewatch-demo-{self.run_id}",
            mode="replay",
        )
        ensure_topics(bootstrap, self.settings.topics)
        self.targets_dir = stack.config.monitoring.targets_dir
        for n in range(1, self.options.workers + 1):
            self.children.append(self._worker(n))
        if not self._wait_for_workers():
            return 1 if not self.stop.is_set() else 0
        simulator = self._simulator()
        self.children.append(simulator)
        pids = " ".join(str(p) for p in [*started, *(c.proc.pid for c in self.children)])
        self.console.print(f"demo: started pids: {pids}")
        self._print_addresses(prometheus, alertmanager)
        return self._watch(alertmanager)

    def _env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "CAREWATCH_BOOTSTRAP": s.bootstrap,
            "CAREWATCH_EVENTS_TOPIC": s.events_topic,
            "CAREWATCH_SLA_TOPIC": s.sla_topic,
            "CAREWATCH_DEADLETTER_TOPIC": s.deadletter_topic,
            "CAREWATCH_PARTITIONS": str(s.partitions),
            "CAREWATCH_APP_ID": s.app_id,
            "CAREWATCH_MODE": "replay",
        }

    def _worker(self, n: int) -> Child:
        port = free_port()
        env = {
            **self._env(),
            "CAREWATCH_WEB_PORT": str(port),
            "CAREWATCH_DATA_DIR": str(self.home / f"worker-{n}"),
            "CAREWATCH_PROMETHEUS_SD_DIR": str(self.targets_dir),
            # Closed cases are forgotten after 6 simulated hours (6 wall minutes at speed
            # 60), not 7 days: every clock marker moves (and rewrites) every case the
            # worker keeps, once a second, so the store must stay small for the workers to
            # keep up over a long demo (docs/enrichment.md).
            "CAREWATCH_RETENTION": os.environ.get("CAREWATCH_RETENTION", str(DEMO_RETENTION)),
            "CAREWATCH_POLICY_FILE": str(_policy_file()),
            "CAREWATCH_TOPIC_RULES_FILE": os.environ.get(
                "CAREWATCH_TOPIC_RULES_FILE", str(ROOT / "deploy" / "topics.example.yaml")
            ),
        }
        argv = [sys.executable, "-m", "streams.cli", "worker", "-l", "warn"]
        self.console.print(f"demo: starting worker {n} (/metrics on :{port})")
        return _spawn(f"worker-{n}", argv, env, self.home / f"worker-{n}.log", port)

    def _simulator(self) -> Child:
        o = self.options
        self.status_file = self.home / "simulator.json"
        argv = [
            sys.executable, "-m", "connectors.simulator", "--scenario", o.scenario,
            "--speed", str(o.speed), "--seed", str(o.seed), "--status", str(self.status_file),
        ]  # fmt: skip
        self.console.print(f"demo: starting the simulator ({o.scenario}, speed {o.speed:g})")
        return _spawn("simulator", argv, self._env(), self.home / "simulator.log", None)

    def _health(self, child: Child) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{child.web_port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = orjson.loads(response.read())
                return data
        except (OSError, ValueError):
            return None

    def _wait_for_workers(self, timeout: float = 180.0) -> bool:
        """Until the workers own every partition between them, or one died, or stopped."""
        self.console.print("demo: waiting for the workers to own every partition")

        def ready() -> bool:
            if self.stop.is_set() or any(not c.alive for c in self.children):
                return True
            owned: list[int] = []
            for child in self.children:
                health = self._health(child)
                if health is None or health.get("status") != "ok":
                    return False
                owned.extend(health.get("partitions", []))
            return sorted(owned) == list(range(self.settings.partitions))

        done = wait_until(ready, timeout, 0.5)
        dead = [c for c in self.children if not c.alive]
        if dead or not done:
            for child in dead or self.children:
                self.console.print(f"demo: {child.name} is not ready; last lines of {child.log}:")
                self.console.print(log_tail(child.log, 30), markup=False, highlight=False)
            return False
        return not self.stop.is_set()

    def _watch(self, alertmanager: str) -> int:
        urls = [f"http://127.0.0.1:{c.web_port}/metrics" for c in self.children if c.web_port]
        began = time.monotonic()
        header = f"carewatch demo: {self.options.scenario}, {self.options.speed:g}x, Ctrl-C stops"
        footer = f"logs: {self.home}"
        live = Live(console=self.console, auto_refresh=False) if self.console.is_terminal else None
        code = 0
        with live or contextlib.nullcontext():
            tick = began
            while not self.stop.wait(max(0.0, tick + 1.0 - time.monotonic())):
                tick = max(tick + 1.0, time.monotonic() - 1.0)  # once a second, no catching up
                elapsed = time.monotonic() - began
                floor = read_floor(urls, alertmanager, self._status())
                if live is not None:
                    live.update(board(floor, elapsed, header, footer), refresh=True)
                else:
                    print(summary_line(floor, elapsed), flush=True)
                dead = [c for c in self.children if not c.alive]
                if dead:
                    for child in dead:
                        self.console.print(f"demo: {child.name} exited; last lines of {child.log}:")
                        self.console.print(log_tail(child.log, 30), markup=False, highlight=False)
                    code = 1
                    break
                if self.options.duration is not None and elapsed >= self.options.duration:
                    break
        final = read_floor(urls, alertmanager, self._status())
        self.console.print(f"demo: final {summary_line(final, time.monotonic() - began)}")
        return code

    def _status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = orjson.loads(self.status_file.read_bytes())
            return data
        except (OSError, ValueError):
            return {}

    def _install_rules(self, config: StackConfig, prometheus: str) -> None:
        """dashboards/' rules for the workers' policy, timed for ``--speed``."""
        timing = demo_timing(self.options.speed, seconds_of(config.monitoring.scrape_interval))
        files = rule_files(_policy_file(), timing)
        self.rules = InstalledRules.install(config.monitoring.rules_dir, files)
        error = reload_prometheus(prometheus)
        if error is not None:
            raise StackError(f"Prometheus did not load the demo's rules: {error}")
        self.console.print(f"demo: alert rules loaded into Prometheus ({describe(timing)})")

    def _print_addresses(self, prometheus: str, alertmanager: str) -> None:
        for child in self.children:
            if child.web_port:
                self.console.print(
                    f"  {child.name} /metrics  http://127.0.0.1:{child.web_port}/metrics"
                )
        self.console.print(f"  Prometheus        {prometheus}")
        self.console.print(f"  Alertmanager      {alertmanager}")
        self.console.print(
            f"  Grafana files     {GENERATED / 'grafana'} (provisioning/ and dashboards/)"
        )
        self.console.print(f"  logs              {getattr(self, 'home', '-')}")

    def _cleanup(self, stack: Stack, *, stop_stack: bool) -> None:
        in_order = sorted(self.children, key=lambda c: c.name != "simulator")
        for child in in_order:
            if child.web_port is None:
                child.stop()  # the simulator, first: it flushes what it produced
                continue
            # Unscraped before it stops (no WorkerDown alert), then told to stop; the
            # workers stop together, each within STOP_TIMEOUT of the first signal.
            (self.targets_dir / f"worker-{child.web_port}.json").unlink(missing_ok=True)
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in in_order:
            child.wait_or_kill(deadline)
        if in_order:
            self.console.print(f"demo: stopped {', '.join(c.name for c in in_order)}")
        if hasattr(self, "settings"):
            self._delete_topics()
        if self.rules is not None:
            self.rules.restore()
            self.rules = None
            if not stop_stack and (error := reload_prometheus(self.prometheus)) is not None:
                self.console.print(f"demo: Prometheus did not reload its rules: {error}")
            self.console.print("demo: the stack's previous rule files are back")
        if stop_stack:
            stopped = stack.down()
            self.console.print(f"demo: stopped the stack it started ({', '.join(stopped)})")
        else:
            self.console.print("demo: the stack stays up (carewatch stack down stops it)")

    def _delete_topics(self) -> None:
        s = self.settings
        try:
            admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, request_timeout_ms=10_000)
        except (KafkaError, OSError, ValueError):
            return
        try:
            ours = [
                name
                for name in admin.list_topics()
                if name.startswith(s.app_id) or name.startswith(f"demo.{self.run_id}.")
            ]
            if ours:
                admin.delete_topics(ours)
        except KafkaError as error:
            self.console.print(f"demo: could not delete the run's topics: {error}")
        finally:
            admin.close()


def _policy_file() -> Path:
    """The workers' policy file, which the demo's rules are built from too."""
    return Path(os.environ.get("CAREWATCH_POLICY_FILE", str(EXAMPLE_POLICY)))


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo until ``options.duration`` passes or a signal; 0 unless a child failed."""
    if options.workers < 1:
        raise StackError("--workers must be at least 1")
    # Not a terminal: no wrapping at 80 columns, so each summary line stays one line.
    return DemoRun(options, console or Console(soft_wrap=True)).run()
