"""Push a build to a running Grafana through its HTTP API, with grafana-client.

Idempotent: run it again and everything is updated in place.

1. the folder (``GET /api/folders/<uid>``, created with ``POST /api/folders`` if missing);
2. each dashboard (``POST /api/dashboards/db`` with ``overwrite: true``, in the folder);
3. each rule group (``PUT /api/v1/provisioning/folder/<uid>/rule-groups/<group>``: Grafana
   creates or updates the group and its rules, matched by uid);
4. each contact point (``PUT .../contact-points/<uid>`` when one with that uid exists,
   else ``POST .../contact-points``);
5. the notification policy: the current tree is read (``GET .../policies``) and carewatch's
   routes put under its root, replacing earlier carewatch routes and keeping every other
   team's (``PUT .../policies``); the root receiver stays whatever it was.

Rules and contact points pushed this way carry Grafana's "API" provenance (read-only in
the UI), like any alerting-as-code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.build import Bundle
from dashboards.rules import PAGE_RECEIVER, TICKET_RECEIVER
from streams.errors import CarewatchError

CAREWATCH_MATCHER = ["alertname", "=~", "Carewatch.*"]


class PushError(CarewatchError):
    """Grafana refused a request, or could not be reached."""


@dataclass
class PushReport:
    folder: str = ""  # created | exists
    dashboards: list[str] = field(default_factory=list)
    rule_groups: list[str] = field(default_factory=list)
    contact_points: dict[str, str] = field(default_factory=dict)  # uid -> created | updated
    policy_routes: int = 0  # routes under the root after the push


def carewatch_route(policy: dict[str, Any]) -> dict[str, Any]:
    """carewatch's policy as one route: it takes every ``Carewatch*`` alert."""
    return {**policy, "object_matchers": [CAREWATCH_MATCHER]}


def merge_policy(current: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The current tree with carewatch's route first and any earlier one removed."""
    ours = {PAGE_RECEIVER, TICKET_RECEIVER}
    others = [r for r in current.get("routes") or [] if r.get("receiver") not in ours]
    root = current.get("receiver") or TICKET_RECEIVER  # an empty tree still needs a root
    return {**current, "receiver": root, "routes": [carewatch_route(policy), *others]}


def push(bundle: Bundle, url: str, token: str, timeout: float = 10.0) -> PushReport:
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    try:
        return _push(api, bundle)
    except GrafanaException as error:
        raise PushError(f"Grafana at {url} refused: {error.message}") from error
    except OSError as error:  # niquests' connection errors are OSErrors
        raise PushError(f"cannot reach Grafana at {url}: {error}") from error


def _push(api: GrafanaApi, bundle: Bundle) -> PushReport:
    config = bundle.config
    report = PushReport()
    # grafana-client is untyped: every call returns Any.
    client = cast(Any, api)
    try:
        client.folder.get_folder(config.folder_uid)
        report.folder = "exists"
    except GrafanaClientError as error:
        if error.status_code != 404:
            raise
        client.folder.create_folder(config.folder_title, uid=config.folder_uid)
        report.folder = "created"
    for slug, model in bundle.boards.items():
        client.dashboard.update_dashboard(
            {
                "dashboard": {**model, "id": None},
                "folderUid": config.folder_uid,
                "overwrite": True,
                "message": "carewatch dashboards push",
            }
        )
        report.dashboards.append(slug)
    for name, group in bundle.grafana.rule_groups.items():
        client.alertingprovisioning.update_rule_group(config.folder_uid, name, group)
        report.rule_groups.append(name)
    existing = {p.get("uid") for p in client.alertingprovisioning.get_contactpoints() or []}
    for point in bundle.grafana.contact_points:
        uid = point["uid"]
        if uid in existing:
            client.alertingprovisioning.update_contactpoint(uid, point)
            report.contact_points[uid] = "updated"
        else:
            client.alertingprovisioning.create_contactpoint(point)
            report.contact_points[uid] = "created"
    current = client.alertingprovisioning.get_notification_policy_tree() or {}
    tree = merge_policy(current, bundle.grafana.policy)
    client.alertingprovisioning.set_notification_policy_tree(tree)
    report.policy_routes = len(tree["routes"])
    return report
