"""The care floor board: for agents and team leads, on the wall all day.

Who waits now and for how long (against each case's own target), who to answer next (the
oldest waiting cases, from the workers), how much of today met its deadlines, reply
times by platform, breaches and warnings, and the volume by topic and language (a spike
on ``network_quality`` is an outage talking).
"""

from __future__ import annotations

from dashboards import recording as rec
from dashboards.catalog import carewatch, le
from dashboards.config import CARE_FLOOR, BuildConfig
from dashboards.panels import BLUE, BP, BPP, GREEN, ORANGE, RED, Board, Query
from dashboards.targets import slas
from dashboards.waiting import FETCH_LIMIT, SHOWN, TITLE, WAITING_PATH, waiting_table
from streams.events import Priority
from streams.metrics import reply_buckets
from streams.policy import PolicyBook

TODAY = "now/d"
WAIT_RATIO = (
    f"max by ({rec.BY_BPP}) ({carewatch('carewatch_oldest_awaiting_seconds')}{{{BPP}}})\n"
    f"/ on ({rec.BY_BPP})\n{rec.AWAITING_TARGET}"
)
WAIT_RATIO_STEPS = ((None, GREEN), (0.75, ORANGE), (1.0, RED))


def default_reply_target(book: PolicyBook) -> tuple[float, float]:
    """The first reply target and warning of the defaults (normal priority, any brand)."""
    policy = book.policies()[(None, None, Priority.NORMAL)]
    target = policy.targets.first_reply or 3600.0
    return target, target - (policy.warn_before or 0.0)


def met_share(decisions: str, sla: str, window: str) -> str:
    met = f'sum(increase({decisions}{{sla="{sla}",outcome="met",{BPP}}}[{window}]))'
    decided = f'sum(increase({decisions}{{sla="{sla}",outcome=~"met|breached",{BPP}}}[{window}]))'
    return f"{met}\n/\n{decided}"


def care_floor(config: BuildConfig, book: PolicyBook) -> Board:
    board = Board(
        CARE_FLOOR,
        "carewatch: care floor",
        "Customers waiting now, today's deadlines, reply times and volume. Targets come "
        "from the SLA policy file; waits are in calendar time.",
    )
    target, warn_at = default_reply_target(book)
    _now(board, target, warn_at)
    _today(board, config, book, target)
    _reply_times(board, book, target)
    _deadlines(board, config)
    _volume(board)
    return board


def _now(board: Board, target: float, warn_at: float) -> None:
    waiting = carewatch("carewatch_cases_awaiting_reply")
    oldest = carewatch("carewatch_oldest_awaiting_seconds")
    board.row("Now")
    board.stat(
        "Cases waiting for a reply",
        "Open cases whose customer wrote last and got no qualifying reply yet.",
        [Query(f"sum({waiting}{{{BPP}}})")],
        unit="short",
        steps=((None, BLUE),),
    )
    board.stat(
        "Oldest wait",
        "Age of the oldest unanswered message; orange from the default policy's warning, "
        "red at its first reply target (the table below holds each case to its own).",
        [Query(f"max({oldest}{{{BPP}}})")],
        unit="s",
        steps=((None, GREEN), (warn_at, ORANGE), (target, RED)),
    )
    board.stat(
        "Open cases",
        "Cases opened and not resolved yet.",
        [Query(f"sum({carewatch('carewatch_cases_open')}{{{BPP}}})")],
        unit="short",
        steps=((None, BLUE),),
    )
    board.stat(
        "Worst wait against its target",
        "The oldest wait divided by the reply target of its own policy; 100 % = breached.",
        [Query(f"max(\n{WAIT_RATIO}\n)")],
        unit="percentunit",
        steps=WAIT_RATIO_STEPS,
    )
    board.table(
        "Waiting by brand, platform and priority",
        "Per label set: cases waiting, the oldest wait, and that wait against the target.",
        [
            Query(f"sum by ({rec.BY_BPP}) ({waiting}{{{BPP}}})", table=True),
            Query(f"max by ({rec.BY_BPP}) ({oldest}{{{BPP}}})", table=True),
            Query(WAIT_RATIO, table=True),
        ],
        columns={"Value #A": "waiting", "Value #B": "oldest wait", "Value #C": "of target"},
        units={"oldest wait": "s", "of target": "percentunit"},
        width=12,
    )
    board.timeseries(
        "Oldest wait against target",
        "Each label set's oldest wait divided by its reply target: the leading indicator, "
        "it rises while nobody answers and no decision has been made yet.",
        [Query(WAIT_RATIO, "{{brand}}/{{platform}}/{{priority}}")],
        unit="percentunit",
        steps=WAIT_RATIO_STEPS,
    )
    board.add(
        TITLE,
        waiting_table(
            f"The {SHOWN} cases waiting longest for a reply, across all workers "
            f"(GET {WAITING_PATH} on the workers, Infinity data source), filtered by the "
            "board's brand, platform and priority; refreshed with the board. Time left is "
            "to the case's own reply deadline (orange from the default policy's warning, "
            "red once breached). Click a case to open its conversation where a link can be "
            "built from the case key (X, Facebook, Instagram). With more than "
            f"{FETCH_LIMIT} cases waiting, the filters see the {FETCH_LIMIT} oldest.",
            ((None, RED), (0.0, ORANGE), (target - warn_at, GREEN)),
        ),
    )


def _today(board: Board, config: BuildConfig, book: PolicyBook, target: float) -> None:
    decisions = carewatch("carewatch_sla_decisions_total")
    objective = config.objective
    steps = ((None, RED), (objective - 0.05, ORANGE), (objective, GREEN))
    names = slas(book)
    board.row("Today")
    for sla in names:
        board.stat(
            f"Deadlines met today: {sla}",
            f"Share of today's {sla} deadlines met, of those decided (met + breached); "
            f"green from the {objective:.0%} objective.",
            [Query(met_share(decisions, sla, "$__range"), instant=True)],
            unit="percentunit",
            steps=steps,
            width=24 // (len(names) + 1),
            time_from=TODAY,
            decimals=1,
        )
    if target not in reply_buckets(book.target_seconds()):
        raise ValueError(f"the default target {target} is not a bucket bound of the workers")
    bucket = carewatch("carewatch_first_reply_seconds", "_bucket")
    count = carewatch("carewatch_first_reply_seconds", "_count")
    board.stat(
        f"First replies within {target / 60:g} min today",
        "Share of today's first replies within the default target (a histogram bucket "
        "bound, since every configured target is one).",
        [
            Query(
                f'sum(increase({bucket}{{le="{le(target)}",{BPP}}}[$__range]))\n/\n'
                f"sum(increase({count}{{{BPP}}}[$__range]))",
                instant=True,
            )
        ],
        unit="percentunit",
        steps=steps,
        width=24 // (len(names) + 1),
        time_from=TODAY,
        decimals=1,
    )


def _reply_times(board: Board, book: PolicyBook, target: float) -> None:
    board.row("Reply times")
    titles = {
        "first_reply": "First reply p50 / p90 by platform",
        "next_reply": "Next reply p50 / p90 by platform",
        "resolution": "Resolution time p50 / p90 by platform",
    }
    for sla in slas(book):
        rate = rec.bucket_rate(sla, "5m")
        queries = [
            Query(
                f"histogram_quantile({q}, sum by (le, platform) ({rate}{{{BPP}}}))",
                f"p{round(q * 100)} {{{{platform}}}}",
            )
            for q in (0.5, 0.9)
        ]
        steps = ((None, GREEN), (target, RED)) if sla != "resolution" else ()
        board.timeseries(
            titles[sla],
            f"{sla} time (calendar) over 5-minute windows; the dashed line is the default target.",
            queries,
            unit="s",
            steps=steps,
            width=8,
        )


def _deadlines(board: Board, config: BuildConfig) -> None:
    rate5m = rec.decisions_rate("5m")
    rate1h = rec.decisions_rate("1h")
    board.row("Deadlines")
    board.timeseries(
        "Breaches and warnings",
        "Deadlines breached, and warnings before a deadline, per minute.",
        [
            Query(
                f'sum by (sla, outcome) (60 * {rate5m}{{outcome=~"breached|warning",{BPP}}})',
                "{{sla}} {{outcome}}",
            )
        ],
        unit="cpm",
    )
    board.timeseries(
        "Deadlines met over the last hour",
        "Share met of the deadlines decided in the hour before each point.",
        [
            Query(
                f'sum by (sla) ({rate1h}{{outcome="met",{BPP}}})\n/\n'
                f'sum by (sla) ({rate1h}{{outcome=~"met|breached",{BPP}}})',
                "{{sla}}",
            )
        ],
        unit="percentunit",
        steps=((None, RED), (config.objective, GREEN)),
    )


def _volume(board: Board) -> None:
    mentions = carewatch("carewatch_mentions_total")
    rate = "[$__rate_interval]"
    board.row("Volume")
    board.timeseries(
        "Volume by topic",
        "Customer messages per minute by topic (classified by the stream when absent).",
        [Query(f"sum by (topic) (60 * rate({mentions}{{{BP}}}{rate}))", "{{topic}}")],
        unit="cpm",
        stacked=True,
        width=8,
    )
    board.timeseries(
        "Volume by language",
        "Customer messages per minute by language (configured languages, else other).",
        [Query(f"sum by (lang) (60 * rate({mentions}{{{BP}}}{rate}))", "{{lang}}")],
        unit="cpm",
        stacked=True,
        width=8,
    )
    bots = carewatch("carewatch_bot_replies_total")
    events = carewatch("carewatch_events_total")
    board.timeseries(
        "Bot share of replies",
        "Replies written by bots or automation, of all replies; they never stop a clock.",
        [
            Query(
                f"sum(rate({bots}{{{BP}}}{rate}))\n/\n"
                f'sum(rate({events}{{kind="reply",{BP}}}{rate}))',
                "bots",
            )
        ],
        unit="percentunit",
        width=8,
    )
    board.stat(
        "Reopened today",
        "Cases a customer reopened after resolution, today.",
        [
            Query(
                f"sum(increase({carewatch('carewatch_cases_reopened_total')}{{{BPP}}}[$__range]))",
                instant=True,
            )
        ],
        unit="short",
        steps=((None, BLUE),),
        time_from=TODAY,
        decimals=0,
    )
