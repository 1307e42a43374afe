"""Background processes the local stack starts, and how it knows they are its own.

A started process is remembered as a :class:`ProcessRecord`: its pid *and* its start
time as the kernel reports it (``/proc/<pid>/stat``, field 22). ``stop`` signals a pid
only while both still match, so a recycled pid or a process somebody else started on
the same port is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.errors import CarewatchError


class StackError(CarewatchError):
    """A component of the local stack could not be installed, started or stopped."""


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    pid: int
    start_ticks: int
    log: str

    def to_dict(self) -> dict[str, int | str]:
        return {"pid": self.pid, "start_ticks": self.start_ticks, "log": self.log}

    @classmethod
    def from_dict(cls, data: dict[str, int | str]) -> ProcessRecord:
        return cls(int(data["pid"]), int(data["start_ticks"]), str(data["log"]))


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; it only waits to be reaped
        return None
    return int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    """True while the recorded process runs (same pid, same start time)."""
    return start_ticks(record.pid) == record.start_ticks


def spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> ProcessRecord:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    ticks = start_ticks(proc.pid)
    if ticks is None:
        proc.wait()
        raise StackError(f"{argv[0]} exited at once (exit code {proc.returncode}); see {log_path}")
    return ProcessRecord(proc.pid, ticks, str(log_path))


def stop(record: ProcessRecord, timeout: float = 20.0) -> bool:
    """SIGTERM the recorded process (SIGKILL after ``timeout``); False if it was not running."""
    if not is_alive(record):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if not wait_until(lambda: not is_alive(record), timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        wait_until(lambda: not is_alive(record), 5.0)
    _reap(record.pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind (Kafka's JVM sets SO_REUSEADDR too): a port whose last
        # connections linger in TIME_WAIT is free to listen on again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path | str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
