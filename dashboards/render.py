"""Drawing panels without Grafana: values in Grafana's units, and inline SVG charts.

Deliberately small: line charts with a time axis, a value axis, dashed threshold lines
and a legend; big numbers coloured by thresholds; tables. Enough for a person to look at
a board (``carewatch dashboards preview``), not a Grafana replacement.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = (
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
    "#fade2a", "#37872d", "#c4162a", "#1f60c4", "#8f3bb8",
)  # fmt: skip
COLOURS = {
    "green": "#73bf69",
    "yellow": "#fade2a",
    "orange": "#ff9830",
    "dark-orange": "#e55400",
    "red": "#f2495c",
    "blue": "#5794f2",
}


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: list[tuple[float, float]]  # (unix time, value); NaN values already dropped


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return _duration(value)
    if unit == "ms":
        return _duration(value / 1000.0)
    suffix = {"cpm": " /min", "cps": " /s"}.get(unit, "")
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f} M{suffix}"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f} k{suffix}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}{suffix}"
    return f"{value:.2f}{suffix}"


def _duration(seconds: float) -> str:
    magnitude = abs(seconds)
    for limit, unit, size in ((86400, "d", 86400), (3600, "h", 3600), (60, "min", 60)):
        if magnitude >= limit:
            return f"{seconds / size:.1f} {unit}"
    if magnitude >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.0f} ms"


def colour_for(value: float, steps: Sequence[tuple[float | None, str]]) -> str:
    """The colour of the last threshold step at or below ``value`` (Grafana's rule)."""
    chosen = steps[0][1] if steps else "blue"
    for start, colour in steps:
        if start is not None and not math.isnan(value) and value >= start:
            chosen = colour
    return COLOURS.get(chosen, chosen)


def line_chart(
    series: Sequence[Series],
    unit: str,
    steps: Sequence[tuple[float | None, str]] = (),
    width: int = 560,
    height: int = 220,
) -> str:
    """An SVG line chart; one ``<polyline>`` per series, dashed lines at thresholds."""
    left, right, top, bottom = 70, 10, 10, 24
    points = [p for s in series for p in s.points]
    if not points:
        return f'<svg width="{width}" height="{height}" class="empty"></svg>'
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    limits = [v for _, v in points] + [v for v, _ in steps if v is not None]
    v0, v1 = min(0.0, *limits), max(limits)
    if v1 == v0:
        v1 = v0 + 1.0
    t1 = t1 if t1 > t0 else t0 + 1.0

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - (v - v0) / (v1 - v0)) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    plot_width, plot_height = width - left - right, height - top - bottom
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" '
        'fill="#181b1f" stroke="#333"/>'
    )
    for fraction in (0.0, 0.5, 1.0):
        value = v0 + fraction * (v1 - v0)
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'class="axis">{html.escape(format_value(value, unit))}</text>'
        )
    for at, anchor in ((t0, "start"), (t1, "end")):
        clock = time.strftime("%H:%M:%S", time.localtime(at))
        parts.append(
            f'<text x="{x(at):.1f}" y="{height - 6}" text-anchor="{anchor}" class="axis">'
            f"{clock}</text>"
        )
    for start, colour in steps:
        if start is not None and v0 <= start <= v1:
            parts.append(
                f'<line x1="{left}" x2="{width - right}" y1="{y(start):.1f}" '
                f'y2="{y(start):.1f}" stroke="{COLOURS.get(colour, colour)}" '
                'stroke-dasharray="4 3"/>'
            )
    for index, s in enumerate(series):
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}">'
            f"<title>{html.escape(s.name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend_html(series: Sequence[Series], unit: str) -> str:
    rows = []
    for index, s in enumerate(series):
        last = s.points[-1][1] if s.points else math.nan
        colour = PALETTE[index % len(PALETTE)]
        rows.append(
            f'<li><span class="swatch" style="background:{colour}"></span>'
            f"{html.escape(s.name)} <b>{html.escape(format_value(last, unit))}</b></li>"
        )
    return f'<ul class="legend">{"".join(rows)}</ul>'


def table_html(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
