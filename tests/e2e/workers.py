"""Real ``carewatch worker`` processes for end-to-end tests, and reading what they produced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from deploy.localstack.processes import free_port, log_tail, wait_until
from tests.conftest import TestTopics

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """One worker subprocess on the test's own topics, consumer group and state folder."""

    def __init__(
        self,
        topics: TestTopics,
        home: Path,
        name: str,
        mode: str = "replay",
        env: dict[str, str] | None = None,
        faults: tuple[str, ...] = (),
    ) -> None:
        """``faults``: drill faults armed in the worker (:mod:`drills.faults`)."""
        self.topics = topics
        self.faults = faults
        self.home = home
        self.name = name
        self.port = free_port()
        self.log = home / f"{name}.log"
        self.env = {
            **os.environ,
            "CAREWATCH_BOOTSTRAP": topics.settings.bootstrap,
            "CAREWATCH_EVENTS_TOPIC": topics.events,
            "CAREWATCH_SLA_TOPIC": topics.sla,
            "CAREWATCH_DEADLETTER_TOPIC": topics.deadletter,
            "CAREWATCH_PARTITIONS": str(topics.settings.partitions),
            "CAREWATCH_APP_ID": topics.group,
            "CAREWATCH_MODE": mode,
            "CAREWATCH_POLICY_FILE": str(ROOT / "deploy" / "policies.example.yaml"),
            "CAREWATCH_DATA_DIR": str(home / name),
            "CAREWATCH_WEB_PORT": str(self.port),
            "CAREWATCH_PROMETHEUS_SD_DIR": str(home / "no-prometheus"),
            "CAREWATCH_SESSION_TIMEOUT": "10",  # a killed worker's partitions move in 10 s
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def command(self) -> list[str]:
        if not self.faults:
            return [sys.executable, "-m", "streams.cli", "worker", "-l", "info"]
        armed = [arg for fault in self.faults for arg in ("--fault", fault)]
        return [sys.executable, "-m", "drills.faults", *armed, "--", "worker", "-l", "info"]

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                data: dict[str, Any] = json.load(r)
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_partitions(self, count: int | None = None, timeout: float = 90) -> None:
        """Wait until the worker owns ``count`` partitions (any, when None) and is not rebalancing."""

        def ready() -> bool:
            h = self.health()
            if h is None or h["status"] != "ok" or not h["partitions"]:
                return False
            return count is None or len(h["partitions"]) == count

        if not wait_until(ready, timeout, 0.25):
            raise AssertionError(
                f"{self.name} not ready: {self.health()}\n{log_tail(self.log, 40)}"
            )

    def metrics(
        self, prefix: str = "carewatch_"
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return parse_metrics(text, prefix)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)


def parse_metrics(
    text: str, prefix: str = "carewatch_"
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, sorted labels), of the series whose names start with ``prefix``."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every message now in ``topic``, partition by partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: dict[int, list[tuple[bytes | None, bytes]]] = defaultdict(list)

        def drained() -> bool:
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.partition].extend((r.key, r.value) for r in records)
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        assert wait_until(drained, 60, 0), f"could not read {topic} to its end"
        return [m for p in sorted(out) for m in out[p]]
    finally:
        consumer.close()
