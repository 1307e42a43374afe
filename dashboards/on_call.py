"""The on-call board: is an SLO burning, how much budget is left, what is about to breach.

One row per SLO (each SLA the policy file sets a target for): burn rate over the alert
windows, error budget left over 30 days, and the share met. Then the leading indicators
(oldest wait against its target, warnings) and the alerts firing now.
"""

from __future__ import annotations

from dashboards import recording as rec
from dashboards.alerts import BURN_RATES
from dashboards.care_floor import WAIT_RATIO, WAIT_RATIO_STEPS
from dashboards.catalog import prometheus
from dashboards.config import ON_CALL, BuildConfig
from dashboards.panels import BPP, GREEN, ORANGE, RED, Board, Query
from dashboards.targets import slas
from streams.policy import PolicyBook

ALERT_LABELS = "alertname, severity, brand, platform, priority, sla"


def error_ratio(sla: str, window: str) -> str:
    """Breached of decided over ``window``, for the selected brands/platforms/priorities."""
    rate = rec.decisions_rate(window)
    breached = f'sum({rate}{{sla="{sla}",outcome="breached",{BPP}}})'
    decided = f'sum({rate}{{sla="{sla}",outcome=~"met|breached",{BPP}}})'
    return f"({breached} or vector(0))\n/\n{decided}"


def on_call(config: BuildConfig, book: PolicyBook) -> Board:
    board = Board(
        ON_CALL,
        "carewatch: on-call",
        f"SLO: {config.objective:.4g} of SLA deadlines met over 30 days, per SLA. Burn rate "
        "1 spends the budget in exactly 30 days; the page alerts fire at 14.4 (1h) and 6 "
        "(6h), the tickets at 3 (1d) and 1 (3d), each confirmed by a short window.",
    )
    for sla in slas(book):
        _slo_row(board, config, sla)
    _leading(board)
    _alerts(board)
    return board


def _slo_row(board: Board, config: BuildConfig, sla: str) -> None:
    budget = config.error_budget
    windows = ["5m", "1h", "6h", "3d"]
    board.row(f"SLO: {sla}")
    colours = {1.0: "yellow", 3.0: ORANGE, 6.0: "dark-orange", 14.4: RED}
    burns = sorted(burn for _, pairs, _ in BURN_RATES for _, _, burn in pairs)
    burn_steps = [(None, GREEN), *((burn, colours.get(burn, RED)) for burn in burns)]
    board.timeseries(
        f"{sla}: burn rate",
        f"Share of {sla} deadlines breached over each window, divided by the error budget "
        f"({budget:.4g}). The dashed lines are the alerts' burn rates.",
        [Query(f"{error_ratio(sla, w)}\n/ {budget:g}", w) for w in windows],
        unit="short",
        steps=burn_steps,
    )
    board.stat(
        f"{sla}: error budget left (30 days)",
        "1 - (breached share over 30 days) / budget. Below 0 the 30-day objective is lost.",
        [Query(f"1 - (\n{error_ratio(sla, '30d')}\n) / {budget:g}")],
        unit="percentunit",
        steps=((None, RED), (0.0, ORANGE), (0.25, GREEN)),
        decimals=1,
    )
    board.stat(
        f"{sla}: deadlines met (30 days)",
        f"Share of {sla} deadlines met over 30 days; green from the objective.",
        [Query(f"1 - (\n{error_ratio(sla, '30d')}\n)")],
        unit="percentunit",
        steps=((None, RED), (config.objective, GREEN)),
        decimals=2,
    )


def _leading(board: Board) -> None:
    board.row("Leading indicators")
    board.timeseries(
        "Oldest wait against its target",
        "Rises while nobody answers, before any deadline is decided; 100 % = breached.",
        [Query(WAIT_RATIO, "{{brand}}/{{platform}}/{{priority}}")],
        unit="percentunit",
        steps=WAIT_RATIO_STEPS,
    )
    rate = rec.decisions_rate("5m")
    board.timeseries(
        "Warnings and breaches per minute",
        "A warning comes warn_before ahead of a deadline (policy file); warnings that keep "
        "coming are breaches on their way.",
        [
            Query(
                f'sum by (sla, outcome) (60 * {rate}{{outcome=~"warning|breached",{BPP}}})',
                "{{sla}} {{outcome}}",
            )
        ],
        unit="cpm",
    )


def _alerts(board: Board) -> None:
    alerts = prometheus("ALERTS")
    firing = f'{alerts}{{alertstate="firing",alertname=~"Carewatch.*"}}'
    board.row("Alerts")
    board.table(
        "Alerts firing now",
        "carewatch's alerts as Prometheus evaluates them (Alertmanager routes them).",
        [Query(f"sum by ({ALERT_LABELS}) ({firing})", table=True)],
        columns={"Value #A": "series"},
        units={},
        width=12,
    )
    board.timeseries(
        "Alerts over time",
        "Firing alert series by name.",
        [Query(f"count by (alertname, severity) ({firing})", "{{alertname}} ({{severity}})")],
        unit="short",
    )
