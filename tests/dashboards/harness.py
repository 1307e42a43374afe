"""What the integration test runs besides the worker: the webhook Alertmanager delivers
to, a stand-in connector exporting the real ``ConnectorMetrics``, and a player that
sends a :class:`~tests.dashboards.scenario.Scenario` step by step in wall time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, start_http_server

from deploy.localstack.monitoring import target_file
from deploy.localstack.processes import free_port, wait_until
from streams.control import clock_marker
from streams.metrics import ConnectorMetrics
from tests.dashboards.scenario import Step


@dataclass
class Notification:
    at: float
    receiver: str
    status: str  # firing | resolved (of this one alert)
    labels: dict[str, str]
    annotations: dict[str, str]


class WebhookReceiver:
    """Alertmanager's webhook receiver on 127.0.0.1: keeps every alert it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    for alert in body["alerts"]:
                        receiver.notifications.append(
                            Notification(
                                time.time(),
                                body["receiver"],
                                alert["status"],
                                alert["labels"],
                                alert["annotations"],
                            )
                        )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def seen(self, alertname: str, status: str) -> list[Notification]:
        with self._lock:
            return [
                n
                for n in self.notifications
                if n.labels.get("alertname") == alertname and n.status == status
            ]

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join()


class StandInConnector:
    """The real ConnectorMetrics of a connector named ``x_stream``, scraped by Prometheus."""

    def __init__(self, targets_dir: Path) -> None:
        self.registry = CollectorRegistry()
        self.metrics = ConnectorMetrics(self.registry, "x_stream")
        self.metrics.up(True)
        port = free_port()
        self._server, self._thread = start_http_server(port, "127.0.0.1", self.registry)
        self.target = target_file(
            targets_dir, "connector-x_stream", f"127.0.0.1:{port}", {"component": "connector"}
        )

    def step(self, step: Step) -> None:
        """Connected except during the outage, when it also hits rate limits."""
        self.metrics.up(step.phase != "slow")
        self.metrics.wrote("x", len(step.lines))
        if step.index == 0 or (step.phase == "slow" and step.index % 3 == 0):
            self.metrics.error("rate_limited")

    def close(self) -> None:
        self.target.unlink(missing_ok=True)
        self._server.shutdown()
        self._thread.join()


@dataclass
class Player:
    """Sends the steps, one every ``periods[phase]`` wall seconds, each followed by a clock
    marker on every partition (what ``carewatch replay`` sends at the end of a log).

    Before each step it waits until ``consumed(n)`` holds for ``n`` the messages sent up
    to ``lag`` steps before: the worker stays within that many steps of the player, so a
    loaded machine stretches the scenario instead of letting the worker fall behind the
    connector's (wall-time) story.
    """

    bootstrap: str
    topic: str
    steps: list[Step]
    periods: dict[str, float]
    on_step: Callable[[Step], None]
    consumed: Callable[[int], bool]
    lag: int = 3
    phase_started: dict[str, float] = field(default_factory=dict)
    sent_steps: int = 0
    finished: float | None = None
    error: BaseException | None = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=2)
            partitions = sorted(producer.partitions_for(self.topic))
            due = time.monotonic()
            sent = [0]
            for step in self.steps:
                behind = sent[max(0, len(sent) - self.lag)]
                if not wait_until(lambda: self.consumed(behind), 120):  # noqa: B023
                    raise TimeoutError(f"the worker did not consume {behind} messages")
                self.phase_started.setdefault(step.phase, time.time())
                for key, value in step.lines:
                    producer.send(self.topic, key=key, value=value)
                headers, marker = clock_marker(step.until)
                for partition in partitions:
                    producer.send(self.topic, value=marker, headers=headers, partition=partition)
                producer.flush()
                sent.append(sent[-1] + len(step.lines) + len(partitions))
                self.sent_steps = step.index + 1
                self.on_step(step)
                due = max(due + self.periods[step.phase], time.monotonic())
                time.sleep(max(0.0, due - time.monotonic()))  # pacing: steps move in wall time
            producer.close()
        except BaseException as error:  # reported by the test thread
            self.error = error
        finally:
            self.finished = time.time()
