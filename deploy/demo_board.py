"""The demo's care-floor board: what the workers' ``/metrics`` and Alertmanager say now.

:func:`read_floor` scrapes every worker and sums what they export (each partition has
one owner, so the case gauges add up; the oldest wait is the maximum) and asks
Alertmanager for the alerts firing. :func:`board` draws it with rich for a terminal;
:func:`summary_line` is the one plain line per second written when stdout is not one.
Reading never raises for a worker or an Alertmanager that does not answer: it counts
what it could read.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]
_MAX_SERIES = ("carewatch_oldest_awaiting_seconds",)


@dataclass
class Floor:
    """One reading of the care floor."""

    samples: Samples = field(default_factory=dict)
    workers_up: int = 0
    workers: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alertmanager_up: bool = False
    simulator: Mapping[str, Any] = field(default_factory=dict)

    def total(self, name: str, **match: str) -> float:
        return sum(
            v for (n, labels), v in self.samples.items() if n == name and _has(labels, match)
        )

    def by(self, name: str, *keys: str, **match: str) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = defaultdict(float)
        for (n, labels), value in self.samples.items():
            if n == name and _has(labels, match):
                d = dict(labels)
                key = tuple(d.get(k, "") for k in keys)
                out[key] = max(out[key], value) if name in _MAX_SERIES else out[key] + value
        return dict(out)


def _has(labels: Labels, match: Mapping[str, str]) -> bool:
    d = dict(labels)
    return all(d.get(k) == v for k, v in match.items())


def _get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return None


def read_floor(
    metrics_urls: Sequence[str], alertmanager_url: str, simulator: Mapping[str, Any]
) -> Floor:
    floor = Floor(workers=len(metrics_urls), simulator=simulator)
    for url in metrics_urls:
        body = _get(url)
        if body is None:
            continue
        floor.workers_up += 1
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                if not s.name.startswith("carewatch_"):
                    continue
                key = (s.name, tuple(sorted(s.labels.items())))
                before = floor.samples.get(key)
                if before is None:
                    floor.samples[key] = s.value
                elif s.name in _MAX_SERIES:
                    floor.samples[key] = max(before, s.value)
                else:
                    floor.samples[key] = before + s.value
    alerts = _get(f"{alertmanager_url}/api/v2/alerts?active=true&silenced=false")
    if alerts is not None:
        floor.alertmanager_up = True
        floor.alerts = [
            a for a in json.loads(alerts) if a.get("status", {}).get("state") == "active"
        ]
    return floor


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` pairs."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def p90_first_reply(floor: Floor, brand: str) -> float | None:
    counts = floor.by("carewatch_first_reply_seconds_bucket", "le", brand=brand)
    return quantile(0.9, ((float(le), n) for (le,), n in counts.items()))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def share_met(floor: Floor, **match: str) -> float | None:
    met = floor.total("carewatch_sla_decisions_total", outcome="met", **match)
    breached = floor.total("carewatch_sla_decisions_total", outcome="breached", **match)
    return met / (met + breached) if met + breached else None


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def summary_line(floor: Floor, elapsed: float) -> str:
    """One plain line: the figures a steady state is judged by."""
    sim = floor.simulator
    return (
        f"t={elapsed:.0f}s sim=+{duration(sim.get('sim_time', 0) - sim.get('start', 0))} "
        f"sent={sim.get('events', 0)} workers={floor.workers_up}/{floor.workers} "
        f"events={floor.total('carewatch_events_total'):.0f} "
        f"decisions={floor.total('carewatch_sla_decisions_total'):.0f} "
        f"mentions={floor.total('carewatch_mentions_total'):.0f} "
        f"waiting={floor.total('carewatch_cases_awaiting_reply'):.0f} "
        f"oldest={duration(max(floor.by('carewatch_oldest_awaiting_seconds').values(), default=0))} "
        f"met={_percent(share_met(floor))} alerts={len(floor.alerts)}"
    )


def _waiting_table(floor: Floor) -> Table:
    table = Table("brand", "platform", "open", "waiting", "oldest wait", title="Waiting now")
    opened = floor.by("carewatch_cases_open", "brand", "platform")
    waiting = floor.by("carewatch_cases_awaiting_reply", "brand", "platform")
    oldest = floor.by("carewatch_oldest_awaiting_seconds", "brand", "platform")
    rows = sorted(opened, key=lambda k: -oldest.get(k, 0.0))
    for key in rows[:12]:
        age = oldest.get(key, 0.0)
        style = "red" if age >= 3600 else ("yellow" if age >= 900 else "")
        table.add_row(*key, f"{opened[key]:.0f}", f"{waiting.get(key, 0):.0f}",
                      Text(duration(age), style=style))  # fmt: skip
    return table


def _deadline_table(floor: Floor) -> Table:
    table = Table("brand", "met", "breached", "warnings", "share met", "p90 first reply",
                  title="Deadlines since start")  # fmt: skip
    outcomes = floor.by("carewatch_sla_decisions_total", "brand", "outcome")
    for (brand,) in sorted(floor.by("carewatch_events_total", "brand")):
        share = share_met(floor, brand=brand)
        style = "red" if share is not None and share < 0.9 else ""
        table.add_row(
            brand,
            f"{outcomes.get((brand, 'met'), 0):.0f}",
            f"{outcomes.get((brand, 'breached'), 0):.0f}",
            f"{outcomes.get((brand, 'warning'), 0):.0f}",
            Text(_percent(share), style=style),
            duration(p90_first_reply(floor, brand)),
        )
    return table


def _volume_table(floor: Floor, label: str) -> Table:
    table = Table(label, "messages", title=f"Volume by {label}")
    for (value,), n in sorted(
        floor.by("carewatch_mentions_total", label).items(), key=lambda kv: -kv[1]
    ):
        table.add_row(value, f"{n:.0f}")
    return table


def _alerts_panel(floor: Floor) -> Panel:
    if not floor.alertmanager_up:
        return Panel("Alertmanager does not answer", title="Alerts", border_style="yellow")
    if not floor.alerts:
        return Panel("none firing", title="Alerts", border_style="green")
    table = Table("alert", "brand", "platform", "severity", "since")
    for alert in floor.alerts[:10]:
        labels = alert.get("labels", {})
        table.add_row(labels.get("alertname", "?"), labels.get("brand", ""),
                      labels.get("platform", ""), labels.get("severity", ""),
                      str(alert.get("startsAt", ""))[11:19])  # fmt: skip
    return Panel(table, title=f"Alerts firing: {len(floor.alerts)}", border_style="red")


def board(floor: Floor, elapsed: float, header: str, footer: str) -> Group:
    """The whole board as one rich renderable."""
    tables = Table.grid(padding=(0, 2))
    tables.add_row(_waiting_table(floor), _deadline_table(floor))
    volumes = Table.grid(padding=(0, 2))
    volumes.add_row(
        _volume_table(floor, "topic"), _volume_table(floor, "lang"), _alerts_panel(floor)
    )
    return Group(
        Text(header, style="bold"),
        Text(summary_line(floor, elapsed), style="dim"),
        tables,
        volumes,
        Text(footer, style="dim"),
    )
