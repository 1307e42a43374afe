"""The generated rule files pass ``promtool check rules``, the Alertmanager config passes
``amtool check-config``, and ``promtool test rules`` shows every alert firing on one
input and staying quiet on another (tests/dashboards/promtool_cases.py)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.alerts import camel
from dashboards.build import ALERTMANAGER_FILE, ALERTS_FILE, RECORDING_FILE, Bundle, write
from dashboards.promql import names
from dashboards.recording import RecordingGroup
from dashboards.rules import alerting_file, recording_file
from dashboards.serialize import to_yaml
from dashboards.targets import slas
from deploy.localstack.install import ensure_commands
from streams.policy import PolicyBook
from tests.dashboards.promtool_cases import (
    Case,
    burn_cases,
    care_cases,
    pipeline_cases,
    promtool_test_file,
)

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    ensure_commands(["promtool", "amtool"], print)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)


def all_cases(book: PolicyBook) -> list[Case]:
    cases = [c for sla in slas(book) for c in burn_cases(sla, camel(sla))]
    return [*cases, *care_cases(book), *pipeline_cases()]


def test_generated_rules_pass_promtool_check(
    bundle: Bundle, book: PolicyBook, tmp_path: Path
) -> None:
    write(bundle, tmp_path, "example", book)
    result = run(
        "promtool", "check", "rules", str(tmp_path / RECORDING_FILE), str(tmp_path / ALERTS_FILE)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_committed_rules_pass_promtool_check() -> None:
    generated = Path(__file__).resolve().parents[2] / "dashboards" / "generated"
    files = sorted(str(p) for p in (generated / "prometheus" / "rules").glob("*.yml"))
    assert len(files) == 2
    result = run("promtool", "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_passes_amtool(
    bundle: Bundle, book: PolicyBook, tmp_path: Path
) -> None:
    write(bundle, tmp_path, "example", book)
    result = run("amtool", "check-config", str(tmp_path / ALERTMANAGER_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case(bundle: Bundle, book: PolicyBook) -> None:
    cases = all_cases(book)
    for spec in bundle.alerts:
        mine = [c for c in cases if c.alert == spec.name]
        assert any(not c.quiet for c in mine), f"{spec.name}: no case where it fires"
        assert any(c.quiet for c in mine), f"{spec.name}: no case where it stays quiet"
    assert {c.alert for c in cases} == {s.name for s in bundle.alerts}


def needed_recording(groups: list[RecordingGroup], expr: str) -> dict[str, Any]:
    """The recording rules ``expr`` reads, and theirs, in their groups' order (so a
    promtool run evaluates only what the alert under test depends on)."""
    by_record = {rule.record for group in groups for rule in group.rules}
    wanted: set[str] = set()
    pending = [m for m in names(expr).metrics if m in by_record]
    while pending:
        record = pending.pop()
        if record in wanted:
            continue
        wanted.add(record)
        for group in groups:
            for rule in group.rules:
                if rule.record == record:
                    pending += [m for m in names(rule.expr).metrics if m in by_record]
    kept = [RecordingGroup(g.name, [r for r in g.rules if r.record in wanted]) for g in groups]
    return recording_file([g for g in kept if g.rules])


def test_promtool_unit_tests(bundle: Bundle, book: PolicyBook, tmp_path: Path) -> None:
    rules: dict[str, Any] = alerting_file(bundle.alerts, bundle.config)
    cases = all_cases(book)
    runs: list[tuple[str, Path]] = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            # The description formats $value; the copy under test keeps the label templates.
            rule["annotations"] = {
                k: v for k, v in rule["annotations"].items() if k in ("summary", "dashboard")
            }
            recording = tmp_path / f"{name}-recording.yml"
            recording.write_text(to_yaml(needed_recording(bundle.recording, rule["expr"])))
            alert = tmp_path / f"{name}-alert.yml"
            alert.write_text(to_yaml({"groups": [{"name": group["name"], "rules": [rule]}]}))
            mine = [c for c in cases if c.alert == name]
            for interval in sorted({c.interval for c in mine}):
                same = [c for c in mine if c.interval == interval]
                tests = tmp_path / f"{name}-{interval}-tests.yml"
                document = promtool_test_file(same, [str(recording), str(alert)], {name: rule})
                tests.write_text(to_yaml(document))
                assert yaml.safe_load(tests.read_text())["tests"]
                runs.append((name, tests))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda run_: run("promtool", "test", "rules", str(run_[1])), runs))
    failures = [
        f"{name}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
        for (name, _), result in zip(runs, results, strict=True)
        if result.returncode != 0 or "SUCCESS" not in result.stdout
    ]
    assert not failures, "\n".join(failures)
