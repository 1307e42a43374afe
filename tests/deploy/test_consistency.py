"""Compose, Kubernetes, the Dockerfile and the code agree on names, ports and paths.

Each fact has one owner in the code (the web port in streams/settings.py, the broker
version in deploy/localstack/install.py, the Prometheus job and data source uid in
dashboards/config.py, the waiting list's Infinity data source and plugin version in
dashboards/waiting.py, the generated file layout in dashboards/build.py); these tests
hold every deployment file to it, and every ``CAREWATCH_*`` variable a deployment sets
to a setting the process that reads it actually has.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from connectors.config import CONFIG_ENV, FIELDS
from connectors.producer import health_routes
from connectors.x_settings import XSettings
from dashboards.config import BuildConfig
from dashboards.waiting import INFINITY_PLUGIN, INFINITY_VERSION, WORKERS_DATASOURCE_UID
from dashboards.waiting import TITLE as WAITING_TITLE
from deploy import tools
from deploy.k8s import generate
from deploy.localstack.install import KAFKA_VERSION
from deploy.localstack.monitoring import CONNECTORS_JOB
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
GENERATED = ROOT / "dashboards" / "generated"
SECRETS = {"CAREWATCH_EVENTS_TOKENS": "t" * 32, "GRAFANA_ADMIN_PASSWORD": "p" * 16}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"carewatch:{VERSION}"
PORT = Settings().web_port

pytestmark = pytest.mark.timeout(1800)  # the first run builds docker compose

WORKER_VARS = {f"CAREWATCH_{f.name.upper()}" for f in fields(Settings)}
CONNECTOR_VARS = (
    WORKER_VARS
    | {spec.env for spec in FIELDS}
    | {CONFIG_ENV}
    | {f"CAREWATCH_X_{f.name.upper()}" for f in fields(XSettings)}
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = tools.compose_config(COMPOSE / "compose.yaml", SECRETS)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    texts = [
        tools.kustomize(ROOT / "deploy" / "k8s"),
        tools.kustomize(ROOT / "deploy" / "k8s" / "overlays" / "keda"),
    ]
    return [d for text in texts for d in yaml.safe_load_all(text) if d]


def carewatch_containers(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r["metadata"]["name"], c)
        for r in resources
        if r["kind"] in ("Deployment", "StatefulSet")
        for c in r["spec"]["template"]["spec"]["containers"]
        if c["image"].split(":")[0] == "carewatch"
    ]


def config_maps(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"}


def container_env(container: dict[str, Any], maps: dict[str, dict[str, str]]) -> dict[str, str]:
    """What the container's process sees: envFrom ConfigMaps, then env (secrets as '<secret>')."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        env[var["name"]] = var.get(
            "value", "<secret>" if "secretKeyRef" in var.get("valueFrom", {}) else "<field>"
        )
    return env


def test_image_name_and_tag_agree_with_pyproject(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    built = {n: s for n, s in compose["services"].items() if "build" in s}
    assert set(built) == {"topics", "worker", "webhook"}
    assert {s["image"] for s in built.values()} == {IMAGE}
    assert {s["build"]["dockerfile"] for s in built.values()} == {"Dockerfile"}
    assert {Path(s["build"]["context"]) for s in built.values()} == {ROOT}
    images = {c["image"] for _, c in carewatch_containers(k8s)}
    assert images == {IMAGE}


def test_kafka_in_compose_is_the_local_stacks_version(compose: dict[str, Any]) -> None:
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_worker_web_port_everywhere(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> None:
    assert PORT == 6066
    assert f"EXPOSE {PORT}" in (ROOT / "Dockerfile").read_text().splitlines()
    worker = compose["services"]["worker"]
    assert worker["environment"]["CAREWATCH_WEB_PORT"] == str(PORT)
    assert worker["expose"] == [str(PORT)]
    assert f":{PORT} exec carewatch worker" in worker["command"][-1]
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == BuildConfig().job)
    assert job["dns_sd_configs"][0]["port"] == PORT
    statefulset = next(r for r in k8s if r["kind"] == "StatefulSet")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "web", "containerPort": PORT}]
    env = container_env(container, config_maps(k8s))
    assert env["CAREWATCH_WEB_PORT"] == str(PORT)
    assert env["CAREWATCH_CANONICAL_URL"].endswith(f".svc:{PORT}")
    service = next(
        r for r in k8s if r["kind"] == "Service" and r["metadata"]["name"] == "carewatch-worker"
    )
    assert service["spec"]["ports"][0]["port"] == PORT


def test_metrics_and_health_paths_are_the_ones_served(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    agents = (ROOT / "streams" / "agents.py").read_text()
    assert '@app.page("/metrics")' in agents
    assert '@app.page("/health")' in agents
    connector_paths = {route.path for route in health_routes(None, CollectorRegistry())}  # type: ignore[arg-type]
    assert connector_paths == {"/health", "/metrics"}
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    carewatch_jobs = [
        j for j in prometheus["scrape_configs"] if j["job_name"].startswith("carewatch")
    ]
    assert {j["metrics_path"] for j in carewatch_jobs} == {"/metrics"}
    monitors = [r for r in k8s if r["kind"] == "PodMonitor"]
    assert {e["path"] for m in monitors for e in m["spec"]["podMetricsEndpoints"]} == {"/metrics"}
    probes = {
        c[probe]["httpGet"]["path"]
        for _, c in carewatch_containers(k8s)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
        if probe in c
    }
    assert probes == {"/health"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "/health'" in dockerfile.split("HEALTHCHECK", 1)[1]
    webhook = compose["services"]["webhook"]
    assert "/health'" in " ".join(webhook["healthcheck"]["test"])
    port = webhook["environment"]["CAREWATCH_WEBHOOK_PORT"]
    assert f"127.0.0.1:{port}/health" in " ".join(webhook["healthcheck"]["test"])


def test_prometheus_job_names_are_the_ones_rules_and_boards_select(
    k8s: list[dict[str, Any]],
) -> None:
    job = BuildConfig().job
    assert any(f'job="{job}"' in p.read_text() for p in GENERATED.rglob("*.y*ml"))
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    workers = next(j for j in prometheus["scrape_configs"] if j["job_name"] == job)
    assert workers["dns_sd_configs"][0]["names"] == ["worker"]
    monitor = next(
        r for r in k8s if r["kind"] == "PodMonitor" and r["metadata"]["name"] == "carewatch-worker"
    )
    assert monitor["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["replacement"] == job
    connectors = BuildConfig().connectors_job
    assert any(f'job="{connectors}"' in p.read_text() for p in GENERATED.rglob("*.y*ml"))
    assert connectors == CONNECTORS_JOB  # the local stack's connectors register under it
    assert any(j["job_name"] == connectors for j in prometheus["scrape_configs"])
    monitor = next(
        r
        for r in k8s
        if r["kind"] == "PodMonitor" and r["metadata"]["name"] == "carewatch-connectors"
    )
    assert monitor["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["replacement"] == connectors


def test_compose_variables_are_settings(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        known = WORKER_VARS if name in ("worker", "topics") else CONNECTOR_VARS
        variables = {k for k in service["environment"] if k.startswith("CAREWATCH_")}
        assert variables <= known, (name, variables - known)
    env = dict(compose["services"]["worker"]["environment"])
    settings = Settings.from_env(env)  # every value parses and validates
    assert (settings.store, settings.web_port, settings.bootstrap) == ("memory", PORT, "kafka:9092")


def test_kubernetes_variables_are_settings(k8s: list[dict[str, Any]]) -> None:
    maps = config_maps(k8s)
    for name, container in carewatch_containers(k8s):
        env = container_env(container, maps)
        variables = {k for k in env if k.startswith("CAREWATCH_")}
        known = WORKER_VARS if name == "carewatch-worker" else CONNECTOR_VARS
        assert variables <= known, (name, variables - known)
    (worker,) = [c for n, c in carewatch_containers(k8s) if n == "carewatch-worker"][:1]
    env = {k: v for k, v in container_env(worker, maps).items() if v not in ("<secret>", "<field>")}
    env["CAREWATCH_CANONICAL_URL"] = "http://carewatch-worker-0.carewatch-worker.carewatch.svc:6066"
    settings = Settings.from_env(env)
    assert (settings.store, settings.web_port, settings.web_host) == ("rocksdb", PORT, "0.0.0.0")


def test_topics_and_partitions_agree(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> None:
    defaults = Settings()
    shared = config_maps(k8s)["carewatch-settings"]
    for env in (
        compose["services"]["worker"]["environment"],
        compose["services"]["topics"]["environment"],
        shared,
    ):
        assert env["CAREWATCH_EVENTS_TOPIC"] == defaults.events_topic
        assert env["CAREWATCH_SLA_TOPIC"] == defaults.sla_topic
        assert env["CAREWATCH_DEADLETTER_TOPIC"] == defaults.deadletter_topic
        assert env["CAREWATCH_PARTITIONS"] == str(defaults.partitions)
    assert (
        compose["services"]["webhook"]["environment"]["CAREWATCH_EVENTS_TOPIC"]
        == defaults.events_topic
    )


def walk(node: Any) -> Any:
    """Every dict inside a parsed JSON or YAML document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def compose_data_sources() -> dict[str, dict[str, Any]]:
    """deploy/compose's Grafana data sources by type."""
    provisioning = yaml.safe_load((COMPOSE / "grafana" / "datasources.yaml").read_text())
    sources = {s["type"]: s for s in provisioning["datasources"]}
    assert len(sources) == len(provisioning["datasources"])
    return sources


def test_grafana_data_source_is_the_one_generated_files_use() -> None:
    sources = compose_data_sources()
    assert set(sources) == {"prometheus", INFINITY_PLUGIN}
    source = sources["prometheus"]
    assert source["uid"] == BuildConfig().datasource_uid
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    alerting = yaml.safe_load(
        (GENERATED / "grafana/provisioning/alerting/carewatch.yaml").read_text()
    )
    named = {d["datasourceUid"] for d in walk(alerting) if "datasourceUid" in d}
    assert named == {source["uid"], "__expr__"}  # __expr__: Grafana's server-side expressions
    for board in (GENERATED / "grafana" / "dashboards").glob("*.json"):
        model = json.loads(board.read_text())
        variables = [v for v in model["templating"]["list"] if v["type"] == "datasource"]
        assert [v["query"] for v in variables] == [source["type"]], board.name
        used = {
            (d["datasource"]["type"], d["datasource"]["uid"])
            for d in walk(model)
            if isinstance(d.get("datasource"), dict)
        }
        expected = {(source["type"], "${datasource}")}
        if board.stem == "care-floor":  # and its list of waiting cases, asked of the workers
            expected.add((INFINITY_PLUGIN, WORKERS_DATASOURCE_UID))
        assert used == expected, board.name


def test_the_workers_data_source_is_provisioned_where_the_board_looks(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    """The care floor's waiting list names the Infinity data source by the uid of
    dashboards/waiting.py; compose and Kubernetes provision it under that uid, at a worker
    address, with the workers' token by reference, and install the pinned plugin."""
    raw = yaml.safe_load((COMPOSE / "compose.yaml").read_text())["services"]
    grafana = raw["grafana"]["environment"]
    assert grafana["GF_INSTALL_PLUGINS"] == f"{INFINITY_PLUGIN} {INFINITY_VERSION}"
    assert grafana["CAREWATCH_API_TOKEN"] == raw["worker"]["environment"]["CAREWATCH_API_TOKEN"]
    assert str(PORT) in compose["services"]["worker"]["expose"]
    service = next(
        r for r in k8s if r["kind"] == "Service" and r["metadata"]["name"] == "carewatch-worker-api"
    )
    statefulset = next(r for r in k8s if r["kind"] == "StatefulSet")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["port"] == PORT
    assert "clusterIP" not in service["spec"]  # not headless: ready workers only
    k8s_host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    provisioned = [("compose", compose_data_sources()[INFINITY_PLUGIN], f"http://worker:{PORT}")]
    maps = [
        r
        for r in k8s
        if r["kind"] == "ConfigMap" and r["metadata"].get("labels", {}).get("grafana_datasource")
    ]
    assert len(maps) == 2  # the base's, and the KEDA overlay's copy of it
    for config_map in maps:
        ((_, text),) = config_map["data"].items()
        (source,) = yaml.safe_load(text)["datasources"]
        provisioned.append(("kubernetes", source, f"http://{k8s_host}:{PORT}"))
    for where, source, url in provisioned:
        assert source["uid"] == WORKERS_DATASOURCE_UID, where
        assert source["type"] == INFINITY_PLUGIN, where
        assert source["url"] == url, where
        assert source["jsonData"]["auth_method"] == "bearerToken", where
        assert source["jsonData"]["allowedHosts"] == [url], where
        # Grafana expands $VAR in provisioning files from its environment
        assert source["secureJsonData"] == {"bearerToken": "$CAREWATCH_API_TOKEN"}, where
    board = json.loads((GENERATED / "grafana/dashboards/care-floor.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == WAITING_TITLE]
    assert panel["datasource"] == {"type": INFINITY_PLUGIN, "uid": WORKERS_DATASOURCE_UID}


# ---- what the provisioning points at exists in what `carewatch dashboards build` writes


def dashboards_build(out: Path) -> None:
    from streams.cli import build_parser, main

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    if "dashboards" not in getattr(commands, "choices", {}):
        pytest.skip("carewatch dashboards build does not exist yet")
    policy = ROOT / "deploy" / "policies.example.yaml"  # what the committed files are built from
    assert main(["dashboards", "build", "--out", str(out), "--policy", str(policy)]) == 0


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    dashboards_build(out)
    return out


def generated_mounts(compose: dict[str, Any]) -> list[tuple[str, Path, str]]:
    """(service, path relative to dashboards/generated, target) of every such bind mount."""
    return [
        (name, Path(v["source"]).relative_to(GENERATED), v["target"])
        for name, service in compose["services"].items()
        for v in service.get("volumes", [])
        if v["type"] == "bind" and Path(v["source"]).is_relative_to(GENERATED)
    ]


def test_every_mounted_generated_file_is_built(compose: dict[str, Any], built: Path) -> None:
    mounts = generated_mounts(compose)
    assert {name for name, _, _ in mounts} == {"prometheus", "alertmanager", "grafana"}
    for name, relative, _ in mounts:
        assert (built / relative).exists(), (
            f"{name} mounts {relative}, which the build does not write"
        )
        assert (GENERATED / relative).exists(), (
            f"{relative} is not committed in dashboards/generated"
        )
        if (built / relative).is_dir():
            assert sorted(p.name for p in (built / relative).iterdir()), relative


def test_grafana_provisioning_finds_the_boards(compose: dict[str, Any], built: Path) -> None:
    mounts = {
        str(rel): target for name, rel, target in generated_mounts(compose) if name == "grafana"
    }
    assert mounts["grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    assert mounts["grafana/provisioning/alerting"] == "/etc/grafana/provisioning/alerting"
    provider = yaml.safe_load((built / generate.PROVIDER_FILE).read_text())
    (entry,) = provider["providers"]
    assert entry["options"]["path"] == mounts["grafana/dashboards"]
    assert list((built / "grafana" / "dashboards").glob("*.json"))
    alerting = yaml.safe_load((built / "grafana/provisioning/alerting/carewatch.yaml").read_text())
    assert alerting["apiVersion"] == 1
    assert alerting["groups"]


def test_prometheus_and_alertmanager_find_their_files(compose: dict[str, Any], built: Path) -> None:
    mounts = {target: rel for _, rel, target in generated_mounts(compose)}
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    (pattern,) = prometheus["rule_files"]
    rules_dir = mounts[str(Path(pattern).parent)]
    assert sorted(p.name for p in (built / rules_dir).glob(Path(pattern).name)) == [
        "carewatch-alerts.yml",
        "carewatch-recording.yml",
    ]
    command = compose["services"]["alertmanager"]["command"]
    config = next(a.split("=", 1)[1] for a in command if a.startswith("--config.file="))
    assert (built / mounts[config]).is_file()


def test_kubernetes_copies_can_be_made_from_a_fresh_build(built: Path) -> None:
    rendered = generate.render(built)
    assert set(rendered) == {"prometheusrules.yaml", "grafana-dashboards.yaml", "policies.yaml"}
