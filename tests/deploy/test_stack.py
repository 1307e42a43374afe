"""The local stack for real: Kafka from the jars, Debian's Prometheus and Alertmanager."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from deploy.localstack import kafka
from deploy.localstack.install import default_cache_dir
from deploy.localstack.processes import StackError, free_port, start_ticks, stop
from deploy.localstack.stack import COMPONENTS, Stack, StackConfig
from streams.errors import ConfigError


def _config(home: Path, **ports: int) -> StackConfig:
    env = {"CAREWATCH_HOME": str(home), "CAREWATCH_CACHE": str(default_cache_dir())}
    defaults = {"kafka_port": 0, "controller_port": 0, "prometheus_port": 0, "alertmanager_port": 0}
    return StackConfig.from_env(env, **{**defaults, **ports})


def test_up_twice_then_status_then_down(tmp_path: Path) -> None:
    stack = Stack(_config(tmp_path), out=lambda _: None)
    first = stack.up()
    assert [r.name for r in first] == list(COMPONENTS)
    assert all(r.healthy for r in first), first
    second = stack.up()  # harmless: same processes, same addresses
    assert [(r.pid, r.address) for r in second] == [(r.pid, r.address) for r in first]
    assert all(r.healthy for r in stack.status())

    stopped = stack.down()
    assert sorted(stopped) == sorted(COMPONENTS)
    after = stack.status()
    assert not any(r.running or r.healthy for r in after)
    for row in first:
        assert row.pid is not None
        assert not Path(f"/proc/{row.pid}").exists() or _is_zombie(row.pid)
    assert stack.down() == []  # down twice: nothing left to stop


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "Z"


def test_down_leaves_alone_processes_it_did_not_start(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        # A state file naming the stranger's pid with another start time, as after a reboot
        # recycled the pid: down must not signal it.
        ticks = start_ticks(stranger.pid)
        assert ticks is not None
        (tmp_path / "stack.json").write_text(
            json.dumps(
                {
                    "kafka": {
                        "pid": stranger.pid,
                        "start_ticks": ticks + 1,
                        "log": "-",
                        "address": "127.0.0.1:1",
                        "port": 1,
                    }
                }
            )
        )
        assert Stack(_config(tmp_path), out=lambda _: None).down() == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_port_taken_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stack = Stack(_config(tmp_path, kafka_port=port), out=lambda _: None)
        started = time.monotonic()
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is already in use"):
            stack.up()
        assert time.monotonic() - started < 30
    assert not any(r.running for r in stack.status())


def test_a_broker_that_dies_at_start_up_reports_its_log(tmp_path: Path) -> None:
    node = kafka.KafkaNode(tmp_path / "kafka", free_port(), free_port(), default_cache_dir())
    stop(kafka.start(node))
    meta = node.home / "data" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    with pytest.raises(StackError, match="Kafka exited during start-up") as failure:
        kafka.start(node)
    assert "node" in str(failure.value).lower()  # the broker's own words about the node id


def test_a_bad_port_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CAREWATCH_KAFKA_PORT"):
        StackConfig.from_env({"CAREWATCH_KAFKA_PORT": "ninety"})
    with pytest.raises(ConfigError, match="CAREWATCH_PROMETHEUS_PORT"):
        StackConfig.from_env({"CAREWATCH_PROMETHEUS_PORT": "70000"})


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One base64 cluster id in 64 starts with "-"; it once read as an option (flaky start).
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: dash_first)
    node = kafka.KafkaNode(tmp_path, free_port(), free_port(), default_cache_dir())
    (tmp_path / "server.properties").write_text(node.server_properties())
    kafka._format_storage(node)
    assert "cluster.id=-AAAA" in (tmp_path / "data" / "meta.properties").read_text()
