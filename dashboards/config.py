"""What a build of the boards and rules depends on, besides the policy file and SERIES."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboards.timing import PRODUCTION, Timing
from streams.errors import ConfigError

# The three boards: uid and URL slug (Grafana links are /d/<uid>/<slug>).
CARE_FLOOR = ("carewatch-care-floor", "care-floor")
ON_CALL = ("carewatch-on-call", "on-call")
PIPELINE = ("carewatch-pipeline", "pipeline")


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """Build parameters; the defaults are the production ones.

    ``objective`` is the share of SLA deadlines that must be met over 30 days, for every
    SLA the policy file sets a target for (the policy file gives deadlines, not
    objectives). ``webhook_url`` is where both the Alertmanager receivers and the Grafana
    contact points deliver (one receiver per severity).
    """

    grafana_url: str = "http://localhost:3000"
    objective: float = 0.95
    datasource_uid: str = "prometheus"
    webhook_url: str = "http://127.0.0.1:9095/carewatch/alerts"
    job: str = "carewatch"  # the Prometheus job that scrapes the workers
    connectors_job: str = "carewatch-connectors"  # ... and the one that scrapes the connectors
    folder_uid: str = "carewatch"
    folder_title: str = "carewatch"
    dashboards_path: str = "/var/lib/grafana/dashboards/carewatch"  # in the Grafana host
    spike_factor: float = 3.0  # mentions per topic this many times their usual rate ...
    spike_min_per_second: float = 0.05  # ... and at least this many (3 a minute)
    deadletter_share: float = 0.01  # more than 1 % of the events invalid
    lag_min_messages: float = 1000.0  # consumer lag that is growing and above this
    timing: Timing = field(default=PRODUCTION)

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise ConfigError("objective", f"must be between 0 and 1, got {self.objective}")

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective

    def board_url(self, board: tuple[str, str]) -> str:
        uid, slug = board
        return f"{self.grafana_url.rstrip('/')}/d/{uid}/{slug}"
