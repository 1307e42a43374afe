"""Prometheus from the generated config finds and scrapes a carewatch process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, start_http_server

from deploy.localstack.monitoring import CONNECTORS_JOB, target_file
from deploy.localstack.processes import free_port, wait_until
from tests.conftest import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]


def _query(url: str, expr: str) -> list[dict[str, object]]:
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_a_registered_target_is_scraped(prometheus: PrometheusServer) -> None:
    registry = CollectorRegistry()
    Counter("carewatch_probe_total", "probe", registry=registry).inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    path = target_file(
        prometheus.monitoring.targets_dir, "probe", f"127.0.0.1:{port}", {"component": "probe"}
    )
    try:
        expr = 'carewatch_probe_total{job="carewatch",component="probe"}'
        assert wait_until(lambda: bool(_query(prometheus.url, expr)), timeout=30, interval=0.5)
        value = _query(prometheus.url, expr)[0]["value"]
        assert isinstance(value, list)
        assert float(value[1]) == 7.0
    finally:
        path.unlink()
        server.shutdown()
        thread.join()


def test_a_connector_is_scraped_under_the_connectors_job_and_reads_down_once_killed(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """``carewatch connect webhook`` registers itself; its series carry the connectors'
    job and its own ``connector`` label (no ``exported_connector``: the target's labels
    do not collide). Killed, it leaves its file, so ``up`` reads 0: what
    CarewatchConnectorDown fires on when the process is gone. No broker is needed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    env |= {
        "CAREWATCH_EVENTS_TOKENS": "events-token-for-the-scrape-test",
        "CAREWATCH_PROMETHEUS_SD_DIR": str(prometheus.monitoring.targets_dir),
    }
    argv = [sys.executable, "-m", "streams.cli", "connect", "webhook", "--port", str(port)]
    argv += ["--bootstrap", f"127.0.0.1:{free_port()}"]
    output = tmp_path / "webhook.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    target = prometheus.monitoring.targets_dir / f"connector-webhook-{port}.json"
    where = f'job="{CONNECTORS_JOB}",instance="127.0.0.1:{port}"'
    try:
        scraped = f'carewatch_connector_up{{{where},component="webhook",connector="webhook"}}'
        assert wait_until(
            lambda: bool(_query(prometheus.url, scraped)), timeout=60, interval=0.5
        ), output.read_text()
        (series,) = _query(prometheus.url, f"carewatch_connector_up{{{where}}}")
        assert isinstance(series["metric"], dict)
        assert "exported_connector" not in series["metric"]
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert target.exists()
        assert wait_until(
            lambda: bool(_query(prometheus.url, f"up{{{where}}} == 0")), timeout=30, interval=0.5
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        target.unlink(missing_ok=True)
