"""Watching a run from outside: what Prometheus says fired when, what Alertmanager holds,
and every panel query of the boards evaluated against the real data."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from dashboards.queries import Prometheus, PrometheusError, panel_queries, substitute
from dashboards.queries import variable_queries as board_variables

FIRING = 'ALERTS{alertstate="firing"}'


def firing(prom: Prometheus) -> set[str]:
    return {s["metric"]["alertname"] for s in prom.query(FIRING)}


def firing_history(
    prom: Prometheus, since: float, until: float, where: dict[str, dict[str, str]]
) -> dict[str, list[float]]:
    """Alert name -> the instants (1 s apart) at which it was firing; for the names in
    ``where``, only its series with those labels."""
    out: dict[str, set[float]] = {}
    for series in prom.query_range(FIRING, since, until, 1.0):
        labels = series["metric"]
        if where.get(labels["alertname"], {}).items() <= labels.items():
            times = out.setdefault(labels["alertname"], set())
            times.update(float(t) for t, _ in series["values"])
    return {name: sorted(times) for name, times in out.items()}


def firing_series(prom: Prometheus, since: float, until: float) -> list[str]:
    """Every alert series that fired, with its labels and seconds after ``since``."""
    out = []
    for series in prom.query_range(FIRING, since, until, 1.0):
        labels = {k: v for k, v in series["metric"].items() if k not in ("__name__", "alertstate")}
        times = [float(t) - since for t, _ in series["values"]]
        out.append(f"{labels} {times[0]:.0f}-{times[-1]:.0f}")
    return sorted(out)


def alertmanager_names(url: str) -> set[str]:
    """Alert names Alertmanager holds now (active, silenced or inhibited)."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        return {a["labels"]["alertname"] for a in json.load(response)}


def evaluate_panels(
    prom: Prometheus, boards: dict[str, dict[str, Any]], since: float, peak: float
) -> tuple[list[str], int]:
    """Every panel query (range queries over the run, instant ones at the peak) and every
    variable query; returns what had no data, and how many queries ran."""
    now = time.time()
    failed = []
    ran = 0
    span = f"{int(peak - since) + 5}s"
    for slug, model in boards.items():
        for q in panel_queries(model):
            ran += 1
            expr = substitute(q.expr, rate_interval="4s", range_=span, interval="1s")
            try:
                if q.instant:
                    result = prom.query(expr, at=peak)
                else:
                    result = prom.query_range(expr, since, now, 1.0)
            except PrometheusError as error:
                failed.append(f"{slug} / {q.title} / {q.ref}: {error}")
                continue
            if not result:
                failed.append(f"{slug} / {q.title} / {q.ref}: no data\n{expr}")
        for name, query in board_variables(model).items():
            ran += 1
            if not prom.label_values(query):
                failed.append(f"{slug} / variable {name}: no values")
    return failed, ran
