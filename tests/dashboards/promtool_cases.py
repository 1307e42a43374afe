"""``promtool test rules`` cases for every generated alert: one input where it fires and
at least one where it stays quiet, at production timing, with the example policy.

Each :class:`Case` is written as one test of a promtool test file. Input series use
promtool's expanding notation (``0+6x1440`` = 0, 6, 12, ... 1441 samples at the test's
interval). Expected annotations are the summary and board link, rendered from the
alert's label templates; the description (which formats ``$value``) is left out of the
rule copy the tests load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dashboards.catalog import le
from streams.metrics import reply_buckets
from streams.policy import PolicyBook

TARGET = {"job": "carewatch", "instance": "w1:6066"}
TELE2_X = {"brand": "tele2_ru", "platform": "x", "priority": "normal"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    merged = {**labels, **TARGET} if not name.startswith("up") else labels
    inside = ",".join(f'{k}="{v}"' for k, v in merged.items())
    return {"series": f"{name}{{{inside}}}", "values": values}


@dataclass
class Case:
    alert: str
    why: str
    eval_time: str
    inputs: list[dict[str, str]]
    fires: list[dict[str, str]] = field(default_factory=list)  # labels, severity excluded
    interval: str = "1m"

    @property
    def quiet(self) -> bool:
        return not self.fires


def decisions(
    sla: str, met: str, breached: str, labels: dict[str, str] = TELE2_X
) -> list[dict[str, str]]:
    name = "carewatch_sla_decisions_total"
    return [
        series(name, {**labels, "sla": sla, "outcome": "met"}, met),
        series(name, {**labels, "sla": sla, "outcome": "breached"}, breached),
    ]


def burn_cases(sla: str, camel: str) -> list[Case]:
    page, ticket = f"Carewatch{camel}BurnRatePage", f"Carewatch{camel}BurnRateTicket"
    fired = [{**TELE2_X, "sla": sla}]
    fast = decisions(sla, "0+1x200", "0+9x200")  # 90 % breached
    moderate = decisions(sla, "0+8x300", "0+2x300")  # 20 % breached
    # The ticket windows are hours and days long: five-minute samples are enough.
    moderate_5m = decisions(sla, "0+40x60", "0+10x60")
    healthy_5m = decisions(sla, "0+245x60", "0+5x60")  # 2 % breached
    return [
        Case(page, "90 % of deadlines breached: 14.4x burn", "30m", fast, fired),
        Case(page, "20 % breached: a ticket, not a page", "2h", moderate),
        Case(
            page,
            "90 % breached for an hour, then 35 minutes all met: both short windows reset it",
            "95m",
            decisions(sla, "0+1x60 60+10x40", "0+9x60 540+0x40"),
        ),
        Case(ticket, "20 % breached over hours: 3x burn", "3h", moderate_5m, fired, "5m"),
        Case(ticket, "2 % breached: within budget", "3h", healthy_5m, interval="5m"),
    ]


def care_cases(book: PolicyBook) -> list[Case]:
    cases = []
    present = series("carewatch_cases_open", TELE2_X, "1+0x120")
    oldest = "carewatch_oldest_awaiting_seconds"
    du = {"brand": "du", "platform": "facebook", "priority": "normal"}
    urgent = {**TELE2_X, "priority": "urgent"}
    cases += [
        Case(
            "CarewatchOldestWaitAboveTarget",
            "nobody answers: the oldest wait passes 60 min (and 15 min for urgent)",
            "70m",
            [
                present,
                series(oldest, TELE2_X, "0+60x120"),
                series("carewatch_cases_open", urgent, "1+0x120"),
                series(oldest, urgent, "0+20x120"),
            ],
            [TELE2_X, urgent],
        ),
        Case(
            "CarewatchOldestWaitAboveTarget",
            "50 min waits; du (business hours) waits 2 h in calendar time",
            "100m",
            [
                present,
                series(oldest, TELE2_X, "0+30x120"),
                series("carewatch_cases_open", du, "1+0x120"),
                series(oldest, du, "0+72x120"),
            ],
        ),
    ]
    bounds = reply_buckets(book.target_seconds())

    def histogram(slow: bool) -> list[dict[str, str]]:
        name = "carewatch_first_reply_seconds"
        edge = 7200.0 if slow else 1800.0  # every reply lands in the bucket up to edge
        out = [
            series(f"{name}_bucket", {**TELE2_X, "le": le(b)}, "0+1x60" if b >= edge else "0+0x60")
            for b in bounds
        ]
        out.append(series(f"{name}_bucket", {**TELE2_X, "le": "+Inf"}, "0+1x60"))
        out.append(series(f"{name}_count", TELE2_X, "0+1x60"))
        return out

    cases += [
        Case(
            "CarewatchFirstReplyP90AboveTarget",
            "first replies take 1-2 h against a 60 min target",
            "40m",
            histogram(slow=True),
            [TELE2_X],
        ),
        Case(
            "CarewatchFirstReplyP90AboveTarget",
            "first replies within 30 min",
            "40m",
            histogram(slow=False),
        ),
    ]
    network = {"brand": "tele2_ru", "platform": "x", "topic": "network", "lang": "ru"}
    spiked = {k: v for k, v in network.items() if k != "lang"}
    mentions = "carewatch_mentions_total"
    # Five-minute samples: a day of history at one-minute steps is slow in promtool.
    cases += [
        Case(
            "CarewatchMentionSpike",
            "network mentions go from 0.1/s to 1/s",
            "1470m",
            [series(mentions, network, "0+30x288 8640+300x12")],
            [spiked],
            interval="5m",
        ),
        Case(
            "CarewatchMentionSpike",
            "a steady 0.1/s all day",
            "1470m",
            [series(mentions, network, "0+30x300")],
            interval="5m",
        ),
        Case(
            "CarewatchMentionSpike",
            "30x the usual, but 2 a minute: below the floor",
            "1470m",
            [series(mentions, network, "0+0.3x288 86.4+10x12")],
            interval="5m",
        ),
    ]
    return cases


def pipeline_cases() -> list[Case]:
    events = "carewatch_events_total"
    message = {"brand": "tele2_ru", "platform": "x", "kind": "message"}
    decided = {**TELE2_X, "sla": "first_reply", "outcome": "met"}
    end, committed = "faust_topic_partition_end_offset", "faust_topic_partition_offset_commited"
    partition = {"topic": "care.events.v1", "partition": "0"}
    connector = {"connector": "x_stream"}
    rejected = "carewatch_events_rejected_total"
    up = {"job": "carewatch", "instance": "w1:6066"}
    # The webhook's scrape target, named as deploy/localstack, compose and Kubernetes name it.
    webhook = {"job": "carewatch-connectors", "instance": "c1:6068", "component": "webhook"}
    return [
        Case(
            "CarewatchPipelineStalled",
            "messages keep coming, the decision counter stands still for hours",
            "5h",
            [
                series(events, message, "0+10x300"),
                series("carewatch_sla_decisions_total", decided, "100+0x300"),
            ],
            [{}],
        ),
        Case(
            "CarewatchPipelineStalled",
            "few decisions, but some",
            "5h",
            [
                series(events, message, "0+10x300"),
                series("carewatch_sla_decisions_total", decided, "0+0.05x300"),
            ],
        ),
        Case(
            "CarewatchConsumerLagGrowing",
            "the committed offset falls behind by 50 messages a minute",
            "45m",
            [series(end, partition, "0+100x60"), series(committed, partition, "0+50x60")],
            [partition],
        ),
        Case(
            "CarewatchConsumerLagGrowing",
            "a large lag that does not grow",
            "45m",
            [series(end, partition, "5000+100x60"), series(committed, partition, "0+100x60")],
        ),
        Case(
            "CarewatchConnectorDown",
            "disconnected for 15 minutes",
            "25m",
            [series("carewatch_connector_up", connector, "1x10 0x20")],
            [connector],
        ),
        Case(
            "CarewatchConnectorDown",
            "a 2-minute reconnect",
            "14m",
            [series("carewatch_connector_up", connector, "1x10 0x2 1x20")],
        ),
        Case(
            "CarewatchConnectorDown",
            "the process is gone: its target has not answered a scrape for 10 minutes",
            "16m",
            [series("up", webhook, "1x5 0x10")],
            [{"connector": "webhook"}],
        ),
        Case(
            "CarewatchConnectorDown",
            "the process answers every scrape and is connected",
            "16m",
            [
                series("up", webhook, "1x15"),
                series("carewatch_connector_up", {"connector": "webhook"}, "1x15"),
            ],
        ),
        Case(
            "CarewatchDeadLetterRate",
            "5 invalid events for every 100 valid ones",
            "30m",
            [
                series(events, message, "0+100x60"),
                series(rejected, {"reason": "bad_json"}, "0+5x60"),
            ],
            [{}],
        ),
        Case(
            "CarewatchDeadLetterRate",
            "one invalid event in 200",
            "30m",
            [
                series(events, message, "0+100x60"),
                series(rejected, {"reason": "bad_json"}, "0+0.5x60"),
            ],
        ),
        Case(
            "CarewatchWorkerDown",
            "no scrape answer for 10 minutes",
            "12m",
            [series("up", up, "1x5 0x10")],
            [up],
        ),
        Case("CarewatchWorkerDown", "up all along", "12m", [series("up", up, "1x15")]),
    ]


def render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def promtool_test_file(
    cases: list[Case], rule_files: list[str], alerts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A promtool test file; ``alerts`` maps each alert name to its rule (severity,
    annotations) in the rule copy under test. The cases share one evaluation interval."""
    (interval,) = {case.interval for case in cases}
    tests = []
    for case in cases:
        rule = alerts[case.alert]
        expected = []
        for labels in case.fires:
            full = {**labels, **rule["labels"]}
            notes = {k: render(v, full) for k, v in rule["annotations"].items()}
            expected.append({"exp_labels": full, "exp_annotations": notes})
        tests.append(
            {
                "name": f"{case.alert}: {case.why}",
                "interval": case.interval,
                "input_series": case.inputs,
                "alert_rule_test": [
                    {"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": expected}
                ],
            }
        )
    return {"rule_files": rule_files, "evaluation_interval": interval, "tests": tests}
