"""The processes a benchmark run starts, and the guarantee that it stops every one.

Each contender runs as a subprocess of its own (``python -m ...`` from the repository
root), in a session of its own so that a Ctrl-C in the terminal reaches only the
harness, which then stops them in order: SIGTERM, and SIGKILL if one has not exited
after a grace period. :class:`Processes` remembers every process started and stops what
is still running when the run ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.cluster import BenchError
from deploy.localstack.processes import free_port, log_tail

ROOT = Path(__file__).resolve().parents[1]


class Process:
    """One subprocess, its output appended to ``log``."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        """Raise if the process has exited (with the end of its log)."""
        code = self.proc.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with code {code}:\n{log_tail(self.log, 30)}")

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; waits for the exit."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=30)


class Processes:
    """Every process of a run; :meth:`stop_all` stops the ones still running."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.started: list[Process] = []
        (home / "data").mkdir(parents=True, exist_ok=True)  # Faust makes only the last level

    def python(
        self, name: str, module: str, args: Sequence[str], env: dict[str, str] | None = None
    ) -> Process:
        process = Process(
            name,
            [sys.executable, "-m", module, *args],
            {**os.environ, **(env or {})},
            self.home / "logs" / f"{name}.log",
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop(grace=15.0)

    @contextlib.contextmanager
    def running(self, *processes: Process) -> Iterator[None]:
        """Stop these processes when the block ends."""
        try:
            yield
        finally:
            for process in processes:
                process.stop()


class Worker:
    """A ``carewatch worker`` subprocess configured by ``CAREWATCH_*`` variables."""

    def __init__(self, processes: Processes, name: str, settings: dict[str, str]) -> None:
        self.port = free_port()
        env = {
            "CAREWATCH_WEB_PORT": str(self.port),
            "CAREWATCH_DATA_DIR": str(processes.home / "data" / name),
            # No Prometheus registration: a file_sd folder that does not exist.
            "CAREWATCH_PROMETHEUS_SD_DIR": str(processes.home / "no-prometheus"),
            # Faust's own setting (default 2.8 s), so a group's last commit is seen soon
            # after its last event; the same interval as every other contender.
            "BROKER_COMMIT_INTERVAL": "0.5",
            **settings,
        }
        self.process = processes.python(name, "streams.cli", ["worker", "-l", "info"], env)

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = json.load(response)
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_health(self, ready: Any, timeout: float, what: str) -> dict[str, Any]:
        """Poll ``/health`` until ``ready(health)`` holds; returns that health."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.check()
            health = self.health()
            if health is not None and ready(health):
                return health
            time.sleep(0.1)
        raise BenchError(
            f"{self.process.name}: {what} not reached in {timeout:.0f} s; health {self.health()}\n{log_tail(self.process.log, 30)}"
        )
