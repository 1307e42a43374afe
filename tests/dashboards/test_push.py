"""``carewatch dashboards push`` against a strict stand-in for Grafana's HTTP API."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace

import pytest

from dashboards.build import Bundle
from dashboards.push import CAREWATCH_MATCHER, PushError, push
from dashboards.rules import PAGE_RECEIVER, TICKET_RECEIVER
from deploy.localstack.processes import free_port
from streams.cli import main
from tests.dashboards.conftest import EXAMPLE_POLICY
from tests.dashboards.fake_grafana import FakeGrafana

TOKEN = "glsa_test-token"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana(TOKEN)
    try:
        yield fake
    finally:
        fake.close()


def test_push_creates_everything_in_the_folder(bundle: Bundle, grafana: FakeGrafana) -> None:
    report = push(bundle, grafana.url, TOKEN)
    assert grafana.problems == []
    assert report.folder == "created"
    assert grafana.folders == {"carewatch": "carewatch"}
    assert set(grafana.dashboards) == {
        "carewatch-care-floor",
        "carewatch-on-call",
        "carewatch-pipeline",
    }
    assert all(d["folderUid"] == "carewatch" for d in grafana.dashboards.values())
    assert {g for _, g in grafana.rule_groups} == {
        "carewatch-slo",
        "carewatch-care",
        "carewatch-pipeline",
    }
    rules = [r for g in grafana.rule_groups.values() for r in g["rules"]]
    assert sorted(r["title"] for r in rules) == sorted(s.name for s in bundle.alerts)
    assert report.contact_points == {PAGE_RECEIVER: "created", TICKET_RECEIVER: "created"}
    routes = grafana.policy["routes"]
    assert routes[0]["object_matchers"] == [CAREWATCH_MATCHER]
    assert {r["receiver"] for r in routes[0]["routes"]} == {PAGE_RECEIVER, TICKET_RECEIVER}
    assert routes[1]["object_matchers"] == [["team", "=", "billing"]]  # the other team's
    assert grafana.policy["receiver"] == "grafana-default-email"  # the root is left alone


def test_push_again_updates_in_place(bundle: Bundle, grafana: FakeGrafana) -> None:
    push(bundle, grafana.url, TOKEN)
    before = len(grafana.requests)
    report = push(bundle, grafana.url, TOKEN)
    assert grafana.problems == []
    assert report.folder == "exists"
    assert report.contact_points == {PAGE_RECEIVER: "updated", TICKET_RECEIVER: "updated"}
    assert len(grafana.policy["routes"]) == 2  # carewatch's route replaced, not added twice
    methods = grafana.requests[before:]
    assert ("POST", "/api/folders") not in methods
    assert ("PUT", f"/api/v1/provisioning/contact-points/{PAGE_RECEIVER}") in methods


def test_every_request_is_one_grafana_serves(bundle: Bundle, grafana: FakeGrafana) -> None:
    push(bundle, grafana.url, TOKEN)
    assert grafana.problems == []
    assert set(grafana.requests) == {
        ("GET", "/api/folders/carewatch"),
        ("POST", "/api/folders"),
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/folder/carewatch/rule-groups/carewatch-slo"),
        ("PUT", "/api/v1/provisioning/folder/carewatch/rule-groups/carewatch-care"),
        ("PUT", "/api/v1/provisioning/folder/carewatch/rule-groups/carewatch-pipeline"),
        ("GET", "/api/v1/provisioning/contact-points"),
        ("POST", "/api/v1/provisioning/contact-points"),
        ("GET", "/api/v1/provisioning/policies"),
        ("PUT", "/api/v1/provisioning/policies"),
    }


def test_a_wrong_token_is_an_error_naming_grafana(bundle: Bundle, grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match="refused"):
        push(bundle, grafana.url, "not-the-token")
    assert grafana.folders == {}


def test_an_unreachable_grafana_is_an_error(bundle: Bundle) -> None:
    with pytest.raises(PushError, match="cannot reach"):
        push(bundle, f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2)


def test_the_command(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dashboards", "push", "--url", grafana.url, "--token", TOKEN]
    assert main([*argv, "--policy", str(EXAMPLE_POLICY)]) == 0
    out = capsys.readouterr().out
    assert "folder carewatch: created" in out
    assert "dashboards: care-floor, on-call, pipeline" in out
    assert grafana.problems == []
    # Alert links point at the Grafana pushed to, unless --grafana-url says otherwise.
    rule = next(iter(grafana.rule_groups.values()))["rules"][0]
    assert rule["annotations"]["dashboard"].startswith(f"{grafana.url}/d/")
    assert main([*argv[:-1], "wrong", "--policy", str(EXAMPLE_POLICY)]) == 2
    assert "refused" in capsys.readouterr().err


def _broken(bundle: Bundle, how: str) -> Bundle:
    grafana = copy.deepcopy(bundle.grafana)
    group = next(iter(grafana.rule_groups.values()))
    if how == "interval":
        group["interval"] = 15
    elif how == "condition":
        group["rules"][0]["condition"] = "Z"
    elif how == "panel":
        group["rules"][0]["annotations"]["__panelId__"] = "999"
    elif how == "receiver":
        grafana.policy["routes"][0]["receiver"] = "nobody"
    return replace(bundle, grafana=grafana)


@pytest.mark.parametrize("how", ["interval", "condition", "panel", "receiver"])
def test_the_stand_in_refuses_what_grafana_refuses(
    bundle: Bundle, grafana: FakeGrafana, how: str
) -> None:
    with pytest.raises(PushError):
        push(_broken(bundle, how), grafana.url, TOKEN)
    assert len(grafana.problems) == 1
