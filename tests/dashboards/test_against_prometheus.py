"""The boards and rules against reality: the real broker, a real worker in replay mode, a
real Prometheus scraping it every second, a real Alertmanager delivering to a webhook.

The rules are built from the example policy with every window and ``for:`` 1440x shorter
(windows at least 10 s, ``for:`` at least 3 s), so the scenario's outage
(tests/dashboards/scenario.py), played in about a minute, moves through windows meant for
hours. At the peak of the outage every
query of every panel of the three boards, every variable query and every recording rule
must return data; each alert expression must return data (REQUIRED), be empty
(FORBIDDEN) or at least be valid (the rest). The required alerts must reach Alertmanager
and the webhook, and resolve while the recovery traffic is still flowing.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from dashboards.build import ALERTMANAGER_FILE, ALERTS_FILE, RECORDING_FILE, build, write
from dashboards.config import BuildConfig
from dashboards.preview import statuses
from dashboards.queries import Prometheus, PrometheusError, panel_queries, substitute
from dashboards.queries import variable_queries as board_variables
from dashboards.timing import Timing
from deploy.localstack.install import ensure_commands
from deploy.localstack.monitoring import Monitoring, start_alertmanager, start_prometheus
from deploy.localstack.processes import free_port, stop, wait_until
from streams.cli import main
from streams.policy import load_policies
from tests.conftest import Broker, make_topics
from tests.dashboards.conftest import EXAMPLE_POLICY
from tests.dashboards.harness import Player, StandInConnector, WebhookReceiver
from tests.dashboards.scenario import Scenario
from tests.e2e.workers import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus, pytest.mark.slow]

SPEEDUP = 1440.0  # a day of production windows in a minute ...
FLOOR = 10.0  # ... but no window shorter than 10 s (rates over ten 1-s scrapes)
HOLD = 3.0  # and no for: shorter than 3 s
# Wall seconds per scenario step (5 event minutes), at least: a calm half minute first,
# so the usual mention level is known before the outage.
PERIODS = {"baseline": 1.0, "slow": 0.6, "recovery": 1.0}
PLAY_LIMIT = 150.0  # seconds; the scenario takes about 50 on an idle machine
REQUIRED = (
    "CarewatchFirstReplyBurnRatePage",
    "CarewatchFirstReplyBurnRateTicket",
    "CarewatchOldestWaitAboveTarget",
    "CarewatchFirstReplyP90AboveTarget",
    "CarewatchMentionSpike",
    "CarewatchConnectorDown",
    "CarewatchDeadLetterRate",
)
FORBIDDEN = (
    "CarewatchResolutionBurnRatePage",  # resolutions take minutes against 24-48 h targets
    "CarewatchResolutionBurnRateTicket",
    "CarewatchPipelineStalled",  # decisions keep coming
    "CarewatchConsumerLagGrowing",  # one worker keeps up
    "CarewatchWorkerDown",
)
# The spike the outage causes; on other topics the rule may catch spikes of its own.
WHERE = {"CarewatchMentionSpike": {"brand": "tele2_ru", "platform": "x", "topic": "network"}}
GRAFANA = "http://grafana.example"


def firing(prom: Prometheus) -> set[str]:
    return {s["metric"]["alertname"] for s in prom.query('ALERTS{alertstate="firing"}')}


def firing_history(
    prom: Prometheus, since: float, until: float, where: dict[str, dict[str, str]]
) -> dict[str, list[float]]:
    """Alert name -> the instants (1 s apart) at which it was firing; for the names in
    ``where``, only its series with those labels."""
    out: dict[str, set[float]] = {}
    for series in prom.query_range('ALERTS{alertstate="firing"}', since, until, 1.0):
        labels = series["metric"]
        if where.get(labels["alertname"], {}).items() <= labels.items():
            times = out.setdefault(labels["alertname"], set())
            times.update(float(t) for t, _ in series["values"])
    return {name: sorted(times) for name, times in out.items()}


def firing_series(prom: Prometheus, since: float, until: float) -> list[str]:
    out = []
    for series in prom.query_range('ALERTS{alertstate="firing"}', since, until, 1.0):
        labels = {k: v for k, v in series["metric"].items() if k not in ("__name__", "alertstate")}
        times = [float(t) - since for t, _ in series["values"]]
        out.append(f"{labels} {times[0]:.0f}-{times[-1]:.0f}")
    return sorted(out)


def alertmanager_names(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        return {a["labels"]["alertname"] for a in json.load(response)}


def evaluate_panels(
    prom: Prometheus, boards: dict[str, dict[str, object]], since: float, peak: float
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


def test_boards_and_alerts_against_a_real_prometheus(broker: Broker, tmp_path: Path) -> None:
    ensure_commands(["prometheus", "prometheus-alertmanager"], print)
    webhook = WebhookReceiver()
    book = load_policies(EXAMPLE_POLICY)
    config = BuildConfig(
        timing=Timing(speedup=SPEEDUP, floor=FLOOR, hold_floor=HOLD),
        webhook_url=webhook.url,
        grafana_url=GRAFANA,
    )
    bundle = build(config, book)
    generated = tmp_path / "generated"
    write(bundle, generated, str(EXAMPLE_POLICY), book)
    m = Monitoring(tmp_path / "monitoring", free_port(), free_port(), "1s")
    m.rules_dir.mkdir(parents=True)
    for rules in (RECORDING_FILE, ALERTS_FILE):
        shutil.copy(generated / rules, m.rules_dir / rules.name)
    (m.home / "alertmanager").mkdir(parents=True)
    shutil.copy(generated / ALERTMANAGER_FILE, m.home / "alertmanager" / "alertmanager.yml")
    records = [start_alertmanager(m), start_prometheus(m)]
    prom = Prometheus(m.prometheus_url)
    topics = make_topics(broker, partitions=2)
    sd = {"CAREWATCH_PROMETHEUS_SD_DIR": str(m.targets_dir)}
    worker = WorkerProcess(topics, tmp_path, "w1", env=sd).start()
    connector = StandInConnector(m.targets_dir)
    timings: dict[str, float] = {"start": time.time()}
    try:
        worker.wait_partitions(2)
        up = 'sum(up{job="carewatch"})'
        assert wait_until(lambda: [s["value"][1] for s in prom.query(up)] == ["2"], 30, 0.5)
        timings["ready"] = time.time()

        scenario = Scenario(time.time() - 3 * 86400, baseline=30, slow=30, recovery=30)

        def consumed(count: int) -> bool:
            samples = worker.metrics(prefix="faust_messages_received_total")
            return sum(samples.values()) >= count

        steps = scenario.steps()
        player = Player(broker.bootstrap, topics.events, steps, PERIODS, connector.step, consumed)
        since = time.time()
        played = player.start()
        am_seen: set[str] = set()
        most, peak = -1, since
        while player.finished is None:  # watch the run: Alertmanager, and the peak
            assert time.time() - since < PLAY_LIMIT, f"played {player.sent_steps} steps"
            now_firing = firing(prom) & set(REQUIRED)
            if len(now_firing) > most:
                most, peak = len(now_firing), time.time()
            am_seen |= alertmanager_names(m.alertmanager_url)
            print(
                f"{time.time() - since:5.1f} s: step {player.sent_steps}, firing {sorted(now_firing)}"
            )
            time.sleep(0.5)
        played.join()
        assert player.error is None, repr(player.error)
        timings["played"] = time.time()
        outage = (player.phase_started["slow"], player.phase_started["recovery"])
        history = firing_history(prom, since, time.time(), WHERE)
        print("every alert series:", firing_series(prom, since, time.time()))
        story = {
            name: (round(times[0] - since, 1), round(times[-1] - since, 1))
            for name, times in sorted(history.items())
        }
        print("outage from", round(outage[0] - since, 1), "to", round(outage[1] - since, 1))
        print("firing (first, last) s after the start:", story)

        # Each required alert fired during the outage and stopped while traffic flowed on.
        for name in REQUIRED:
            assert name in history, f"{name} never fired: {story}"
            first, last = history[name][0], history[name][-1]
            assert outage[0] < first < outage[1] + 10, (name, story)
            assert last < player.finished - 5, f"{name} still firing at the end: {story}"
        assert not set(FORBIDDEN) & set(history), story
        assert set(REQUIRED) <= am_seen, f"Alertmanager saw {sorted(am_seen)}"

        # Every query of every panel, every variable and every rule against the real data.
        failed, ran = evaluate_panels(prom, bundle.boards, since, peak)
        assert failed == [], "\n".join(failed)
        print(f"{ran} panel and variable queries returned data; peak at {peak - since:.1f} s")
        for group in bundle.recording:
            for rule in group.rules:
                assert prom.query(rule.expr, at=peak), f"recording rule {rule.record}: no data"
        for spec in bundle.alerts:
            if spec.name in REQUIRED:
                at = history[spec.name][len(history[spec.name]) // 2]
                assert prom.query(spec.expr, at=at), f"{spec.name} returns nothing at {at}"
            elif spec.name in FORBIDDEN:
                assert prom.query_range(spec.expr, since, time.time(), 1.0) == [], spec.name
            else:
                prom.query(spec.expr, at=peak)  # valid: Prometheus accepts it

        # Alertmanager delivered each required alert to the webhook, and its resolution.
        def delivered() -> bool:
            return all(webhook.seen(n, "firing") and webhook.seen(n, "resolved") for n in REQUIRED)

        assert wait_until(delivered, 20, 0.5), {
            n: (len(webhook.seen(n, "firing")), len(webhook.seen(n, "resolved"))) for n in REQUIRED
        }
        assert not any(webhook.seen(n, "firing") for n in FORBIDDEN)
        burn = webhook.seen("CarewatchFirstReplyBurnRatePage", "firing")[0]
        assert {"brand", "platform", "priority", "sla", "severity"} <= burn.labels.keys()
        assert burn.annotations["summary"].startswith("first_reply deadlines of ")
        link = burn.annotations["dashboard"]
        assert link.startswith(f"{GRAFANA}/d/carewatch-on-call/on-call?var-brand=")
        assert f"var-brand={burn.labels['brand']}" in link
        assert burn.receiver == "carewatch-page"

        # The care floor board as a picture, from the same Prometheus.
        page = tmp_path / "care-floor.html"
        argv = ["dashboards", "preview", "--prometheus", m.prometheus_url, "--out", str(page)]
        argv += ["--range", "3m", "--scrape-interval", "1", "--policy", str(EXAMPLE_POLICY)]
        assert main(argv) == 0
        panels = statuses(page.read_text())
        assert len(panels) == sum(
            1 for p in bundle.boards["care-floor"]["panels"] if p["type"] != "row"
        )
        assert all(status == "ok" and series > 0 for _, status, series in panels), panels
        timings["checked"] = time.time()
    finally:
        worker.kill(signal.SIGKILL)  # nothing of its state is needed; Faust's stop can hang
        connector.close()
        for record in records:
            stop(record)
        webhook.close()
        timings["end"] = time.time()
        t0 = timings["start"]
        print("timings (s from start):", {k: round(v - t0, 1) for k, v in timings.items()})
