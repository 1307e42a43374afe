"""Prometheus and Alertmanager from Debian's packages, configured for the carewatch processes.

Prometheus discovers carewatch processes through ``file_sd``: each worker or connector
writes one JSON target file into ``<home>/prometheus/targets/`` while it runs (see
:func:`target_file`), so the config never needs to list ports by hand. A connector's file
sets its own ``job`` label (:func:`connector_target`): a target's labels win over the
scrape config's ``job_name``, which Prometheus assigns only "by default".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from deploy.localstack.processes import (
    ProcessRecord,
    StackError,
    is_alive,
    log_tail,
    port_in_use,
    spawn,
    stop,
    wait_until,
)

# The job the connectors are scraped under, as in deploy/compose/prometheus.yml and
# deploy/k8s/base/monitoring.yaml (dashboards/config.py: BuildConfig.connectors_job).
CONNECTORS_JOB = "carewatch-connectors"


@dataclass(frozen=True, slots=True)
class Monitoring:
    home: Path
    prometheus_port: int
    alertmanager_port: int
    scrape_interval: str = "5s"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def targets_dir(self) -> Path:
        return self.home / "prometheus" / "targets"

    @property
    def rules_dir(self) -> Path:
        return self.home / "prometheus" / "rules"


def prometheus_config(m: Monitoring) -> dict[str, object]:
    """The generated ``prometheus.yml`` (as a dict; YAML is a superset of JSON)."""
    return {
        "global": {"scrape_interval": m.scrape_interval, "evaluation_interval": m.scrape_interval},
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{m.alertmanager_port}"]}]}]
        },
        "rule_files": [str(m.rules_dir / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "carewatch",
                "file_sd_configs": [{"files": [str(m.targets_dir / "*.json")], "refresh_interval": "2s"}],
            },
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{m.prometheus_port}"]}]},
            {"job_name": "alertmanager", "static_configs": [{"targets": [f"127.0.0.1:{m.alertmanager_port}"]}]},
        ],
    }  # fmt: skip


def alertmanager_config() -> dict[str, object]:
    """A minimal Alertmanager config; the generated alert routing replaces it (dashboards/)."""
    return {
        "route": {"receiver": "carewatch-log", "group_by": ["alertname", "brand", "platform"]},
        "receivers": [{"name": "carewatch-log"}],
    }


def target_file(targets_dir: Path, name: str, address: str, labels: dict[str, str]) -> Path:
    """Register one scrape target (``host:port``) for Prometheus; returns the file to delete on exit."""
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = targets_dir / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [address], "labels": labels}]))
    tmp.replace(path)  # atomic: Prometheus never reads half a file
    return path


def connector_target(targets_dir: Path, connector: str, host: str, port: int) -> Path:
    """Register a connector's ``/metrics`` under :data:`CONNECTORS_JOB`, its name (a fixed
    word: ``webhook``, ``x``) as ``component``; returns the file to delete on exit."""
    reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # a wildcard listen
    address = f"[{reachable}]:{port}" if ":" in reachable else f"{reachable}:{port}"
    labels = {"job": CONNECTORS_JOB, "component": connector}
    return target_file(targets_dir, f"connector-{connector}-{port}", address, labels)


def http_ready(url: str) -> bool:
    """True when ``url`` answers 200 (Prometheus and Alertmanager serve ``/-/ready``)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_prometheus(m: Monitoring, timeout: float = 60.0) -> ProcessRecord:
    home = m.home / "prometheus"
    m.targets_dir.mkdir(parents=True, exist_ok=True)
    m.rules_dir.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(json.dumps(prometheus_config(m), indent=2))
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{m.prometheus_port}",
        "--web.enable-lifecycle",
        "--log.format=json",
    ]
    return _start(
        argv, "Prometheus", m.prometheus_port, f"{m.prometheus_url}/-/ready", home, timeout
    )


def start_alertmanager(m: Monitoring, timeout: float = 60.0) -> ProcessRecord:
    home = m.home / "alertmanager"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "alertmanager.yml"
    if not config.exists():  # dashboards/ may have written the generated routing already
        config.write_text(json.dumps(alertmanager_config(), indent=2))
    argv = [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{m.alertmanager_port}",
        "--cluster.listen-address=",  # one instance: no gossip port
        "--log.format=json",
    ]
    return _start(
        argv, "Alertmanager", m.alertmanager_port, f"{m.alertmanager_url}/-/ready", home, timeout
    )


def _start(
    argv: list[str], name: str, port: int, ready_url: str, home: Path, timeout: float
) -> ProcessRecord:
    if port_in_use(port):
        raise StackError(f"{name} cannot start: port {port} on 127.0.0.1 is already in use")
    log = home / f"{argv[0]}.log"
    record = spawn(argv, log)
    ready = wait_until(lambda: not is_alive(record) or http_ready(ready_url), timeout, 0.2)
    if not is_alive(record) or not ready:
        stop(record)
        raise StackError(
            f"{name} did not become ready at {ready_url}; last lines of {log}:\n{log_tail(log)}"
        )
    return record
