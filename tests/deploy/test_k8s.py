"""deploy/k8s: rendered by kustomize, validated by kubeconform, and checked in structure.

Built-in kinds are validated by ``kubeconform -strict`` against the Kubernetes JSON
schemas of the oldest and newest Kubernetes the manifests target (deploy/tools.py). The
custom resources (PodMonitor, PrometheusRule, KEDA's ScaledObject) have no schema here,
so they are skipped by exact group/version/kind, never by ``-ignore-missing-schemas``,
and checked below instead: the Prometheus Operator's kinds decoded strictly into the
operator's own Go types (deploy/tools/crdcheck), and for all of them the fields the
operators read, selectors that match the pods, the rule groups equal to the generated
ones and accepted by ``promtool check rules``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.waiting import INFINITY_PLUGIN, INFINITY_VERSION, WORKERS_DATASOURCE_UID
from deploy import tools
from deploy.k8s import generate
from streams.policy import load_policies

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KEDA = K8S / "overlays" / "keda"
CUSTOM = (
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "keda.sh/v1alpha1/ScaledObject",
)

pytestmark = pytest.mark.timeout(1800)  # the first run installs kubeconform and schemas


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {"base": tools.kustomize(K8S), "keda": tools.kustomize(KEDA)}


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def one(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def settings_map(resources: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(resources, "ConfigMap", "carewatch-settings")["data"]
    return data


def pod_specs(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        r["metadata"]["name"]: r["spec"]["template"]
        for r in resources
        if r["kind"] in ("Deployment", "StatefulSet")
    }


@pytest.mark.parametrize("version", tools.KUBERNETES_VERSIONS)
def test_kubeconform_strict(rendered: dict[str, str], version: str) -> None:
    """Both renders in one run: kubeconform compiles each kind's schema once."""
    both = rendered["base"] + "---\n" + rendered["keda"]
    result = tools.kubeconform_check(both, version, skip=CUSTOM)
    assert result.returncode == 0, result.stdout + result.stderr
    resources = docs(both)
    custom = sum(f"{r['apiVersion']}/{r['kind']}" in CUSTOM for r in resources)
    assert custom == 9  # 2 PodMonitors and 2 PrometheusRules in each, 1 ScaledObject
    summary = result.stdout.strip().splitlines()[-1]
    assert f"Valid: {len(resources) - custom}, Invalid: 0, Errors: 0, Skipped: {custom}" in summary


def test_kubeconform_rejects_an_unknown_field(rendered: dict[str, str]) -> None:
    """The validation is real: a misspelt field in a pod template fails it."""
    statefulset = one(docs(rendered["base"]), "StatefulSet", "carewatch-worker")
    broken = yaml.safe_dump(statefulset).replace(
        "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true"
    )
    result = tools.kubeconform_check(broken, tools.KUBERNETES_VERSIONS[-1], skip=CUSTOM)
    assert result.returncode != 0
    assert "readOnlyRootFilesytem" in result.stdout


def crdcheck(manifests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.crdcheck())], input=manifests, capture_output=True, text=True, timeout=60
    )


def test_operator_resources_decode_into_the_operators_types(rendered: dict[str, str]) -> None:
    result = crdcheck(rendered["base"] + "---\n" + rendered["keda"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Summary: 8 checked, 0 failed" in result.stdout


def test_operator_resources_with_an_unknown_field_fail(rendered: dict[str, str]) -> None:
    broken = rendered["base"].replace("podMetricsEndpoints:", "podMetricEndpoints:", 1)
    result = crdcheck(broken)
    assert result.returncode == 1
    assert 'unknown field "podMetricEndpoints"' in result.stdout


def test_generated_copies_match_their_source() -> None:
    assert generate.stale() == [], "run `python -m deploy.k8s.generate`"


def test_workers_keep_rocksdb_on_a_volume_per_replica(rendered: dict[str, str]) -> None:
    resources = docs(rendered["base"])
    worker = one(resources, "StatefulSet", "carewatch-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CAREWATCH_STORE"] == "rocksdb"
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CAREWATCH_DATA_DIR"].startswith(mounts[claim["metadata"]["name"]] + "/")
    assert worker["spec"]["serviceName"] == "carewatch-worker"
    assert one(resources, "Service", "carewatch-worker")["spec"]["clusterIP"] == "None"


def test_replicas_never_exceed_partitions(rendered: dict[str, str]) -> None:
    base, keda = docs(rendered["base"]), docs(rendered["keda"])
    partitions = int(settings_map(base)["CAREWATCH_PARTITIONS"])
    # The autoscaler owns the count: a fixed one would be reset at every apply.
    assert "replicas" not in one(base, "StatefulSet", "carewatch-worker")["spec"]
    hpa = one(base, "HorizontalPodAutoscaler", "carewatch-worker")
    assert hpa["spec"]["maxReplicas"] == partitions
    assert hpa["spec"]["minReplicas"] >= 1
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "carewatch-worker",
    }  # fmt: skip
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert (
        metric["external"]["metric"]["selector"]["matchLabels"]["topic"]
        == (settings_map(base)["CAREWATCH_EVENTS_TOPIC"])
    )
    scaled = one(keda, "ScaledObject", "carewatch-worker")["spec"]
    assert scaled["maxReplicaCount"] == partitions
    assert scaled["minReplicaCount"] >= 1  # live mode decides deadlines with no event
    assert not [r for r in keda if r["kind"] == "HorizontalPodAutoscaler"]


def test_keda_scaler_reads_the_workers_group_and_topic(rendered: dict[str, str]) -> None:
    keda = docs(rendered["keda"])
    settings = settings_map(keda)
    spec = one(keda, "ScaledObject", "carewatch-worker")["spec"]
    assert spec["scaleTargetRef"]["kind"] == "StatefulSet"
    assert spec["scaleTargetRef"]["name"] == "carewatch-worker"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert all(isinstance(v, str) for v in metadata.values())  # KEDA takes strings only
    known = {
        "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
        "offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset",
        "excludePersistentLag", "limitToPartitionsWithLag", "version", "partitionLimitation",
    }  # fmt: skip
    assert set(metadata) <= known
    assert metadata["bootstrapServers"] == settings["CAREWATCH_BOOTSTRAP"]
    assert metadata["consumerGroup"] == settings["CAREWATCH_APP_ID"]
    assert metadata["topic"] == settings["CAREWATCH_EVENTS_TOPIC"]
    assert metadata["allowIdleConsumers"] == "false"
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "idleReplicaCount", "fallback", "advanced", "triggers",
    }  # fmt: skip


def test_pod_monitors_select_the_pods_and_their_ports(rendered: dict[str, str]) -> None:
    resources = docs(rendered["base"])
    pods = pod_specs(resources)
    monitors = [r for r in resources if r["kind"] == "PodMonitor"]
    assert {m["metadata"]["name"] for m in monitors} == {
        "carewatch-worker",
        "carewatch-connectors",
    }
    jobs = {}
    for monitor in monitors:
        spec = monitor["spec"]
        assert set(spec) <= {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel"}
        wanted = spec["selector"]["matchLabels"]
        selected = [
            name
            for name, pod in pods.items()
            if wanted.items() <= pod["metadata"]["labels"].items()
        ]
        assert selected, f"{monitor['metadata']['name']} selects no pod"
        (endpoint,) = spec["podMetricsEndpoints"]
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "relabelings"}
        assert endpoint["path"] == "/metrics"
        for name in selected:
            ports = {p["name"] for c in pods[name]["spec"]["containers"] for p in c["ports"]}
            assert endpoint["port"] in ports, (monitor["metadata"]["name"], name)
        relabel, *named = endpoint["relabelings"]
        assert relabel["targetLabel"] == "job"
        assert relabel["action"] == "replace"
        jobs[monitor["metadata"]["name"]] = relabel["replacement"]
        if monitor["metadata"]["name"] == "carewatch-connectors":
            (component,) = named  # the connector's name, for CarewatchConnectorDown
            assert component["targetLabel"] == "component"
            source = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
            assert component["sourceLabels"] == [source]
            assert component["replacement"] == "$1"
            regex = re.compile(component["regex"])  # Prometheus anchors it: a fullmatch
            named_as = {}
            for name in selected:
                value = pods[name]["metadata"]["labels"]["app.kubernetes.io/component"]
                match = regex.fullmatch(value)
                assert match is not None, value
                named_as[value] = match.group(1)
            assert named_as == {"webhook": "webhook", "x-connector": "x"}
        else:
            assert named == []
    assert jobs == {"carewatch-worker": "carewatch", "carewatch-connectors": "carewatch-connectors"}


def test_prometheus_rules_wrap_exactly_the_generated_rule_files(
    rendered: dict[str, str], tmp_path: Path
) -> None:
    """One PrometheusRule per generated file (the operator writes each into one rule
    file, where group names must be unique), each accepted by promtool."""
    rules = [r for r in docs(rendered["base"]) if r["kind"] == "PrometheusRule"]
    files = generate.rule_files(generate.DASHBOARDS_OUT)
    assert sorted(r["metadata"]["name"] for r in rules) == sorted(f.stem for f in files)
    for path in files:
        rule = one(rules, "PrometheusRule", path.stem)
        assert set(rule["spec"]) == {"groups"}
        groups = rule["spec"]["groups"]
        assert groups == yaml.safe_load(path.read_text())["groups"]
        for group in groups:
            for r in group["rules"]:
                assert ("record" in r) != ("alert" in r)
                assert r["expr"]
                assert set(r) <= {
                    "record",
                    "alert",
                    "expr",
                    "for",
                    "keep_firing_for",
                    "labels",
                    "annotations",
                }
        checked = tmp_path / path.name
        checked.write_text(yaml.safe_dump({"groups": groups}))
        result = subprocess.run(
            [tools.promtool(), "check", "rules", str(checked)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        count = sum(len(g["rules"]) for g in groups)
        assert f"SUCCESS: {count} rules found" in result.stdout


def test_dashboards_are_config_maps_for_the_grafana_sidecar(rendered: dict[str, str]) -> None:
    maps = [
        r
        for r in docs(rendered["base"])
        if r["kind"] == "ConfigMap" and r["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    boards = sorted((generate.DASHBOARDS_OUT / generate.BOARDS_DIR).glob("*.json"))
    assert len(maps) == len(boards) >= 3
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = config_map["data"].items()
        assert json.loads(text) == json.loads(
            (generate.DASHBOARDS_OUT / generate.BOARDS_DIR / name).read_text()
        )


def test_grafana_values_give_what_the_manifests_expect(rendered: dict[str, str]) -> None:
    """deploy/k8s/grafana-values.yaml, for the cluster's own Grafana: the Infinity plugin
    at the pinned version, the workers' token from the Secret the workers read, and the
    sidecars watching the labels (and folder annotation) the ConfigMaps here carry."""
    values = yaml.safe_load((K8S / "grafana-values.yaml").read_text())
    assert values["plugins"] == [f"{INFINITY_PLUGIN} {INFINITY_VERSION}"]
    resources = docs(rendered["base"])
    spec = one(resources, "StatefulSet", "carewatch-worker")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    (token,) = [e for e in container["env"] if e["name"] == "CAREWATCH_API_TOKEN"]
    wanted = values["envValueFrom"]["CAREWATCH_API_TOKEN"]["secretKeyRef"]
    assert wanted == {k: token["valueFrom"]["secretKeyRef"][k] for k in ("name", "key")}
    sidecars = values["sidecar"]
    assert set(sidecars) == {"dashboards", "datasources"}
    for kind, sidecar in sidecars.items():
        assert sidecar["enabled"] is True
        assert sidecar["searchNamespace"] == "ALL", kind  # the ConfigMaps are in carewatch's
        labelled = [
            r
            for r in resources
            if r["kind"] == "ConfigMap" and sidecar["label"] in r["metadata"].get("labels", {})
        ]
        assert labelled, kind
        assert {r["metadata"]["labels"][sidecar["label"]] for r in labelled} == {
            sidecar["labelValue"]
        }
        if kind == "dashboards":
            folder = sidecar["folderAnnotation"]
            assert all(folder in r["metadata"]["annotations"] for r in labelled)
        else:
            (datasource,) = labelled
            (name,) = datasource["data"]
            assert name.endswith(".yaml")  # the sidecar writes it under this name
            (source,) = yaml.safe_load(datasource["data"][name])["datasources"]
            assert (source["type"], source["uid"]) == (INFINITY_PLUGIN, WORKERS_DATASOURCE_UID)


def test_sla_policy_is_a_config_map_the_workers_read(rendered: dict[str, str]) -> None:
    resources = docs(rendered["base"])
    (policy,) = [
        r
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("carewatch-sla-policy-")
    ]  # the generator's content hash: a new policy rolls the workers
    text = policy["data"]["policies.yaml"]
    assert text == (ROOT / "deploy" / "policies.example.yaml").read_text()
    spec = one(resources, "StatefulSet", "carewatch-worker")["spec"]["template"]["spec"]
    volume = next(
        v
        for v in spec["volumes"]
        if v.get("configMap", {}).get("name") == policy["metadata"]["name"]
    )
    (container,) = spec["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CAREWATCH_POLICY_FILE"] == f"{mount['mountPath']}/policies.yaml"
    load_policies(str(ROOT / "deploy" / "k8s" / "base" / "generated" / "policies.yaml"))


def test_secrets_only_by_reference(rendered: dict[str, str]) -> None:
    for variant, text in rendered.items():
        resources = docs(text)
        assert not [r for r in resources if r["kind"] == "Secret"], variant
        for r in resources:
            if r["kind"] == "ConfigMap":
                for key in r.get("data", {}):
                    assert not re.search(r"TOKEN|SECRET|PASSWORD", key), (
                        r["metadata"]["name"],
                        key,
                    )
        for name, pod in pod_specs(resources).items():
            for container in pod["spec"]["containers"]:
                for var in container.get("env", []):
                    if re.search(r"TOKEN|SECRET|PASSWORD", var["name"]):
                        assert "value" not in var, (name, var["name"])
                        assert "secretKeyRef" in var["valueFrom"], (name, var["name"])


def test_every_pod_meets_the_restricted_pod_security_standard(rendered: dict[str, str]) -> None:
    resources = docs(rendered["base"])
    namespace = one(resources, "Namespace", "carewatch")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in pod_specs(resources).items():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert context["readOnlyRootFilesystem"] is True, name
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, name


def test_connectors_are_deployments(rendered: dict[str, str]) -> None:
    resources = docs(rendered["base"])
    webhook = one(resources, "Deployment", "carewatch-webhook")["spec"]["template"]["spec"]
    assert webhook["containers"][0]["command"] == ["carewatch", "connect", "webhook"]
    x = one(resources, "Deployment", "carewatch-x")
    assert x["spec"]["replicas"] <= 1  # X allows one filtered-stream connection per app
    assert x["spec"]["strategy"]["type"] == "Recreate"
    assert x["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "carewatch",
        "connect",
        "x",
    ]
