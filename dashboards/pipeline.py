"""The pipeline board: for the engineers who run the workers and connectors.

Throughput per worker, Kafka consumer lag per partition and commit latency (Faust's own
sensors), rebalances, event lag (processing time minus ``occurred_at``), dead letters,
duplicates and stragglers, and every connector's health.
"""

from __future__ import annotations

from dashboards import recording as rec
from dashboards.catalog import carewatch, faust, prometheus
from dashboards.config import PIPELINE, BuildConfig
from dashboards.panels import BP, GREEN, ORANGE, RED, Board, Query

RATE = "[$__rate_interval]"


def pipeline(config: BuildConfig) -> Board:
    board = Board(
        PIPELINE,
        "carewatch: pipeline",
        "Workers, Kafka and connectors. Faust's series (faust_*) sit beside carewatch's on "
        "each worker's /metrics.",
    )
    _throughput(board, config)
    _kafka(board, config)
    _quality(board)
    _connectors(board)
    return board


def _throughput(board: Board, config: BuildConfig) -> None:
    events = carewatch("carewatch_events_total")
    received = faust("faust_messages_received_total")
    board.row("Throughput")
    board.timeseries(
        "Events per second per worker",
        "Valid events each worker applied (carewatch), and every message it took from "
        "Kafka (Faust: events, clock markers, invalid lines).",
        [
            Query(f"sum by (instance) (rate({events}{{{BP}}}{RATE}))", "{{instance}} events"),
            Query(f"sum by (instance) (rate({received}{RATE}))", "{{instance}} messages in"),
        ],
        unit="cps",
        width=10,
    )
    board.timeseries(
        "Events by kind",
        "Customer messages, replies and status changes per second.",
        [Query(f"sum by (kind) (rate({events}{{{BP}}}{RATE}))", "{{kind}}")],
        unit="cps",
        stacked=True,
        width=7,
    )
    jobs = f"{config.job}|{config.connectors_job}"
    board.timeseries(
        "Targets up",
        f"1 while Prometheus can scrape the process (jobs {config.job}, {config.connectors_job}).",
        [
            Query(
                f'max by (job, instance) ({prometheus("up")}{{job=~"{jobs}"}})',
                "{{job}} {{instance}}",
            )
        ],
        unit="short",
        steps=((None, RED), (1.0, GREEN)),
        width=7,
    )


def _kafka(board: Board, config: BuildConfig) -> None:
    board.row("Kafka")
    board.timeseries(
        "Consumer lag per partition",
        "End offset (high watermark at the last fetch) minus committed offset.",
        [Query(rec.CONSUMER_LAG, "{{topic}} [{{partition}}]")],
        unit="short",
        steps=((None, GREEN), (config.lag_min_messages, ORANGE)),
        width=8,
    )
    latency = faust("faust_consumer_commit_latency_bucket")
    board.timeseries(
        "Commit latency p90",
        "How long committing offsets takes (Faust sensor, milliseconds).",
        [
            Query(
                f"histogram_quantile(0.9, sum by (le, instance) (rate({latency}{RATE})))",
                "{{instance}}",
            )
        ],
        unit="ms",
        width=8,
    )
    board.timeseries(
        "Rebalances",
        "Partition assignments completed (each rebalance is one) and rebalances running.",
        [
            Query(
                f"sum by (instance, operation) (increase({faust('faust_assignment_operations_total')}{RATE}))",
                "{{instance}} assignments {{operation}}",
            ),
            Query(
                f"max by (instance) ({faust('faust_total_rebalances')})",
                "{{instance}} rebalancing",
            ),
        ],
        unit="short",
        width=8,
    )


def _quality(board: Board) -> None:
    board.row("Lag and quality")
    lag = carewatch("carewatch_event_lag_seconds", "_bucket")
    board.timeseries(
        "Event lag p50 / p90 by platform",
        "Processing time minus occurred_at: how late events reach the stream (in replay "
        "mode, how old the replayed log is).",
        [
            Query(
                f'histogram_quantile({q}, sum by (le, platform) (rate({lag}{{platform=~"$platform"}}{RATE})))',
                f"p{round(q * 100)} {{{{platform}}}}",
            )
            for q in (0.5, 0.9)
        ],
        unit="s",
        width=8,
    )
    rejected = carewatch("carewatch_events_rejected_total")
    board.timeseries(
        "Dead letters by reason",
        "Invalid events per minute, by the validation rule they broke.",
        [Query(f"sum by (reason) (60 * rate({rejected}{RATE}))", "{{reason}}")],
        unit="cpm",
        stacked=True,
        width=8,
    )
    duplicate = carewatch("carewatch_events_duplicate_total")
    late = carewatch("carewatch_events_late_total")
    board.timeseries(
        "Duplicates and stragglers",
        "Repeated event ids (dropped) and events later than the allowed lateness "
        "(applied in arrival order), per minute.",
        [
            Query(f"sum(60 * rate({duplicate}{{{BP}}}{RATE}))", "duplicates"),
            Query(f"sum(60 * rate({late}{{{BP}}}{RATE}))", "later than the lateness"),
        ],
        unit="cpm",
        width=8,
    )


def _connectors(board: Board) -> None:
    board.row("Connectors")
    board.timeseries(
        "Connectors up",
        "1 while a connector is connected to its source.",
        [Query(f"max by (connector) ({carewatch('carewatch_connector_up')})", "{{connector}}")],
        unit="short",
        steps=((None, RED), (1.0, GREEN)),
        width=8,
    )
    written = carewatch("carewatch_connector_events_total")
    board.timeseries(
        "Connector events per second",
        "Events each connector wrote to care.events.v1.",
        [
            Query(
                f'sum by (connector, platform) (rate({written}{{platform=~"$platform"}}{RATE}))',
                "{{connector}} {{platform}}",
            )
        ],
        unit="cps",
        width=8,
    )
    errors = carewatch("carewatch_connector_errors_total")
    sent_errors = faust("faust_total_error_messages_sent_total")
    board.timeseries(
        "Connector and producer errors",
        "Connector errors per minute by reason (each retried with backoff), and the "
        "workers' failed sends to Kafka.",
        [
            Query(
                f"sum by (connector, reason) (60 * rate({errors}{RATE}))",
                "{{connector}} {{reason}}",
            ),
            Query(f"sum(60 * rate({sent_errors}{RATE}))", "worker send errors"),
        ],
        unit="cpm",
        width=8,
    )
