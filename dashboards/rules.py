"""The Prometheus form of the rules: rule files and the Alertmanager routing for them.

Two rule files (recording rules first, so every alert reads series recorded in the same
evaluation round) for ``rule_files``, and an ``alertmanager.yml`` with one webhook
receiver per severity: ``page`` (fast, repeated hourly) and ``ticket`` (batched). A page
of a multi-burn-rate alert silences the ticket of the same SLO and label set.
"""

from __future__ import annotations

from typing import Any

from dashboards.alerts import PAGE, TICKET, AlertSpec, camel
from dashboards.config import BuildConfig
from dashboards.recording import RecordingGroup
from dashboards.targets import slas
from dashboards.timing import HOUR, MINUTE, promql_duration
from streams.policy import PolicyBook

PAGE_RECEIVER = "carewatch-page"
TICKET_RECEIVER = "carewatch-ticket"
GROUP_BY = ["alertname", "brand", "platform", "priority", "sla"]


def alert_annotations(spec: AlertSpec, config: BuildConfig) -> dict[str, str]:
    """summary, description and a link to the board, narrowed to the alert's labels."""
    query = "&".join(
        f"var-{label}={{{{ $labels.{label} }}}}"
        for label in ("brand", "platform", "priority")
        if label in spec.labels
    )
    url = config.board_url(spec.board) + (f"?{query}" if query else "")
    return {"summary": spec.summary, "description": spec.description, "dashboard": url}


def recording_file(groups: list[RecordingGroup]) -> dict[str, Any]:
    out = []
    for group in groups:
        rules = []
        for rule in group.rules:
            entry: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
            if rule.labels:
                entry["labels"] = dict(rule.labels)
            rules.append(entry)
        out.append({"name": group.name, "rules": rules})
    return {"groups": out}


def alerting_file(specs: list[AlertSpec], config: BuildConfig) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(
            {
                "alert": spec.name,
                "expr": spec.expr,
                "for": config.timing.hold(spec.for_seconds),
                "labels": {"severity": spec.severity},
                "annotations": alert_annotations(spec, config),
            }
        )
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}


def alertmanager_config(config: BuildConfig, book: PolicyBook) -> dict[str, Any]:
    t = config.timing
    burn = "|".join(camel(sla) for sla in slas(book))
    webhook = [{"url": config.webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": TICKET_RECEIVER,
            "group_by": GROUP_BY,
            "group_wait": t.notify(5 * MINUTE),
            "group_interval": t.notify(10 * MINUTE),
            "repeat_interval": t.notify(12 * HOUR),
            "routes": [
                {
                    "receiver": PAGE_RECEIVER,
                    "matchers": [f'severity="{PAGE}"'],
                    "group_wait": t.notify(30),
                    "group_interval": t.notify(5 * MINUTE),
                    "repeat_interval": t.notify(HOUR),
                },
                {"receiver": TICKET_RECEIVER, "matchers": [f'severity="{TICKET}"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname=~"Carewatch({burn})BurnRatePage"'],
                "target_matchers": [f'alertname=~"Carewatch({burn})BurnRateTicket"'],
                "equal": ["brand", "platform", "priority", "sla"],
            }
        ],
        "receivers": [
            {"name": PAGE_RECEIVER, "webhook_configs": webhook},
            {"name": TICKET_RECEIVER, "webhook_configs": webhook},
        ],
    }


def describe_timing(config: BuildConfig) -> str:
    """A header line for generated files built with a test timing."""
    if config.timing.speedup == 1.0:
        return ""
    return (
        f"# Built with every window and for: {config.timing.speedup:g}x shorter "
        f"(at least {promql_duration(config.timing.floor)}): for tests only.\n"
    )
