"""``carewatch demo`` as a subprocess on a stack of its own, read line by line as it runs.

The demo's stdout is a pipe, so it prints one summary line per second (``t=12s sim=+12m
sent=44 workers=2/2 events=44 ...``); a thread collects every line, and the tests wait
on them with deadlines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELD = re.compile(r"(\w+)=(\S+)")


def summaries(lines: list[str]) -> list[dict[str, str]]:
    return [dict(FIELD.findall(line)) for line in lines if line.startswith("t=")]


def isolated_env(home: Path) -> dict[str, str]:
    """The demo's stack in ``home`` on free ports: never the developer's stack."""
    return {
        **os.environ,
        "CAREWATCH_HOME": str(home),
        "CAREWATCH_KAFKA_PORT": "0",
        "CAREWATCH_KAFKA_CONTROLLER_PORT": "0",
        "CAREWATCH_PROMETHEUS_PORT": "0",
        "CAREWATCH_ALERTMANAGER_PORT": "0",
    }


class DemoProcess:
    """``python -m streams.cli demo ARGS`` in a process group of its own (as a terminal's
    foreground job is), so :meth:`interrupt` is what Ctrl-C does."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "demo", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line matching ``pattern``; fails with the output's tail on timeout or
        when the demo exits without printing one."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r} (exit code {self.proc.poll()}):\n"
                        + "\n".join(self.lines[-60:])
                    )
                self._changed.wait(min(left, 1.0))

    def wait_for_summary(
        self, condition: str, timeout: float, test: Callable[[dict[str, str]], bool]
    ) -> dict[str, str]:
        """The first summary line for which ``test(fields)`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                for fields in summaries(self.lines):
                    if test(fields):
                        return fields
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"no summary line with {condition} (exit code {self.proc.poll()}):\n"
                        + "\n".join(self.lines[-60:])
                    )
                self._changed.wait(min(left, 1.0))

    def started_pids(self) -> list[int]:
        match = self.wait_for(r"^demo: started pids: ([\d ]+)$", 0)
        return [int(p) for p in match.group(1).split()]

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)  # to the whole group, as Ctrl-C in a terminal

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def close(self, env: dict[str, str]) -> None:
        """After a failed test: stop the demo as SIGTERM does (it stops what it started),
        or kill it and stop the stack of its home."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                subprocess.run(
                    [sys.executable, "-m", "streams.cli", "stack", "down"],
                    cwd=ROOT, env=env, timeout=120, check=False,
                )  # fmt: skip
        self._reader.join(10)
