"""Recording rules: what boards and alerts would otherwise compute again and again.

* ``carewatch:case_labels:present``: every brand/platform/priority the stream reports;
  ``carewatch:sla_target_seconds{sla, calendar}``: the policy file's target for each of
  them (one rule per :class:`~dashboards.targets.TargetBlock`), and
  ``carewatch:awaiting_target_seconds``: the stricter of the first and next reply targets,
  what the oldest wait is held against.
* ``carewatch:sla_decisions:rate<w>`` and ``carewatch:sla_error_ratio:rate<w>``: decisions
  per second and the share breached (of met + breached) over each window of the SRE
  workbook's multiwindow, multi-burn-rate alerts, and 30 days for the error budget.
* ``carewatch:<sla>_seconds_bucket:rate<w>``: histogram bucket rates per brand/platform/
  priority, for the p50/p90 panels and the p90 alert.
* ``carewatch:mentions:rate10m``: customer messages per second by brand/platform/topic,
  once a series is 10 minutes old.
* ``carewatch:consumer_lag:messages``: end offset minus committed offset per partition,
  from Faust's sensors (the end offset is the high watermark of the last fetch, so a
  consumer that stopped fetching shows the lag of its last fetch).

Windows keep their production names (``rate1h``) whatever :class:`Timing` shortens them to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboards.catalog import carewatch, faust
from dashboards.config import BuildConfig
from dashboards.targets import listed, slas, target_blocks
from dashboards.timing import DAY, HOUR, MINUTE
from streams.policy import PolicyBook

BPP = ("brand", "platform", "priority")
BY_BPP = "brand, platform, priority"

UNIVERSE = "carewatch:case_labels:present"
TARGET = "carewatch:sla_target_seconds"
AWAITING_TARGET = "carewatch:awaiting_target_seconds"
MENTIONS_RATE = "carewatch:mentions:rate10m"
CONSUMER_LAG = "carewatch:consumer_lag:messages"

# The SRE workbook's windows (chapter 5, "Alerting on SLOs") and the 30-day budget window.
WINDOWS: dict[str, float] = {
    "5m": 5 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "6h": 6 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "30d": 30 * DAY,
}
HISTOGRAM_WINDOWS = {"5m": 5 * MINUTE, "10m": 10 * MINUTE}


def decisions_rate(window: str) -> str:
    return f"carewatch:sla_decisions:rate{window}"


def error_ratio(window: str) -> str:
    return f"carewatch:sla_error_ratio:rate{window}"


def bucket_rate(sla: str, window: str) -> str:
    return f"carewatch:{sla}_seconds_bucket:rate{window}"


@dataclass(frozen=True, slots=True)
class Recorded:
    record: str
    expr: str
    output_labels: tuple[str, ...]  # the labels of the recorded series
    labels: dict[str, str] = field(default_factory=dict)  # static labels the rule adds


@dataclass(frozen=True, slots=True)
class RecordingGroup:
    name: str
    rules: list[Recorded]


def recording_groups(config: BuildConfig, book: PolicyBook) -> list[RecordingGroup]:
    return [
        RecordingGroup("carewatch-targets", _targets(book)),
        RecordingGroup("carewatch-slo-rates", _slo_rates(config)),
        RecordingGroup("carewatch-histogram-rates", _histogram_rates(config, book)),
        RecordingGroup("carewatch-pipeline", [_consumer_lag()]),
    ]


def recorded_labels(groups: list[RecordingGroup]) -> dict[str, frozenset[str]]:
    """Every recorded name with the labels its series carry."""
    out: dict[str, frozenset[str]] = {}
    for group in groups:
        for rule in group.rules:
            labels = frozenset(rule.output_labels) | frozenset(rule.labels)
            out[rule.record] = out.get(rule.record, frozenset()) | labels
    return out


def _targets(book: PolicyBook) -> list[Recorded]:
    present = " or ".join(
        carewatch(name, suffix)
        for name, suffix in (
            ("carewatch_cases_open", ""),
            ("carewatch_sla_decisions_total", ""),
            ("carewatch_first_reply_seconds", "_count"),
            ("carewatch_next_reply_seconds", "_count"),
            ("carewatch_resolution_seconds", "_count"),
        )
    )
    rules = [Recorded(UNIVERSE, f"group by ({BY_BPP}) ({present})", BPP)]
    brands, platforms = listed(book)
    # One rule per SLA and calendar kind (blocks joined by ``or``: they are disjoint), so
    # no two rules record the same name with the same static labels.
    blocks: dict[tuple[str, str], list[str]] = {}
    for block in target_blocks(book):
        matchers = block.matchers(brands, platforms)
        selector = f"{UNIVERSE}{{{matchers}}}" if matchers else UNIVERSE
        blocks.setdefault((block.sla, block.calendar), []).append(f"{block.seconds:g} * {selector}")
    for (sla, calendar), parts in blocks.items():
        rules.append(
            Recorded(TARGET, "\nor\n".join(parts), BPP, {"sla": sla, "calendar": calendar})
        )
    reply_slas = [s for s in slas(book) if s in ("first_reply", "next_reply")]
    if reply_slas:
        rules.append(
            Recorded(
                AWAITING_TARGET,
                f'min without (sla) ({TARGET}{{sla=~"{"|".join(reply_slas)}"}})',
                (*BPP, "calendar"),
            )
        )
    return rules


def _slo_rates(config: BuildConfig) -> list[Recorded]:
    decisions = carewatch("carewatch_sla_decisions_total")
    rules = []
    for name, seconds in WINDOWS.items():
        window = config.timing.window(seconds)
        rate = decisions_rate(name)
        rules.append(
            Recorded(
                rate,
                f"sum by ({BY_BPP}, sla, outcome) (rate({decisions}[{window}]))",
                (*BPP, "sla", "outcome"),
            )
        )
        decided = f'sum without (outcome) ({rate}{{outcome=~"met|breached"}})'
        breached = f'sum without (outcome) ({rate}{{outcome="breached"}})'
        # A label set with no breach yet has no breached series: count it as 0, not absent.
        rules.append(
            Recorded(
                error_ratio(name),
                f"({breached} or 0 * {decided})\n/\n{decided}",
                (*BPP, "sla"),
            )
        )
    return rules


def _histogram_rates(config: BuildConfig, book: PolicyBook) -> list[Recorded]:
    rules = []
    for sla in slas(book):
        bucket = carewatch(f"carewatch_{sla}_seconds", "_bucket")
        windows = HISTOGRAM_WINDOWS if sla == "first_reply" else {"5m": 5 * MINUTE}
        for name, seconds in windows.items():
            rules.append(
                Recorded(
                    bucket_rate(sla, name),
                    f"sum by (le, {BY_BPP}) (rate({bucket}[{config.timing.window(seconds)}]))",
                    ("le", *BPP),
                )
            )
    mentions = carewatch("carewatch_mentions_total")
    window = config.timing.window(10 * MINUTE)
    # Only series with a full window behind them: a rate over a younger series is low
    # (Prometheus extrapolates little), and would pass for a usual level far below the
    # real one, so every new series would look like a spike a few minutes later.
    rules.append(
        Recorded(
            MENTIONS_RATE,
            f"sum by (brand, platform, topic) (\n  rate({mentions}[{window}])\n"
            f"  and {mentions} offset {window}\n)",
            ("brand", "platform", "topic"),
        )
    )
    return rules


def _consumer_lag() -> Recorded:
    end = faust("faust_topic_partition_end_offset")
    committed = faust("faust_topic_partition_offset_commited")
    return Recorded(
        CONSUMER_LAG,
        f"max by (topic, partition) ({end})\n-\nmax by (topic, partition) ({committed})",
        ("topic", "partition"),
    )
