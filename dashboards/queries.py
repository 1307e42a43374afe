"""Running a board's queries without Grafana: find them, fill in Grafana's variables,
and ask Prometheus' HTTP API (``/api/v1/query``, ``query_range``, ``label/<l>/values``).

Used by ``carewatch dashboards preview`` and by the integration test, which runs every
query of every panel and every rule expression against a real Prometheus.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dashboards.promql import label_values
from streams.errors import CarewatchError


class PrometheusError(CarewatchError):
    """Prometheus refused a query or could not be reached."""


@dataclass(frozen=True, slots=True)
class PanelQuery:
    board: str  # dashboard uid
    panel_id: int
    title: str
    panel_type: str
    ref: str
    expr: str
    instant: bool
    legend: str


PROMETHEUS = "prometheus"  # the data source type of every panel but the waiting list


def on_prometheus(panel: Mapping[str, Any]) -> bool:
    return bool(panel.get("datasource", {}).get("type") == PROMETHEUS)


def other_panels(model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Panels on another data source (the care floor's waiting list, on the workers'
    HTTP views): they have no PromQL, so :func:`panel_queries` leaves them out."""
    return [p for p in model.get("panels", []) if p["type"] != "row" and not on_prometheus(p)]


def panel_queries(model: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every PromQL query of the board's panels (see :func:`other_panels` for the rest)."""
    for panel in model.get("panels", []):
        if not on_prometheus(panel):
            continue
        for target in panel.get("targets") or []:
            yield PanelQuery(
                board=model["uid"],
                panel_id=panel["id"],
                title=panel["title"],
                panel_type=panel["type"],
                ref=target["refId"],
                expr=target["expr"],
                instant=bool(target.get("instant")),
                legend=target.get("legendFormat", ""),
            )


def variable_queries(model: Mapping[str, Any]) -> dict[str, str]:
    """Template variable name -> its ``label_values(...)`` query."""
    return {
        v["name"]: v["query"]
        for v in model.get("templating", {}).get("list", [])
        if v.get("type") == "query"
    }


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def substitute(
    expr: str,
    *,
    rate_interval: str,
    range_: str,
    interval: str,
    values: Mapping[str, str] | None = None,
) -> str:
    """Grafana's built-ins and template variables (``$brand``: All, ``.*``, by default)."""
    builtins = {"__rate_interval": rate_interval, "__range": range_, "__interval": interval}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        return (values or {}).get(name, ".*")

    return _VARIABLE.sub(replace, expr)


def legend(template: str, labels: Mapping[str, str]) -> str:
    """Grafana's ``{{label}}`` legend format; the label set when there is none."""
    if not template:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


class Prometheus:
    """A minimal client of Prometheus' HTTP API (no dependency beyond the stdlib)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            try:
                body = json.load(error)
            except ValueError:
                raise PrometheusError(f"{path}: HTTP {error.code}") from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise PrometheusError(f"cannot query Prometheus at {self.url}: {error}") from error
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')} ({params})")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
        data = self._get("/api/v1/query", params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = [
            ("query", expr),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:g}"),
        ]
        result: list[dict[str, Any]] = self._get("/api/v1/query_range", params)["result"]
        return result

    def label_values(self, query: str, values: Mapping[str, str] | None = None) -> list[str]:
        """A Grafana ``label_values(selector, label)`` variable query."""
        selector, label = label_values(query)
        params = []
        if selector:
            params.append(
                (
                    "match[]",
                    substitute(selector, rate_interval="", range_="", interval="", values=values),
                )
            )
        found: list[str] = self._get(f"/api/v1/label/{label}/values", params)
        return found
