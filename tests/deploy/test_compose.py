"""deploy/compose and the Dockerfile, checked without a container engine.

The compose file goes through the real ``docker compose config`` (built from its module
at a pinned version by deploy/tools.py, cached after the first run): schema validation,
interpolation and normalisation exactly as ``docker compose up`` does them. What
``config`` cannot know (``--scale`` has nothing to collide with; Prometheus finds every
replica) is asserted on its normalised output. The Prometheus configuration goes
through ``promtool check config``, with the generated rule files; the Dockerfile through
BuildKit's own parser and linter.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import tools
from deploy.localstack.install import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
PROMETHEUS_FILE = ROOT / "deploy" / "compose" / "prometheus.yml"
DOCKERFILE = ROOT / "Dockerfile"
SECRETS = {"CAREWATCH_EVENTS_TOKENS": "t" * 32, "GRAFANA_ADMIN_PASSWORD": "p" * 16}

# The first run builds docker compose from source (minutes); later runs find it cached.
pytestmark = pytest.mark.timeout(1800)


def compose_config(variables: dict[str, str]) -> dict[str, Any]:
    result = tools.compose_config(COMPOSE_FILE, variables)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return compose_config(SECRETS)


def test_the_whole_stack_is_there(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {
        "kafka", "topics", "worker", "webhook", "prometheus", "alertmanager", "grafana",
    }  # fmt: skip
    assert config["name"] == "carewatch"


def test_config_rejects_what_compose_rejects(tmp_path: Path) -> None:
    """The validator is real: an unknown key fails, naming it."""
    broken = tmp_path / "compose.yaml"
    text = COMPOSE_FILE.read_text().replace(
        "    stop_grace_period: 60s", "    stop_grace_perod: 60s"
    )
    broken.write_text(text)
    result = tools.compose_config(broken, SECRETS)
    assert result.returncode != 0
    assert "stop_grace_perod" in result.stderr


def test_secrets_are_required_never_written() -> None:
    result = tools.compose_config(COMPOSE_FILE, {})
    assert result.returncode != 0
    assert "CAREWATCH_EVENTS_TOKENS" in result.stderr or "GRAFANA_ADMIN_PASSWORD" in result.stderr
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"TOKEN|SECRET|PASSWORD", key):
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", str(value)), (name, key)


def test_kafka_is_the_pinned_broker_in_kraft_mode(config: dict[str, Any]) -> None:
    kafka = config["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert any(v["target"] == "/var/lib/kafka/data" for v in kafka["volumes"])
    assert kafka["healthcheck"]["test"][0] == "CMD-SHELL"


def test_topics_are_created_once_before_workers_and_connectors(config: dict[str, Any]) -> None:
    services = config["services"]
    topics = services["topics"]
    assert topics["command"] == ["carewatch", "topics", "create"]
    assert topics["restart"] == "no"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("worker", "webhook"):
        assert services[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully"
        )


def test_workers_scale_with_scale_flag(config: dict[str, Any]) -> None:
    """Nothing a second replica would collide with: no host port, no fixed name, no
    named volume; and they find each other by hostname."""
    worker = config["services"]["worker"]
    for key in ("ports", "container_name", "hostname", "volumes"):
        assert key not in worker, key
    assert worker["expose"] == ["6066"]
    env = worker["environment"]
    assert env["CAREWATCH_STORE"] == "memory"  # see compose.yaml: no volume per replica
    assert env["CAREWATCH_WEB_HOST"] == "0.0.0.0"
    assert "CAREWATCH_CANONICAL_URL=http://$$(hostname):6066" in " ".join(worker["command"])
    assert worker["command"][-1].endswith("exec carewatch worker")
    assert worker["configs"] == [{"source": "sla-policy", "target": env["CAREWATCH_POLICY_FILE"]}]
    assert (
        Path(config["configs"]["sla-policy"]["file"]) == ROOT / "deploy" / "policies.example.yaml"
    )


def test_partitions_default_and_override() -> None:
    config = compose_config({**SECRETS, "CAREWATCH_PARTITIONS": "12"})
    for name in ("topics", "worker"):
        assert config["services"][name]["environment"]["CAREWATCH_PARTITIONS"] == "12"


def test_host_ports_are_loopback_only(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def test_prometheus_discovers_every_worker_by_dns() -> None:
    prometheus = yaml.safe_load(PROMETHEUS_FILE.read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    worker = jobs["carewatch"]
    assert worker["metrics_path"] == "/metrics"
    assert worker["dns_sd_configs"] == [
        {"names": ["worker"], "type": "A", "port": 6066, "refresh_interval": "10s"}
    ]
    webhook = jobs["carewatch-connectors"]["dns_sd_configs"][0]
    assert webhook["names"] == ["webhook"]
    assert webhook["port"] == 6068
    # its name, which CarewatchConnectorDown reports when the target is down
    assert jobs["carewatch-connectors"]["relabel_configs"] == [
        {"target_label": "component", "replacement": "webhook"}
    ]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


def test_promtool_accepts_the_prometheus_config_with_the_generated_rules(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    """promtool reads the config and every rule file it names, where compose mounts them."""
    mounts = {v["target"]: v["source"] for v in config["services"]["prometheus"]["volumes"]}
    prometheus = yaml.safe_load(PROMETHEUS_FILE.read_text())
    (pattern,) = prometheus["rule_files"]
    folder = str(Path(pattern).parent)
    assert folder in mounts, f"{pattern} is not in a mounted folder"
    rules = sorted(Path(mounts[folder]).glob(Path(pattern).name))
    assert rules, f"no rule files match {pattern} in {mounts[folder]}"
    prometheus["rule_files"] = [str(Path(mounts[folder]) / Path(pattern).name)]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(prometheus))
    result = subprocess.run(
        [tools.promtool(), "check", "config", str(checked)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(rule.name in result.stdout + result.stderr for rule in rules)


# ---- the Dockerfile ---------------------------------------------------------------
# Parsed and linted by BuildKit's own front end (deploy/tools/dockerfilecheck): what
# `docker build --check` does, without a daemon.


def dockerfile_check(path: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [str(tools.dockerfilecheck()), str(path)], capture_output=True, text=True, timeout=60
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, Any]:
    returncode, report = dockerfile_check(DOCKERFILE)
    assert returncode == 0, report
    return report


def instructions(stage: dict[str, Any]) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a stage, continuation lines joined."""
    return [
        (text.split(None, 1)[0].upper(), " ".join(text.split()[1:]))
        for text in stage["instructions"]
    ]


def test_dockerfile_passes_buildkits_parser_and_linter(dockerfile: dict[str, Any]) -> None:
    assert dockerfile["warnings"] == []
    assert "error" not in dockerfile


def test_dockerfile_check_reports_lint_warnings_and_parse_errors(tmp_path: Path) -> None:
    """The check is real: BuildKit's rules fire, and a broken file does not parse."""
    linted = tmp_path / "Dockerfile.lint"
    linted.write_text("FROM python:3.11-slim as Build\nENV A 1\nCMD carewatch worker\n")
    returncode, report = dockerfile_check(linted)
    assert returncode == 1
    assert {w["rule"] for w in report["warnings"]} >= {
        "FromAsCasing", "LegacyKeyValueFormat", "JSONArgsRecommended",
    }  # fmt: skip
    broken = tmp_path / "Dockerfile.broken"
    broken.write_text("FROM python:3.11-slim\nRUNN true\n")
    returncode, report = dockerfile_check(broken)
    assert returncode == 1
    assert "unknown instruction: RUNN" in report["error"]


def test_dockerfile_is_multi_stage_pinned_non_root(dockerfile: dict[str, Any]) -> None:
    assert dockerfile["args"]["PYTHON_IMAGE"] == "python:3.11-slim"
    builder, runtime = dockerfile["stages"]
    assert (builder["name"], builder["base"]) == ("builder", "${PYTHON_IMAGE}")
    assert (runtime["name"], runtime["base"]) == ("runtime", "${PYTHON_IMAGE}")
    build, run = instructions(builder), instructions(runtime)
    installs = [a for i, a in build if i == "RUN" and "pip install" in a]
    assert installs
    assert all("--constraint constraints.txt" in a for a in installs)
    assert any("'.[rocksdb]'" in a for a in installs)  # the store the StatefulSet uses
    assert ("COPY", "--from=builder /opt/carewatch /opt/carewatch") in run
    assert not any(i == "RUN" and "pip install" in a for i, a in run)  # no build tools
    args = dict(a.split("=", 1) for i, a in run if i == "ARG")
    assert args["UID"] == "10001"
    users = [a for i, a in run if i == "USER"]
    assert users[-1] == "${UID}:${UID}"
    assert ("EXPOSE", "6066") in run
    (health,) = [a for i, a in run if i == "HEALTHCHECK"]
    assert "/health" in health
    assert "'6066'" in health
    assert [a for i, a in run if i == "CMD"] == ['["carewatch", "worker"]']


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies(
    dockerfile: dict[str, Any],
) -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # an allow-list: .venv, .git, .carewatch never reach the daemon
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for stage in dockerfile["stages"]:
        for instruction, arguments in instructions(stage):
            if instruction != "COPY" or arguments.startswith("--from"):
                continue
            *sources, _ = shlex.split(arguments)
            for source in sources:
                assert source.split("/")[0] in allowed, (
                    f"COPY {source}: not let in by .dockerignore"
                )
                assert list(ROOT.glob(source.rstrip("/"))), f"COPY {source}: nothing there"
    pyproject = (ROOT / "pyproject.toml").read_text()  # its packages, all in the context
    packages = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert packages is not None
    for name in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert name in allowed, f"package {name} is not in the build context"
