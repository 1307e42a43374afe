"""Every carewatch alert, once: the source of both the Prometheus rule files and the
Grafana alerting provisioning (dashboards/rules.py, dashboards/grafana_alerting.py).

Thresholds come from the policy file (targets, through the recorded
``carewatch:sla_target_seconds``) and :class:`BuildConfig` (the SLO objective, spike and
dead-letter limits); series names from :mod:`dashboards.catalog`; windows and ``for:``
durations from :class:`~dashboards.timing.Timing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards import recording as rec
from dashboards.catalog import carewatch, prometheus
from dashboards.config import CARE_FLOOR, ON_CALL, PIPELINE, BuildConfig
from dashboards.targets import ALWAYS, slas
from dashboards.timing import HOUR, MINUTE
from streams.policy import PolicyBook

PAGE = "page"
TICKET = "ticket"
BOARD_VARIABLES = ("brand", "platform", "priority")

# (severity, ((long window, short window, burn rate), ...), for): the SRE workbook's
# recommended multiwindow, multi-burn-rate alerts for a 30-day budget.
BURN_RATES = (
    (PAGE, (("1h", "5m", 14.4), ("6h", "30m", 6.0)), 2 * MINUTE),
    (TICKET, (("1d", "2h", 3.0), ("3d", "6h", 1.0)), 15 * MINUTE),
)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    name: str
    group: str
    expr: str
    for_seconds: float
    severity: str
    labels: tuple[str, ...]  # the labels every firing series of ``expr`` carries
    summary: str  # Go template: {{ $labels.x }} only, so Grafana reads it too
    description: str
    board: tuple[str, str]
    panel: str  # the panel title on ``board`` that shows what the alert watches


def camel(sla: str) -> str:
    return "".join(part.title() for part in sla.split("_"))


def _where(labels: tuple[str, ...]) -> str:
    shown = [f"{{{{ $labels.{label} }}}}" for label in BOARD_VARIABLES if label in labels]
    return "/".join(shown)


def alert_specs(config: BuildConfig, book: PolicyBook) -> list[AlertSpec]:
    return [
        *_burn_rate_alerts(config, book),
        *_care_alerts(config, book),
        *_pipeline_alerts(config, book),
    ]


def _burn_rate_alerts(config: BuildConfig, book: PolicyBook) -> list[AlertSpec]:
    specs = []
    budget = config.error_budget
    labels = (*rec.BPP, "sla")
    for sla in slas(book):
        for severity, windows, for_seconds in BURN_RATES:
            branches = []
            for long, short, burn in windows:
                limit = f"{burn * budget:.6g}"
                branches.append(
                    f'  {rec.error_ratio(long)}{{sla="{sla}"}} > {limit}\n'
                    f"and\n"
                    f'  {rec.error_ratio(short)}{{sla="{sla}"}} > {limit}'
                )
            rates = " or ".join(f"{burn:g}x" for _, _, burn in windows)
            specs.append(
                AlertSpec(
                    name=f"Carewatch{camel(sla)}BurnRate{severity.title()}",
                    group="carewatch-slo",
                    expr="(\n" + "\n)\nor\n(\n".join(branches) + "\n)",
                    for_seconds=for_seconds,
                    severity=severity,
                    labels=labels,
                    summary=f"{sla} deadlines of {_where(labels)} breached {rates} faster "
                    f"than the {config.objective:.4g} objective allows",
                    description=f"Share of {sla} deadlines breached over the long window "
                    "{{ $value | humanizePercentage }}; at this pace the 30-day error budget "
                    f"({budget:.4g} of deadlines) is gone early. Windows: "
                    + ", ".join(f"{long}/{short}" for long, short, _ in windows),
                    board=ON_CALL,
                    panel=f"{sla}: burn rate",
                )
            )
    return specs


def _care_alerts(config: BuildConfig, book: PolicyBook) -> list[AlertSpec]:
    t = config.timing
    specs = []
    bpp = rec.BPP
    on = f"on ({rec.BY_BPP})"
    if any(s in slas(book) for s in ("first_reply", "next_reply")):
        oldest = carewatch("carewatch_oldest_awaiting_seconds")
        specs.append(
            AlertSpec(
                name="CarewatchOldestWaitAboveTarget",
                group="carewatch-care",
                expr=f"max by ({rec.BY_BPP}) ({oldest})\n> {on}\n"
                f'{rec.AWAITING_TARGET}{{calendar="{ALWAYS}"}}',
                for_seconds=MINUTE,
                severity=PAGE,
                labels=bpp,
                summary=f"A customer of {_where(bpp)} has waited longer than the reply target",
                description="The oldest unanswered message is {{ $value | humanizeDuration }} "
                "old. This fires even when nobody answers at all (no reply, no decision yet).",
                board=CARE_FLOOR,
                panel="Oldest wait against target",
            )
        )
    if "first_reply" in slas(book):
        specs.append(
            AlertSpec(
                name="CarewatchFirstReplyP90AboveTarget",
                group="carewatch-care",
                expr=f"histogram_quantile(0.9, {rec.bucket_rate('first_reply', '10m')})\n"
                f'> {on}\n{rec.TARGET}{{sla="first_reply",calendar="{ALWAYS}"}}',
                for_seconds=10 * MINUTE,
                severity=TICKET,
                labels=bpp,
                summary=f"p90 first reply time of {_where(bpp)} is above its target",
                description="90 % of first replies in the last 10 minutes took up to "
                "{{ $value | humanizeDuration }}, more than the policy's first reply target.",
                board=CARE_FLOOR,
                panel="First reply p50 / p90 by platform",
            )
        )
    spike_labels = ("brand", "platform", "topic")
    usual = (
        f"avg_over_time({rec.MENTIONS_RATE}[{t.window(24 * HOUR)}] offset {t.window(10 * MINUTE)})"
    )
    specs.append(
        AlertSpec(
            name="CarewatchMentionSpike",
            group="carewatch-care",
            expr=f"{rec.MENTIONS_RATE} > {config.spike_factor:g} * {usual}\n"
            f"and\n{rec.MENTIONS_RATE} > {config.spike_min_per_second:g}",
            for_seconds=5 * MINUTE,
            severity=PAGE,
            labels=spike_labels,
            summary=f"Mentions about {{{{ $labels.topic }}}} on {_where(spike_labels)} spike "
            f"above {config.spike_factor:g}x their usual rate",
            description="{{ $value | humanize }} messages a second in the last 10 minutes, "
            "against the average of the day before; a network failure looks like this.",
            board=CARE_FLOOR,
            panel="Volume by topic",
        )
    )
    return specs


def _pipeline_alerts(config: BuildConfig, book: PolicyBook) -> list[AlertSpec]:
    t = config.timing
    events = carewatch("carewatch_events_total")
    rejected = carewatch("carewatch_events_rejected_total")
    decisions = carewatch("carewatch_sla_decisions_total")
    longest = max((p.targets.first_reply or 0.0 for p in book.policies().values()), default=HOUR)
    stall = t.window(max(2 * longest, 15 * MINUTE))
    dl = t.window(10 * MINUTE)
    return [
        AlertSpec(
            name="CarewatchPipelineStalled",
            group="carewatch-pipeline",
            expr=f'sum(rate({events}{{kind="message"}}[{stall}])) > 0\n'
            f"unless\nsum(increase({decisions}[{stall}])) > 0",
            for_seconds=15 * MINUTE,
            severity=PAGE,
            labels=(),
            summary="Customer messages arrive but no SLA deadline has been decided",
            description=f"Messages were processed in the last {stall} (twice the longest "
            "first reply target) and not one deadline met, breached or warned: the stream "
            "clock or the decision path is stuck.",
            board=PIPELINE,
            panel="Events per second per worker",
        ),
        AlertSpec(
            name="CarewatchConsumerLagGrowing",
            group="carewatch-pipeline",
            expr=f"{rec.CONSUMER_LAG} > {config.lag_min_messages:g}\nand\n"
            f"deriv({rec.CONSUMER_LAG}[{t.window(10 * MINUTE)}]) > 0",
            for_seconds=10 * MINUTE,
            severity=TICKET,
            labels=("topic", "partition"),
            summary="Consumer lag on {{ $labels.topic }}[{{ $labels.partition }}] keeps growing",
            description="{{ $value | humanize }} messages behind and rising: add workers "
            "(up to the partition count) or look for a slow worker.",
            board=PIPELINE,
            panel="Consumer lag per partition",
        ),
        AlertSpec(
            name="CarewatchConnectorDown",
            group="carewatch-pipeline",
            expr=_connector_down(config),
            for_seconds=5 * MINUTE,
            severity=PAGE,
            labels=("connector",),
            summary="Connector {{ $labels.connector }} is down or not connected to its source",
            description="No events come from this source while it is down: it lost its "
            "source, or its process does not answer Prometheus' scrapes (job "
            f"{config.connectors_job}). Its errors and targets are on the pipeline board.",
            board=PIPELINE,
            panel="Connectors up",
        ),
        AlertSpec(
            name="CarewatchDeadLetterRate",
            group="carewatch-pipeline",
            expr=f"sum(rate({rejected}[{dl}]))\n/\n"
            f"(sum(rate({events}[{dl}])) + sum(rate({rejected}[{dl}])))\n"
            f"> {config.deadletter_share:g}",
            for_seconds=10 * MINUTE,
            severity=TICKET,
            labels=(),
            summary=f"More than {config.deadletter_share:.2%} of events go to the dead letters",
            description="{{ $value | humanizePercentage }} of the events of the last 10 "
            "minutes were invalid; the reasons are on the pipeline board.",
            board=PIPELINE,
            panel="Dead letters by reason",
        ),
        AlertSpec(
            name="CarewatchWorkerDown",
            group="carewatch-pipeline",
            expr=f'{prometheus("up")}{{job="{config.job}"}} == 0',
            for_seconds=2 * MINUTE,
            severity=PAGE,
            labels=("instance",),
            summary="{{ $labels.instance }} does not answer Prometheus' scrapes",
            description=f"A worker of job {config.job} is down; its partitions move to the "
            "others after the session timeout.",
            board=PIPELINE,
            panel="Targets up",
        ),
    ]


def _connector_down(config: BuildConfig) -> str:
    """A connector that reports itself disconnected, or whose process Prometheus cannot
    scrape: a dead process exports nothing, so ``carewatch_connector_up`` alone would go
    quiet just when it matters. The scrape target names its connector in ``component``
    (``webhook``, ``x``: deploy/localstack, compose and Kubernetes set it), copied to
    ``connector`` so both branches carry the same bounded label. ``max``: a connector is
    down when none of its replicas is up."""
    up = f'{prometheus("up")}{{job="{config.connectors_job}"}}'
    named = f'label_replace({up}, "connector", "$1", "component", "(.+)")'
    return (
        f"max by (connector) ({carewatch('carewatch_connector_up')}) == 0\n"
        "or\n"
        f"max by (connector) ({named}) == 0"
    )
