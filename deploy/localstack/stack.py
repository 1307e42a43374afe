"""``carewatch stack up | down | status``: the local stack as one unit.

State lives in ``<home>/stack.json`` (``home`` is ``$CAREWATCH_HOME``, default
``./.carewatch``): each component's process record and address. ``up`` starts what is
not running and leaves what is; ``down`` stops only the processes recorded there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deploy.localstack import kafka, monitoring
from deploy.localstack.install import default_cache_dir, ensure_commands, kafka_libs
from deploy.localstack.processes import ProcessRecord, free_port, is_alive, stop
from streams.errors import ConfigError

COMPONENTS = ("kafka", "prometheus", "alertmanager")

_PORT_SETTINGS = {
    "kafka_port": ("CAREWATCH_KAFKA_PORT", 19092),
    "controller_port": ("CAREWATCH_KAFKA_CONTROLLER_PORT", 19093),
    "prometheus_port": ("CAREWATCH_PROMETHEUS_PORT", 19090),
    "alertmanager_port": ("CAREWATCH_ALERTMANAGER_PORT", 19094),
}


@dataclass(frozen=True, slots=True)
class StackConfig:
    home: Path
    cache_dir: Path
    kafka_port: int
    controller_port: int
    prometheus_port: int
    alertmanager_port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: int | None) -> StackConfig:
        """Settings from ``CAREWATCH_*`` variables, then non-None ``overrides``; port 0 = any free port."""
        env = os.environ if env is None else env
        ports: dict[str, int] = {}
        for name, (var, default) in _PORT_SETTINGS.items():
            value = overrides.get(name)
            ports[name] = (
                _port(var, env.get(var), default)
                if value is None
                else _port(name, str(value), default)
            )
        return cls(
            home=Path(env.get("CAREWATCH_HOME", ".carewatch")).absolute(),
            cache_dir=Path(env["CAREWATCH_CACHE"])
            if "CAREWATCH_CACHE" in env
            else default_cache_dir(),
            **ports,
        )

    def with_free_ports(self) -> StackConfig:
        """Replace every port set to 0 by one the kernel says is free."""
        chosen: dict[str, Any] = {
            name: free_port() for name in _PORT_SETTINGS if getattr(self, name) == 0
        }
        return replace(self, **chosen)

    @property
    def kafka_node(self) -> kafka.KafkaNode:
        return kafka.KafkaNode(
            self.home / "kafka", self.kafka_port, self.controller_port, self.cache_dir
        )

    @property
    def monitoring(self) -> monitoring.Monitoring:
        return monitoring.Monitoring(self.home, self.prometheus_port, self.alertmanager_port)


def _port(field: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(field, f"not a port number: {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(field, f"port out of range 0-65535: {port}")
    return port


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    address: str
    running: bool
    healthy: bool
    pid: int | None
    log: str


class Stack:
    def __init__(self, config: StackConfig, out: Callable[[str], None] = print) -> None:
        self.config = config
        self.out = out
        self.state_path = config.home / "stack.json"

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.state_path.exists():
            return {}
        data: dict[str, dict[str, object]] = json.loads(self.state_path.read_text())
        return data

    def _save(self, state: dict[str, dict[str, object]]) -> None:
        self.config.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    def install(self) -> None:
        """Everything ``up`` needs, installed once: Debian packages and Kafka's jars."""
        ensure_commands(
            ["java", "mvn", "prometheus", "promtool", "prometheus-alertmanager"], self.out
        )
        kafka_libs(self.config.cache_dir)

    def up(self) -> list[ComponentStatus]:
        """Start every component not already running; safe to call twice."""
        self.install()
        state = self._load()
        config = self._config_from_state(state).with_free_ports()
        for name in COMPONENTS:
            entry = state.get(name)
            if entry is not None and is_alive(_record(entry)):
                self.out(f"{name}: already running at {entry['address']}")
                continue
            self.out(f"{name}: starting")
            record, address = self._start(name, config)
            state[name] = {**record.to_dict(), "address": address, "port": _port_of(address)}
            self._save(state)
            self.out(f"{name}: ready at {address}")
        return self.status()

    def _config_from_state(self, state: dict[str, dict[str, object]]) -> StackConfig:
        """Keep the ports of the components already running, so ``up`` twice changes nothing."""
        keep: dict[str, Any] = {}
        for name, setting in (("kafka", "kafka_port"), ("prometheus", "prometheus_port"),
                              ("alertmanager", "alertmanager_port")):  # fmt: skip
            entry = state.get(name)
            if entry is not None and is_alive(_record(entry)):
                keep[setting] = int(str(entry["port"]))
        return replace(self.config, **keep)

    def _start(self, name: str, config: StackConfig) -> tuple[ProcessRecord, str]:
        if name == "kafka":
            node = config.kafka_node
            return kafka.start(node), node.bootstrap
        m = config.monitoring
        if name == "prometheus":
            return monitoring.start_prometheus(m), m.prometheus_url
        return monitoring.start_alertmanager(m), m.alertmanager_url

    def down(self) -> list[str]:
        """Stop the processes ``up`` started (and only those); returns the names stopped."""
        state = self._load()
        stopped = []
        for name in reversed(COMPONENTS):
            entry = state.pop(name, None)
            if entry is not None and stop(_record(entry)):
                stopped.append(name)
                self.out(f"{name}: stopped")
        self._save(state)
        return stopped

    def status(self) -> list[ComponentStatus]:
        state = self._load()
        rows = []
        for name in COMPONENTS:
            entry = state.get(name)
            if entry is None:
                rows.append(ComponentStatus(name, "-", False, False, None, "-"))
                continue
            record = _record(entry)
            running = is_alive(record)
            address = str(entry["address"])
            healthy = running and _healthy(name, address)
            rows.append(ComponentStatus(name, address, running, healthy, record.pid, record.log))
        return rows


def _record(entry: Mapping[str, object]) -> ProcessRecord:
    return ProcessRecord(int(str(entry["pid"])), int(str(entry["start_ticks"])), str(entry["log"]))


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _healthy(name: str, address: str) -> bool:
    if name == "kafka":
        return kafka.is_ready(address)
    return monitoring.http_ready(f"{address}/-/ready")
