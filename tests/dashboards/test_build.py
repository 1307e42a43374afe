"""``carewatch dashboards build``: what it writes, and that the committed output is current."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import DASHBOARDS_DIR, GRAFANA_ALERTING_FILE, Bundle, build, files
from dashboards.config import BuildConfig
from dashboards.render import colour_for, format_value
from dashboards.timing import Timing, promql_duration
from dashboards.waiting import TITLE as WAITING_TITLE
from deploy.localstack.processes import free_port
from streams.cli import main
from streams.policy import PolicyBook
from tests.dashboards.conftest import EXAMPLE_POLICY, ROOT

GENERATED = ROOT / "dashboards" / "generated"


def panel(bundle: Bundle, board: str, title: str) -> dict[str, Any]:
    found = [p for p in bundle.boards[board]["panels"] if p["title"] == title]
    assert len(found) == 1, title
    return found[0]


def steps(p: dict[str, Any]) -> list[tuple[float | None, str]]:
    return [(s["value"], s["color"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_the_committed_output_is_what_build_writes(bundle: Bundle, book: PolicyBook) -> None:
    """Deploy files point at dashboards/generated: rebuild after changing the code."""
    expected = files(bundle, "deploy/policies.example.yaml", book)
    on_disk = {p.relative_to(GENERATED) for p in GENERATED.rglob("*") if p.is_file()}
    assert on_disk == set(expected)
    for relative, text in expected.items():
        assert (GENERATED / relative).read_text() == text, f"stale: {relative}"


def test_the_command_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dashboards", "build", "--out", str(tmp_path), "--policy", str(EXAMPLE_POLICY)]
    assert main([*argv, "--grafana-url", "https://grafana.example.com/"]) == 0
    written = {Path(line.removeprefix("wrote ")) for line in capsys.readouterr().out.splitlines()}
    assert written == {p for p in tmp_path.rglob("*") if p.is_file()}
    assert len(written) == 8
    for path in written:
        text = path.read_text()
        if path.suffix == ".json":
            assert json.loads(text)["uid"].startswith("carewatch-")
        else:
            assert yaml.safe_load(text)
    alerts = (tmp_path / "prometheus/rules/carewatch-alerts.yml").read_text()
    assert "https://grafana.example.com/d/carewatch-on-call/on-call?var-brand=" in alerts


def test_a_bad_policy_or_objective_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: {targets: {first_reply: soon}}\n")
    assert main(["dashboards", "build", "--out", str(tmp_path), "--policy", str(bad)]) == 2
    assert "defaults.targets.first_reply" in capsys.readouterr().err
    argv = ["dashboards", "build", "--policy", str(EXAMPLE_POLICY), "--objective", "1.5"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "objective" in capsys.readouterr().err


def test_preview_refuses_png_and_a_missing_prometheus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dashboards", "preview", "--prometheus", f"http://127.0.0.1:{free_port()}"]
    argv += ["--policy", str(EXAMPLE_POLICY), "--out"]
    assert main([*argv, str(tmp_path / "board.png")]) == 2
    assert "only .html" in capsys.readouterr().err
    assert main([*argv, str(tmp_path / "board.html")]) == 2
    assert "cannot query Prometheus" in capsys.readouterr().err
    assert not (tmp_path / "board.html").exists()


def test_boards_filter_by_brand_platform_priority(bundle: Bundle) -> None:
    for model in bundle.boards.values():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert {"datasource", "brand", "platform", "priority"} <= set(variables)
        for name in ("brand", "platform", "priority"):
            assert variables[name]["query"].startswith("label_values(")
            assert variables[name]["includeAll"]
            assert variables[name]["allValue"] == ".*"
        for p in model["panels"]:
            if p["title"] == WAITING_TITLE:  # the workers' list, filtered in its jq program
                program = p["targets"][0]["root_selector"]
                assert set(re.findall(r"\$\{(\w+):regex\}", program)) == set(variables) - {
                    "datasource"
                }
            elif p["type"] != "row":
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
                assert unit or p["type"] == "table", p["title"]


def test_thresholds_sit_at_the_sla_targets(bundle: Bundle) -> None:
    # The default policy: first reply within 60 min, warned 15 min before.
    assert steps(panel(bundle, "care-floor", "Oldest wait")) == [
        (None, "green"),
        (2700.0, "orange"),
        (3600.0, "red"),
    ]
    ratio = panel(bundle, "care-floor", "Oldest wait against target")
    assert ratio["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert steps(ratio)[-1] == (1.0, "red")  # 100 % of each case's own target
    met = panel(bundle, "care-floor", "Deadlines met today: first_reply")
    assert steps(met)[-1] == (0.95, "green")
    assert met["timeFrom"] == "now/d"
    within = panel(bundle, "care-floor", "First replies within 60 min today")
    assert 'le="3600.0"' in within["targets"][0]["expr"]
    burn = panel(bundle, "on-call", "first_reply: burn rate")
    assert [v for v, _ in steps(burn)] == [None, 1.0, 3.0, 6.0, 14.4]
    budget = panel(bundle, "on-call", "first_reply: error budget left (30 days)")
    assert "carewatch:sla_decisions:rate30d" in budget["targets"][0]["expr"]


def test_grafana_rules_link_to_their_panels(bundle: Bundle, book: PolicyBook) -> None:
    provisioning = yaml.safe_load(files(bundle, "x", book)[GRAFANA_ALERTING_FILE])
    panels = {(m["uid"], p["id"]): p["title"] for m in bundle.boards.values() for p in m["panels"]}
    rules = [r for g in provisioning["groups"] for r in g["rules"]]
    assert len(rules) == len(bundle.alerts)
    for rule in rules:
        notes = rule["annotations"]
        assert (notes["__dashboardUid__"], int(notes["__panelId__"])) in panels
        assert rule["condition"] == "C"
        assert [q["refId"] for q in rule["data"]] == ["A", "V", "C"]
    assert {p["name"] for p in provisioning["contactPoints"]} == {
        "carewatch-page",
        "carewatch-ticket",
    }
    assert provisioning["policies"][0]["routes"][0]["object_matchers"] == [
        ["severity", "=", "page"]
    ]


def test_test_timing_shortens_windows_not_names(book: PolicyBook) -> None:
    fast = build(BuildConfig(timing=Timing(speedup=1440, floor=10, hold_floor=3)), book)
    rules = {r.record: r.expr for g in fast.recording for r in g.rules}
    assert "[1m]" in rules["carewatch:sla_decisions:rate1d"]
    assert "[10s]" in rules["carewatch:sla_decisions:rate5m"]
    assert promql_duration(Timing(speedup=1440, floor=10, hold_floor=3).seconds(120, 3)) == "3s"
    assert DASHBOARDS_DIR.as_posix() == "grafana/dashboards"


def test_values_are_shown_in_grafana_units() -> None:
    assert format_value(0.953, "percentunit") == "95.3 %"
    assert format_value(5400, "s") == "1.5 h"
    assert format_value(12.5, "cpm") == "12.50 /min"
    assert colour_for(3700, [(None, "green"), (2700, "orange"), (3600, "red")]) == "#f2495c"
