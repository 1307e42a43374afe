"""The demo board's arithmetic: summing workers, the p90 from buckets, the summary line."""

from __future__ import annotations

import math

import pytest
from rich.console import Console

from deploy.demo_board import Floor, board, duration, p90_first_reply, quantile, summary_line


def labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = [(60.0, 10.0), (300.0, 50.0), (900.0, 90.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(300 + 600 * (50 - 50) / 40)
    assert quantile(0.9, buckets) == pytest.approx(900.0)
    assert quantile(0.7, buckets) == pytest.approx(300 + 600 * (70 - 50) / 40)
    assert quantile(0.05, buckets) == pytest.approx(30.0)
    assert quantile(0.99, buckets) == 900.0  # in the +Inf bucket: its lower bound
    assert quantile(0.9, []) is None
    assert quantile(0.9, [(60.0, 0.0), (math.inf, 0.0)]) is None


def floor() -> Floor:
    f = Floor(workers=2, workers_up=2, simulator={"start": 0.0, "sim_time": 5400.0, "events": 9})
    s = f.samples
    for brand, le, n in (("du", "60.0", 1.0), ("du", "900.0", 10.0), ("du", "+Inf", 10.0)):
        s[("carewatch_first_reply_seconds_bucket", labels(brand=brand, le=le, priority="high"))] = n
    s[("carewatch_sla_decisions_total", labels(brand="du", outcome="met"))] = 9.0
    s[("carewatch_sla_decisions_total", labels(brand="du", outcome="breached"))] = 1.0
    s[("carewatch_events_total", labels(brand="du", kind="message"))] = 30.0
    s[("carewatch_mentions_total", labels(brand="du", topic="billing", lang="ar"))] = 12.0
    s[("carewatch_cases_open", labels(brand="du", platform="x", priority="high"))] = 3.0
    s[("carewatch_cases_awaiting_reply", labels(brand="du", platform="x", priority="high"))] = 2.0
    s[("carewatch_oldest_awaiting_seconds", labels(brand="du", platform="x", priority="high"))] = (
        4000
    )
    s[("carewatch_oldest_awaiting_seconds", labels(brand="du", platform="x", priority="low"))] = 60
    return f


def test_the_summary_line_carries_the_steady_state_figures() -> None:
    line = summary_line(floor(), 12.0)
    for part in ("t=12s", "sim=+90m", "sent=9", "workers=2/2", "events=30", "decisions=10",
                 "mentions=12", "waiting=2", "oldest=67m", "met=90%", "alerts=0"):  # fmt: skip
        assert part in line.split(), part


def test_p90_and_grouping_over_labels() -> None:
    f = floor()
    assert p90_first_reply(f, "du") == pytest.approx(60 + 840 * (9 - 1) / 9)
    assert p90_first_reply(f, "tele2_ru") is None
    assert f.by("carewatch_oldest_awaiting_seconds", "brand", "platform") == {("du", "x"): 4000}
    assert duration(None) == "-"
    assert duration(90) == "90s"
    assert duration(7200) == "2.0h"


def test_the_board_renders() -> None:
    console = Console(width=160, record=True)
    f = floor()
    f.alertmanager_up = True
    f.alerts = [{"labels": {"alertname": "CarewatchOldestWaitAboveTarget", "brand": "du"},
                 "startsAt": "2026-11-22T01:00:00Z", "status": {"state": "active"}}]  # fmt: skip
    console.print(board(f, 3.0, "header", "footer"))
    text = console.export_text()
    for part in ("Waiting now", "67m", "90%", "billing", "ar", "CarewatchOldestWaitAboveTarget"):
        assert part in text, part
