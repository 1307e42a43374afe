"""What every drill stands on: its own Kafka broker, topics, real workers, and results.

The broker is the local stack's KRaft node (:mod:`deploy.localstack.kafka`, the cached
jars) in a temporary folder on free loopback ports; unlike the test session's broker it
can be stopped and started again on the same ports with the same data folder, which the
broker drill does. Workers are the end-to-end tests' :class:`WorkerProcess` (a real
``carewatch worker`` subprocess) on topics and a consumer group of the drill's own.
:class:`Rig` remembers every worker it started and stops them, and the broker, when it
closes, however the run ends.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import psutil  # type: ignore[import-untyped]

from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import ProcessRecord, free_port, is_alive, log_tail, stop
from streams.errors import CarewatchError
from tests.conftest import Broker, TestTopics, make_topics
from tests.e2e.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[1]
LATENESS = 60.0  # the allowed lateness of every drill's workers (the default)
T = TypeVar("T")


class DrillError(CarewatchError):
    """A drill could not run a step (the message says which and why)."""


@dataclass(slots=True)
class Result:
    """One drill's verdict: ``ok`` when every property held; ``problems`` says which did not."""

    drill: str
    command: str
    ok: bool = True
    summary: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def require(self, holds: bool, problem: str) -> None:
        """Record ``problem`` (and fail the drill) unless ``holds``."""
        if not holds:
            self.ok = False
            self.problems.append(problem)


class Rig:
    """One broker, the workers started on it, and a temporary folder for their state."""

    def __init__(self, home: Path | None = None, keep: bool = False) -> None:
        self.home = home or Path(tempfile.mkdtemp(prefix="carewatch-drills-"))
        self.keep = keep
        self.node = kafka.KafkaNode(
            self.home / "kafka", free_port(), free_port(), default_cache_dir(), heap="1g"
        )
        self.record: ProcessRecord | None = None
        self.workers: list[WorkerProcess] = []

    @property
    def bootstrap(self) -> str:
        return self.node.bootstrap

    def start_broker(self) -> float:
        """Start the broker (again, on the same ports and data); returns the seconds it took."""
        began = time.monotonic()
        self.record = kafka.start(self.node)
        return time.monotonic() - began

    def stop_broker(self) -> float:
        """SIGTERM the broker (SIGKILL after 20 s) and wait for its exit; returns seconds."""
        began = time.monotonic()
        if self.record is not None:
            stop(self.record)
        return time.monotonic() - began

    def broker_alive(self) -> bool:
        return self.record is not None and is_alive(self.record)

    def topics(self, partitions: int = 4) -> TestTopics:
        """The three contract topics and a consumer group, named for one drill only."""
        return make_topics(Broker(self.bootstrap, self.node), partitions)

    def worker(
        self,
        topics: TestTopics,
        name: str,
        mode: str = "replay",
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        """A worker (not started yet); the same ``name`` again shares the state folder."""
        worker = WorkerProcess(topics, self.home, name, mode, env)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in reversed(self.workers):
            stop_worker(worker)
        if self.record is not None:
            stop(self.record)
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Rig:
        self.start_broker()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_worker(worker: WorkerProcess, grace: float = 20.0) -> float | None:
    """SIGTERM, and SIGKILL when it has not exited within ``grace`` seconds (a consumer
    stuck in Faust's ``wait_empty``: RELIABILITY.md, Found 2). Returns the seconds a
    graceful stop took, None when it needed SIGKILL (or was not running)."""
    proc = worker.proc
    if proc is None or proc.poll() is not None:
        return None
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        worker.kill()
        return None
    return time.monotonic() - began


def crash_reasons(worker: WorkerProcess) -> list[str]:
    """The distinct ``Crashed reason=...`` lines of Faust's supervisor in the worker's log."""
    try:
        text = worker.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return sorted(
        {
            line.split("Crashed reason=", 1)[1].strip()
            for line in text.splitlines()
            if "Crashed reason=" in line
        }
    )


def rss(pid: int) -> int:
    """Resident memory of a process, bytes."""
    return int(psutil.Process(pid).memory_info().rss)


def alive(worker: WorkerProcess) -> bool:
    return worker.proc is not None and worker.proc.poll() is None


def worker_log(worker: WorkerProcess, lines: int = 30) -> str:
    return f"{worker.name}'s log:\n{log_tail(worker.log, lines)}"


class Background(Generic[T]):
    """A call in a thread of its own; :meth:`result` joins it and returns or re-raises."""

    def __init__(self, call: Callable[[], T], name: str) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._value = call()
        except BaseException as error:  # handed to the caller in result()
            self._error = error
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float) -> T:
        if not self._done.wait(timeout):
            raise DrillError(f"{self._thread.name} did not finish within {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took (DrillError after ``timeout``)."""
    began = time.monotonic()
    deadline = began + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DrillError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - began
