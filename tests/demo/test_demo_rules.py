"""The demo's rules: dashboards/' rules with windows and ``for:`` scaled to ``--speed``,
and rule files put back as they were."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deploy.demo_rules import InstalledRules, demo_timing, rule_files, seconds_of

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "deploy" / "policies.example.yaml"
WINDOW = re.compile(r"\[(\w+)\]")


def rules_of(files: dict[str, str]) -> dict[str, dict[str, str]]:
    """Alert or record name -> rule (the last one of a name), over both files."""
    out = {}
    for text in files.values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                out[rule.get("alert") or rule["record"]] = rule
    return out


def test_at_speed_60_windows_and_holds_are_60_times_shorter_above_their_floors() -> None:
    live = rules_of(rule_files(POLICY, demo_timing(1.0, 5.0)))
    fast = rules_of(rule_files(POLICY, demo_timing(60.0, 5.0)))
    assert live.keys() == fast.keys()  # the same rules, by name
    page = "CarewatchFirstReplyBurnRatePage"
    assert (live[page]["for"], fast[page]["for"]) == ("2m", "5s")  # 2 s, held one scrape
    assert live["CarewatchPipelineStalled"]["for"] == "15m"
    assert fast["CarewatchPipelineStalled"]["for"] == "15s"
    windows = {
        name: (WINDOW.findall(live[name]["expr"]), WINDOW.findall(fast[name]["expr"]))
        for name in ("carewatch:sla_decisions:rate5m", "carewatch:sla_decisions:rate1h")
    }
    assert windows["carewatch:sla_decisions:rate5m"] == (["5m"], ["20s"])  # four scrapes
    assert windows["carewatch:sla_decisions:rate1h"] == (["1h"], ["1m"])
    # Thresholds are production's, but the spike floor is per wall second.
    assert "> 0.72" in fast[page]["expr"]
    assert live[page]["expr"] == fast[page]["expr"]
    assert "> 0.05" in live["CarewatchMentionSpike"]["expr"]
    assert "> 3\n" in fast["CarewatchMentionSpike"]["expr"] + "\n"


def test_installed_rules_are_put_back_as_they_were(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "carewatch-alerts.yml").write_text("groups: []  # someone's\n")
    (rules / "other.yml").write_text("groups: []\n")
    files = rule_files(POLICY, demo_timing(60.0, 5.0))
    installed = InstalledRules.install(rules, files)
    assert sorted(p.name for p in rules.iterdir()) == [
        "carewatch-alerts.yml",
        "carewatch-recording.yml",
        "other.yml",
    ]
    assert (rules / "carewatch-alerts.yml").read_text() == files["carewatch-alerts.yml"]
    installed.restore()
    assert sorted(p.name for p in rules.iterdir()) == ["carewatch-alerts.yml", "other.yml"]
    assert (rules / "carewatch-alerts.yml").read_text() == "groups: []  # someone's\n"


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5.0), ("1m", 60.0), ("500ms", 0.5)])
def test_scrape_intervals_are_read_as_prometheus_writes_them(text: str, seconds: float) -> None:
    assert seconds_of(text) == seconds


def test_a_duration_of_two_units_is_refused() -> None:
    with pytest.raises(ValueError, match="1m30s"):
        seconds_of("1m30s")
