"""What a result was measured on: the machine, its load, the software and the code."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.processes import ROOT
from deploy.localstack.install import KAFKA_VERSION

PACKAGES = (
    "faust-streaming",
    "aiokafka",
    "kafka-python",
    "confluent-kafka",
    "quixstreams",
    "orjson",
    "rocksdict",
)


def load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen}


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def describe() -> dict[str, Any]:
    """Cores, memory, CPU, OS, versions, and the commit (with files changed since)."""
    import confluent_kafka  # type: ignore[import-untyped]

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["librdkafka"] = confluent_kafka.libversion()[0]
    changed = [line[3:] for line in _git("status", "--porcelain").splitlines()]
    return {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "packages": versions,
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_in_streams": sorted(c for c in changed if c.startswith("streams/")),
    }
