"""One Apache Kafka node in KRaft mode (broker and controller) on loopback, from the jars.

``start`` formats the storage on first use (``kafka.tools.StorageTool``), launches
``kafka.Kafka`` with its log in a file, and returns only when the broker answers a
metadata request. When it does not, the error carries the last lines of its log.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from deploy.localstack.install import kafka_libs
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

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
"""


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """Where one node lives: its ports on 127.0.0.1 and its folder (data, config, log)."""

    home: Path
    port: int
    controller_port: int
    cache_dir: Path
    heap: str = "768m"
    # SASL/PLAIN users (name, password): the client listener then requires SASL; the
    # first user is also the broker's own. Empty: a PLAINTEXT listener.
    sasl_users: tuple[tuple[str, str], ...] = ()

    @property
    def protocol(self) -> str:
        return "SASL_PLAINTEXT" if self.sasl_users else "PLAINTEXT"

    def client_config(self) -> dict[str, str]:
        """kafka-python settings to reach this node (as its first SASL user, if any)."""
        if not self.sasl_users:
            return {}
        user, password = self.sasl_users[0]
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def _sasl_lines(self) -> list[str]:
        if not self.sasl_users:
            return []
        user, password = self.sasl_users[0]
        users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_users)
        return [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" {users};',
        ]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "kafka.log"

    def server_properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners={self.protocol}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners={self.protocol}://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={self.protocol}:{self.protocol},CONTROLLER:PLAINTEXT",
            f"inter.broker.listener.name={self.protocol}",
            *self._sasl_lines(),
            f"log.dirs={self.home / 'data'}",
            # One node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # carewatch creates every topic explicitly (CONTRACT section 1).
            "auto.create.topics.enable=false",
            "num.partitions=1",
        ]) + "\n"  # fmt: skip


def _java_argv(node: KafkaNode, main: str, *args: str) -> list[str]:
    libs = kafka_libs(node.cache_dir)
    return [
        "java",
        f"-Xmx{node.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def _format_storage(node: KafkaNode) -> None:
    if (node.home / "data" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    argv = _java_argv(
        node,
        "kafka.tools.StorageTool",
        "format",
        # "=" form: a base64 id may start with "-", which would read as an option.
        f"--cluster-id={cluster_id}",
        f"--config={node.home / 'server.properties'}",
    )
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def start(node: KafkaNode, timeout: float = 90.0) -> ProcessRecord:
    """Start the node and wait until it answers a metadata request (StackError otherwise)."""
    for port in (node.port, node.controller_port):
        if port_in_use(port):
            raise StackError(
                f"Kafka cannot start: port {port} on 127.0.0.1 is already in use "
                "(another broker? choose other ports with --kafka-port / CAREWATCH_KAFKA_PORT)"
            )
    node.home.mkdir(parents=True, exist_ok=True)
    (node.home / "server.properties").write_text(node.server_properties())
    (node.home / "log4j2.properties").write_text(_LOG4J2.format(log=node.log_path))
    _format_storage(node)
    record = spawn(
        _java_argv(node, "kafka.Kafka", str(node.home / "server.properties")),
        node.home / "kafka.stdout.log",
    )
    ready = wait_until(
        lambda: not is_alive(record) or is_ready(node.bootstrap, node.client_config()),
        timeout,
        0.25,
    )
    if not is_alive(record):
        raise StackError(
            f"Kafka exited during start-up; last lines of {node.log_path}:\n{log_tail(node.log_path)}"
            f"\n{log_tail(node.home / 'kafka.stdout.log', 10)}"
        )
    if not ready:
        stop(record)  # a half-started broker is ours to clean up
        raise StackError(
            f"Kafka did not answer a metadata request on {node.bootstrap} within {timeout:.0f} s;"
            f" last lines of {node.log_path}:\n{log_tail(node.log_path)}"
        )
    return replace(record, log=str(node.log_path))


def is_ready(bootstrap: str, client_config: Mapping[str, Any] | None = None) -> bool:
    """True when the broker answers a metadata request and reports itself unfenced."""
    quiet = logging.getLogger("kafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections while it starts are expected
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            **(client_config or {}),
            request_timeout_ms=3000,
            reconnect_backoff_max_ms=500,
        )
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        quiet.setLevel(level)
    return any(not b.get("is_fenced", False) for b in cluster.get("brokers", []))
