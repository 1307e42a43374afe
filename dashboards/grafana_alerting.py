"""The Grafana form of the rules: rule groups, contact points and the notification policy.

Built with grafana-foundation-sdk's alerting builders, from the same
:class:`~dashboards.alerts.AlertSpec` list as the Prometheus rule files. Each rule runs
two instant queries on the Prometheus data source and one threshold:

* ``A``: ``count by (<alert labels>) (<expr>)``: one series per firing label set (the
  expression already holds the comparison, so its value may be 0, as ``up == 0`` is);
* ``V``: ``max by (<alert labels>) (<expr>)``: the value the description shows;
* ``C``: ``A > 0``, the condition. No data means nothing fires (``noDataState: OK``).

The rules read the recorded series of the Prometheus recording rule file, so that file
must be loaded by the Prometheus Grafana queries. :func:`api_payloads` gives the bodies of
Grafana's provisioning HTTP API (dashboards/push.py); :func:`provisioning_file` the file
for ``provisioning/alerting/`` (same content, file field names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.models import alerting as models

from dashboards.alerts import PAGE, TICKET, AlertSpec
from dashboards.config import BuildConfig
from dashboards.rules import GROUP_BY, PAGE_RECEIVER, TICKET_RECEIVER, alert_annotations
from dashboards.serialize import plain
from dashboards.timing import HOUR, MINUTE

ORG_ID = 1
EVALUATION = MINUTE  # every rule group, in production


def rule_uid(name: str) -> str:
    """``CarewatchFirstReplyBurnRatePage`` -> ``cw-first-reply-burn-rate-page`` (<= 40)."""
    words = re.sub(r"(?<!^)(?=[A-Z])", "-", name.removeprefix("Carewatch")).lower()
    return f"cw-{words}"[:40]


def _by(labels: tuple[str, ...]) -> str:
    return f"by ({', '.join(labels)}) " if labels else ""


def _rule(
    spec: AlertSpec, config: BuildConfig, panel_ids: Mapping[tuple[str, str], int]
) -> alerting.Rule:
    window = int(config.timing.seconds(10 * MINUTE))
    span = models.RelativeTimeRange(from_val=window, to=0)

    def query(ref: str, aggregation: str) -> alerting.Query:
        model = (
            prometheus.Dataquery()
            .expr(f"{aggregation} {_by(spec.labels)}(\n{spec.expr}\n)")
            .instant()
            .ref_id(ref)
        )
        return (
            alerting.Query(ref)
            .datasource_uid(config.datasource_uid)
            .relative_time_range(span)
            .model(model)
        )

    threshold = (
        expr.TypeThreshold()
        .ref_id("C")
        .expression("A")
        .conditions(
            [
                expr.ExprTypeThresholdConditions().evaluator(
                    expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([0])
                )
            ]
        )
    )
    notes = alert_annotations(spec, config)
    notes["description"] = notes["description"].replace("$value", "$values.V.Value")
    notes["__dashboardUid__"] = spec.board[0]
    notes["__panelId__"] = str(panel_ids[(spec.board[0], spec.panel)])
    return (
        alerting.Rule(spec.name)
        .uid(rule_uid(spec.name))
        .rule_group(spec.group)
        .folder_uid(config.folder_uid)
        .org_id(ORG_ID)
        .queries(
            [
                query("A", "count"),
                query("V", "max"),
                alerting.Query("C").datasource_uid("__expr__").model(threshold),
            ]
        )
        .condition("C")
        .for_val(config.timing.hold(spec.for_seconds))
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": spec.severity})
        .annotations(notes)
    )


@dataclass(frozen=True, slots=True)
class GrafanaAlerting:
    """API bodies: rule groups by name, contact points, the policy tree."""

    rule_groups: dict[str, dict[str, Any]]
    contact_points: list[dict[str, Any]]
    policy: dict[str, Any]


def api_payloads(
    specs: list[AlertSpec], config: BuildConfig, panel_ids: Mapping[tuple[str, str], int]
) -> GrafanaAlerting:
    groups: dict[str, alerting.RuleGroup] = {}
    interval = config.timing.grafana_interval(EVALUATION)
    for spec in specs:
        group = groups.setdefault(
            spec.group,
            alerting.RuleGroup(spec.group).folder_uid(config.folder_uid).interval(interval),
        )
        group.with_rule(_rule(spec, config, panel_ids))
    contact_points = [
        alerting.ContactPoint()
        .uid(name)
        .name(name)
        .type("webhook")
        .settings({"url": config.webhook_url, "httpMethod": "POST"})
        .disable_resolve_message(False)
        for name in (PAGE_RECEIVER, TICKET_RECEIVER)
    ]
    t = config.timing
    policy = (
        alerting.NotificationPolicy()
        .receiver(TICKET_RECEIVER)
        .group_by(GROUP_BY)
        .group_wait(t.notify(5 * MINUTE))
        .group_interval(t.notify(10 * MINUTE))
        .repeat_interval(t.notify(12 * HOUR))
        .routes(
            [
                alerting.NotificationPolicy()
                .receiver(PAGE_RECEIVER)
                .object_matchers([["severity", "=", PAGE]])
                .group_wait(t.notify(30))
                .group_interval(t.notify(5 * MINUTE))
                .repeat_interval(t.notify(HOUR)),
                alerting.NotificationPolicy()
                .receiver(TICKET_RECEIVER)
                .object_matchers([["severity", "=", TICKET]]),
            ]
        )
    )
    return GrafanaAlerting(
        rule_groups={name: plain(group.build()) for name, group in groups.items()},
        contact_points=[plain(point.build()) for point in contact_points],
        policy=plain(policy.build()),
    )


_API_ONLY = ("folderUID", "ruleGroup", "orgID")


def provisioning_file(payloads: GrafanaAlerting, config: BuildConfig) -> dict[str, Any]:
    """``provisioning/alerting/carewatch.yaml``: the same groups, points and policy."""
    groups = []
    for name, group in payloads.rule_groups.items():
        rules = [{k: v for k, v in r.items() if k not in _API_ONLY} for r in group["rules"]]
        groups.append(
            {
                "orgId": ORG_ID,
                "name": name,
                "folder": config.folder_title,
                "interval": f"{group['interval']}s",
                "rules": rules,
            }
        )
    points = [
        {
            "orgId": ORG_ID,
            "name": point["name"],
            "receivers": [{k: v for k, v in point.items() if k != "name"}],
        }
        for point in payloads.contact_points
    ]
    return {
        "apiVersion": 1,
        "groups": groups,
        "contactPoints": points,
        "policies": [{"orgId": ORG_ID, **payloads.policy}],
    }
