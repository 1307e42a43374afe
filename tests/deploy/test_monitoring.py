"""Prometheus from the generated config finds and scrapes a carewatch process."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from prometheus_client import CollectorRegistry, Counter, start_http_server

from deploy.localstack.monitoring import target_file
from deploy.localstack.processes import free_port, wait_until
from tests.conftest import PrometheusServer


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
