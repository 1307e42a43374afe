"""The boards and rules against reality: the real broker, a real worker in replay mode, a
real Prometheus scraping it every second, a real Alertmanager delivering to a webhook.

The rules are built from the example policy with every window and ``for:`` 1440x shorter
(windows at least 10 s, ``for:`` at least 3 s), so the scenario's outage
(tests/dashboards/scenario.py), played in about a minute, moves through windows meant for
hours. Then, against the data Prometheus holds:

* every panel query of the three boards returns data (range queries over the run,
  instant ones at the peak of the outage), and so does every variable query and every
  recording rule (at the peak); the one panel not on Prometheus, the care floor's list of
  waiting cases (on the workers' HTTP view), is skipped by its data source type and
  checked by test_waiting.py;
* each REQUIRED alert fired during the outage (its expression returns data at a moment it
  fired), reached Alertmanager and the webhook, and resolved while the recovery traffic
  still flowed; each FORBIDDEN alert's expression is empty over the whole run; the rest
  (the next reply burn-rate alerts, which usually fire too) are at least valid;
* ``carewatch dashboards preview`` draws every care floor panel on Prometheus with data.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dashboards.build import ALERTMANAGER_FILE, ALERTS_FILE, RECORDING_FILE, Bundle, build, write
from dashboards.config import BuildConfig
from dashboards.preview import statuses
from dashboards.queries import Prometheus, other_panels
from dashboards.timing import Timing
from dashboards.waiting import TITLE as WAITING_TITLE
from deploy.localstack.install import ensure_commands
from deploy.localstack.monitoring import Monitoring, start_alertmanager, start_prometheus
from deploy.localstack.processes import free_port, stop, wait_until
from streams.cli import main
from streams.policy import load_policies
from tests.conftest import Broker, make_topics
from tests.dashboards.conftest import EXAMPLE_POLICY
from tests.dashboards.harness import Player, StandInConnector, WebhookReceiver
from tests.dashboards.observe import (
    alertmanager_names,
    evaluate_panels,
    firing,
    firing_history,
    firing_series,
)
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
WHERE = {
    "CarewatchMentionSpike": {"brand": "tele2_ru", "platform": "x", "topic": "network_quality"}
}
GRAFANA = "http://grafana.example"


@dataclass
class Rig:
    """A worker on its own topics, scraped by its own Prometheus, alerting through its
    own Alertmanager to a webhook, beside a stand-in connector."""

    bundle: Bundle
    monitoring: Monitoring
    prom: Prometheus
    webhook: WebhookReceiver
    worker: WorkerProcess
    connector: StandInConnector
    events_topic: str


@dataclass
class Run:
    player: Player
    since: float
    peak: float  # when the most required alerts fired at once
    alertmanager_saw: set[str]
    history: dict[str, list[float]] = field(default_factory=dict)
    story: dict[str, tuple[float, float]] = field(default_factory=dict)


@contextmanager
def rig(broker: Broker, tmp_path: Path, timings: dict[str, float]) -> Iterator[Rig]:
    ensure_commands(["prometheus", "prometheus-alertmanager"], print)
    webhook = WebhookReceiver()
    book = load_policies(EXAMPLE_POLICY)
    timing = Timing(speedup=SPEEDUP, floor=FLOOR, hold_floor=HOLD)
    config = BuildConfig(timing=timing, webhook_url=webhook.url, grafana_url=GRAFANA)
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
    topics = make_topics(broker, partitions=2)
    env = {
        "CAREWATCH_PROMETHEUS_SD_DIR": str(m.targets_dir),  # scraped by this Prometheus
        # Closed cases kept two event hours, not seven days: every clock marker rewrites
        # every kept case, and the scenario sends hundreds of markers.
        "CAREWATCH_RETENTION": "7200",
    }
    worker = WorkerProcess(topics, tmp_path, "w1", env=env).start()
    connector = StandInConnector(m.targets_dir)
    prom = Prometheus(m.prometheus_url)
    try:
        worker.wait_partitions(2)
        up = 'sum(up{job="carewatch"})'  # the worker and the connector
        assert wait_until(lambda: [s["value"][1] for s in prom.query(up)] == ["2"], 30, 0.5)
        timings["ready"] = time.time()
        yield Rig(bundle, m, prom, webhook, worker, connector, topics.events)
    finally:
        worker.kill(signal.SIGKILL)  # nothing of its state is needed; Faust's stop can hang
        connector.close()
        for record in records:
            stop(record)
        webhook.close()


def play(r: Rig, bootstrap: str) -> Run:
    """The scenario, step by step; meanwhile, what fires and what Alertmanager holds."""
    scenario = Scenario(time.time() - 3 * 86400, baseline=30, slow=30, recovery=30)

    def consumed(count: int) -> bool:
        samples = r.worker.metrics(prefix="faust_messages_received_total")
        return sum(samples.values()) >= count

    steps = scenario.steps()
    player = Player(bootstrap, r.events_topic, steps, PERIODS, r.connector.step, consumed)
    run = Run(player, time.time(), time.time(), set())
    thread = player.start()
    most = -1
    while player.finished is None:
        assert time.time() - run.since < PLAY_LIMIT, f"played {player.sent_steps} steps"
        now_firing = firing(r.prom) & set(REQUIRED)
        if len(now_firing) > most:
            most, run.peak = len(now_firing), time.time()
        run.alertmanager_saw |= alertmanager_names(r.monitoring.alertmanager_url)
        print(f"{time.time() - run.since:5.1f} s: step {player.sent_steps}, {sorted(now_firing)}")
        time.sleep(0.5)
    thread.join()
    assert player.error is None, repr(player.error)
    run.history = firing_history(r.prom, run.since, time.time(), WHERE)
    run.story = {
        name: (round(times[0] - run.since, 1), round(times[-1] - run.since, 1))
        for name, times in sorted(run.history.items())
    }
    print("every alert series:", firing_series(r.prom, run.since, time.time()))
    return run


def check_the_story(run: Run) -> None:
    """Each required alert fired during the outage and stopped while traffic flowed on."""
    started = run.player.phase_started
    outage = (started["slow"], started["recovery"])
    print("outage from", round(outage[0] - run.since, 1), "to", round(outage[1] - run.since, 1))
    print("firing (first, last) s after the start:", run.story)
    assert run.player.finished is not None
    for name in REQUIRED:
        assert name in run.history, f"{name} never fired: {run.story}"
        first, last = run.history[name][0], run.history[name][-1]
        assert outage[0] < first < outage[1] + 10, (name, run.story)
        assert last < run.player.finished - 5, f"{name} still firing at the end: {run.story}"
    assert not set(FORBIDDEN) & set(run.history), run.story
    assert set(REQUIRED) <= run.alertmanager_saw, f"Alertmanager saw {run.alertmanager_saw}"


def check_every_query(r: Rig, run: Run) -> None:
    """Every query of every panel, every variable and every rule, on the real data."""
    skipped = {(slug, p["title"]) for slug, m in r.bundle.boards.items() for p in other_panels(m)}
    # no PromQL: on the workers' /cases/waiting, checked by tests/dashboards/test_waiting.py
    assert skipped == {("care-floor", WAITING_TITLE)}
    failed, ran = evaluate_panels(r.prom, r.bundle.boards, run.since, run.peak)
    assert failed == [], "\n".join(failed)
    print(f"{ran} panel and variable queries returned data; peak at {run.peak - run.since:.1f} s")
    for group in r.bundle.recording:
        for rule in group.rules:
            assert r.prom.query(rule.expr, at=run.peak), f"recording rule {rule.record}: no data"
    for spec in r.bundle.alerts:
        if spec.name in REQUIRED:
            at = run.history[spec.name][len(run.history[spec.name]) // 2]
            assert r.prom.query(spec.expr, at=at), f"{spec.name} returns nothing at {at}"
        elif spec.name in FORBIDDEN:
            assert r.prom.query_range(spec.expr, run.since, time.time(), 1.0) == [], spec.name
        else:
            r.prom.query(spec.expr, at=run.peak)  # valid: Prometheus accepts it


def check_the_webhook(webhook: WebhookReceiver) -> None:
    """Alertmanager delivered each required alert, and its resolution, with its labels,
    summary and board link."""

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


def check_the_preview(r: Rig, tmp_path: Path) -> None:
    """The care floor board as a picture, from the same Prometheus."""
    page = tmp_path / "care-floor.html"
    argv = ["dashboards", "preview", "--prometheus", r.monitoring.prometheus_url]
    argv += ["--out", str(page), "--range", "3m", "--scrape-interval", "1"]
    assert main([*argv, "--policy", str(EXAMPLE_POLICY)]) == 0
    panels = statuses(page.read_text())
    board = r.bundle.boards["care-floor"]["panels"]
    assert len(panels) == sum(1 for p in board if p["type"] != "row")
    drawn = [(t, status, series) for t, status, series in panels if t != WAITING_TITLE]
    assert all(status == "ok" and series > 0 for _, status, series in drawn), panels
    assert (WAITING_TITLE, "skipped", 0) in panels  # the workers' list is not in Prometheus


def test_boards_and_alerts_against_a_real_prometheus(broker: Broker, tmp_path: Path) -> None:
    timings = {"start": time.time()}
    try:
        with rig(broker, tmp_path, timings) as r:
            run = play(r, broker.bootstrap)
            timings["played"] = time.time()
            check_the_story(run)
            check_every_query(r, run)
            check_the_webhook(r.webhook)
            check_the_preview(r, tmp_path)
            timings["checked"] = time.time()
    finally:
        t0 = timings["start"]
        print("timings (s from start):", {k: round(v - t0, 1) for k, v in timings.items()})
