"""``carewatch dashboards preview``: a board drawn from live Prometheus data, as one HTML
file with inline SVG, so a person can look at it without a Grafana server.

Every panel's queries run as Grafana would run them: template variables at "All",
``$__interval`` the step, ``$__rate_interval`` Grafana's max(step + scrape interval,
4 x scrape interval), ``$__range`` the panel's time range (today for "now/d" panels).
Each panel is a ``<section class="panel" data-status="ok|empty|error|skipped">``: ``ok``
when its queries returned at least one series with a value, ``skipped`` for a panel on
another data source than Prometheus (the care floor's waiting list).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.queries import Prometheus, PrometheusError, legend, on_prometheus, substitute
from dashboards.render import (
    Series,
    colour_for,
    format_value,
    legend_html,
    line_chart,
    table_html,
)
from dashboards.timing import promql_duration
from streams.errors import CarewatchError

STYLE = """
body{background:#111217;color:#ccccdc;font:13px sans-serif;margin:16px}
h1{font-size:20px}h2{font-size:15px;border-bottom:1px solid #333;padding-top:8px}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.panel{background:#181b1f;border:1px solid #2a2d33;padding:8px;border-radius:3px}
.panel h3{font-size:13px;margin:0 0 6px}.axis{fill:#8e8e9e;font-size:10px}
.big{font-size:34px;font-weight:600;padding:8px 12px;border-radius:3px;color:#fff}
.legend{list-style:none;padding:0;margin:4px 0;max-height:90px;overflow:auto}
.swatch{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse}td,th{border-bottom:1px solid #2a2d33;padding:2px 8px}
.error{color:#f2495c}
"""


NOT_DRAWN = "Not drawn: its rows come from the workers (GET /cases/waiting), not Prometheus."


class PreviewError(CarewatchError):
    """The preview cannot be written in the requested form."""


@dataclass(frozen=True, slots=True)
class Window:
    end: float
    span: float  # seconds before ``end``
    scrape_interval: float

    @property
    def step(self) -> float:
        return max(self.scrape_interval, math.ceil(self.span / 240))

    @property
    def rate_interval(self) -> str:
        return promql_duration(max(self.step + self.scrape_interval, 4 * self.scrape_interval))

    def range_for(self, panel: Mapping[str, Any]) -> float:
        if panel.get("timeFrom") == "now/d":
            midnight = dt.datetime.fromtimestamp(self.end).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            return max(self.scrape_interval, self.end - midnight.timestamp())
        return self.span


def _fill(expr: str, window: Window, range_seconds: float) -> str:
    return substitute(
        expr,
        rate_interval=window.rate_interval,
        range_=promql_duration(range_seconds),
        interval=promql_duration(window.step),
    )


def _series(prom: Prometheus, panel: Mapping[str, Any], window: Window) -> list[Series]:
    out = []
    start = window.end - window.span
    for target in panel.get("targets") or []:
        expr = _fill(target["expr"], window, window.range_for(panel))
        if target.get("instant"):
            result = prom.query(expr, at=window.end)
            rows = [(r["metric"], [(window.end, float(r["value"][1]))]) for r in result]
        else:
            result = prom.query_range(expr, start, window.end, window.step)
            rows = [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in result]
        for labels, points in rows:
            kept = [(t, v) for t, v in points if not math.isnan(v)]
            if kept:
                out.append(Series(legend(target.get("legendFormat", ""), labels), kept))
    return out


def _table(prom: Prometheus, panel: Mapping[str, Any], window: Window) -> str:
    renames: dict[str, str] = {}
    for transformation in panel.get("transformations") or []:
        renames.update(transformation.get("options", {}).get("renameByName", {}))
    rows: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    value_columns = []
    unit_of = {
        o["matcher"]["options"]: p["value"]
        for o in panel.get("fieldConfig", {}).get("overrides", [])
        for p in o["properties"]
        if p["id"] == "unit"
    }
    for target in panel.get("targets") or []:
        column = renames.get(f"Value #{target['refId']}", f"Value #{target['refId']}")
        value_columns.append(column)
        expr = _fill(target["expr"], window, window.range_for(panel))
        for r in prom.query(expr, at=window.end):
            key = tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__"))
            value = format_value(float(r["value"][1]), unit_of.get(column, "short"))
            rows.setdefault(key, {})[column] = value
    if not rows:
        return ""
    labels = sorted({k for key in rows for k, _ in key})
    body = [
        [dict(key).get(label, "") for label in labels] + [cells.get(c, "") for c in value_columns]
        for key, cells in sorted(rows.items())
    ]
    return table_html([*labels, *value_columns], body)


def _panel(prom: Prometheus, panel: Mapping[str, Any], window: Window) -> tuple[str, str, int]:
    """(inner HTML, status, number of series)."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "short")
    steps = [(s["value"], s["color"]) for s in defaults.get("thresholds", {}).get("steps", [])]
    if panel["type"] == "table":
        inner = _table(prom, panel, window)
        return inner, "ok" if inner else "empty", inner.count("<tr>") - 1
    series = _series(prom, panel, window)
    if not series:
        return "", "empty", 0
    if panel["type"] == "stat":
        boxes = []
        for s in series[:4]:
            value = s.points[-1][1]
            boxes.append(
                f'<div class="big" style="background:{colour_for(value, steps)}">'
                f"{html.escape(format_value(value, unit))}</div>"
            )
        spark = line_chart(series[:1], unit, (), 260, 60) if len(series[0].points) > 1 else ""
        return "".join(boxes) + spark, "ok", len(series)
    return line_chart(series, unit, steps) + legend_html(series, unit), "ok", len(series)


def render_board(
    model: Mapping[str, Any], prom: Prometheus, window: Window, title: str | None = None
) -> str:
    sections: list[str] = []
    grid: list[str] = []

    def flush() -> None:
        if grid:
            sections.append(f'<div class="grid">{"".join(grid)}</div>')
            grid.clear()

    for panel in model.get("panels", []):
        if panel["type"] == "row":
            flush()
            sections.append(f"<h2>{html.escape(panel['title'])}</h2>")
            continue
        try:
            if on_prometheus(panel):
                inner, status, count = _panel(prom, panel, window)
            else:  # the waiting list: asked of the workers, not of Prometheus
                inner, status, count = f"<p>{NOT_DRAWN}</p>", "skipped", 0
        except PrometheusError as error:
            inner, status, count = f'<p class="error">{html.escape(str(error))}</p>', "error", 0
        width = panel.get("gridPos", {}).get("w", 12) * 24
        grid.append(
            f'<section class="panel" data-title="{html.escape(panel["title"])}" '
            f'data-type="{panel["type"]}" data-status="{status}" data-series="{count}" '
            f'style="width:{width}px" title="{html.escape(panel.get("description", ""))}">'
            f"<h3>{html.escape(panel['title'])}</h3>{inner or '<p>No data</p>'}</section>"
        )
    flush()
    when = dt.datetime.fromtimestamp(window.end).isoformat(timespec="seconds")
    heading = html.escape(title or model.get("title", "board"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title>"
        f"<style>{STYLE}</style></head><body><h1>{heading}</h1>"
        f"<p>Prometheus {html.escape(prom.url)}, {promql_duration(window.span)} up to {when}; "
        f"variables at All.</p>{''.join(sections)}</body></html>"
    )


def statuses(page: str) -> Sequence[tuple[str, str, int]]:
    """(title, status, series) of each panel of a rendered page, for tests and the CLI."""
    from html.parser import HTMLParser

    found: list[tuple[str, str, int]] = []

    class Panels(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "section" and a.get("class") == "panel":
                found.append(
                    (a["data-title"] or "", a["data-status"] or "", int(a["data-series"] or 0))
                )

    Panels().feed(page)
    return found
