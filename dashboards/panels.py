"""What the three boards share: the data source, the brand/platform/priority variables,
and panel builders (grafana-foundation-sdk) with ids, units and thresholds.

Every panel reads Prometheus through the ``datasource`` variable, except the care
floor's list of waiting cases, which asks the workers (dashboards/waiting.py).

Every board filters by the same three template variables (multi-value, "All" = ``.*``),
filled from the recorded ``carewatch:case_labels:present``. Queries use them through
:data:`BPP` (or :data:`BP` for series without a priority label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.table import Panel as TablePanel
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

from dashboards.recording import UNIVERSE
from dashboards.serialize import plain

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
BPP = 'brand=~"$brand",platform=~"$platform",priority=~"$priority"'
BP = 'brand=~"$brand",platform=~"$platform"'
GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"

Steps = Sequence[tuple[float | None, str]]  # (from value, colour); the first from None


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False  # an instant query in table format (one row per label set)


def variables() -> list[cogbuilder.Builder[models.VariableModel]]:
    def labels(name: str, selector: str) -> dashboard.QueryVariable:
        return (
            dashboard.QueryVariable(name)
            .label(name)
            .query(f"label_values({selector}, {name})")
            .datasource(DATASOURCE)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
            .current(models.VariableOption(selected=True, text="All", value="$__all"))
        )

    return [
        dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        labels("brand", UNIVERSE),
        labels("platform", f'{UNIVERSE}{{brand=~"$brand"}}'),
        labels("priority", f'{UNIVERSE}{{brand=~"$brand",platform=~"$platform"}}'),
    ]


def thresholds(steps: Steps) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=colour) for value, colour in steps])
    )


def _targets(queries: Sequence[Query]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    out: list[cogbuilder.Builder[cogvariants.Dataquery]] = []
    for index, q in enumerate(queries):
        target = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + index))
        if q.legend:
            target.legend_format(q.legend)
        if q.table:
            target.instant().format(prometheus_models.PromQueryFormat.TABLE)
        elif q.instant:
            target.instant()
        else:
            target.range()
        out.append(target)
    return out


class Board:
    """One dashboard being built: rows and panels get ids in order; ``panel_ids`` maps
    titles to ids (alert rules link to them)."""

    def __init__(self, key: tuple[str, str], title: str, description: str) -> None:
        self.uid = key[0]
        self.panel_ids: dict[str, int] = {}
        self._next_id = 1
        self._dashboard = (
            dashboard.Dashboard(title)
            .uid(self.uid)
            .description(description)
            .tags(["carewatch"])
            .refresh("30s")
            .time("now-6h", "now")
            .timezone("browser")
            .tooltip(models.DashboardCursorSync.CROSSHAIR)
            .variables(variables())
        )

    def _id(self, title: str) -> int:
        if title in self.panel_ids:
            raise ValueError(f"two panels titled {title!r} on {self.uid}")
        self.panel_ids[title] = self._next_id
        self._next_id += 1
        return self.panel_ids[title]

    def row(self, title: str) -> None:
        self._dashboard.with_row(dashboard.Row(title).id(self._id(f"row: {title}")))

    def stat(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        *,
        unit: str,
        steps: Steps = ((None, GREEN),),
        width: int = 6,
        time_from: str | None = None,
        decimals: int | None = None,
    ) -> None:
        panel = (
            stat.Panel()
            .id(self._id(title))
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .targets(_targets(queries))
            .unit(unit)
            .thresholds(thresholds(steps))
            .color_mode(common_models.BigValueColorMode.BACKGROUND)
            .graph_mode(common_models.BigValueGraphMode.AREA)
            .height(5)
            .span(width)
        )
        if time_from:
            panel.time_from(time_from)
        if decimals is not None:
            panel.decimals(decimals)
        self._dashboard.with_panel(panel)

    def timeseries(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        *,
        unit: str,
        steps: Steps = (),
        stacked: bool = False,
        width: int = 12,
    ) -> None:
        panel = (
            timeseries.Panel()
            .id(self._id(title))
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .targets(_targets(queries))
            .unit(unit)
            .fill_opacity(20 if stacked else 5)
            .legend(
                common.VizLegendOptions()
                .show_legend(True)
                .display_mode(common_models.LegendDisplayMode.TABLE)
                .placement(common_models.LegendPlacement.RIGHT)
                .calcs(["lastNotNull", "max"])
            )
            .height(8)
            .span(width)
        )
        if steps:
            panel.thresholds(thresholds(steps)).thresholds_style(
                common.GraphThresholdsStyleConfig().mode(
                    common_models.GraphThresholdsStyleMode.DASHED
                )
            )
        if stacked:
            panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
        self._dashboard.with_panel(panel)

    def table(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        *,
        columns: dict[str, str],
        units: dict[str, str],
        width: int = 24,
    ) -> None:
        """Instant table queries merged on their labels; ``columns`` renames ``Value #A``
        and the like, ``units`` sets each renamed column's unit."""
        panel = (
            table.Panel()
            .id(self._id(title))
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .targets(_targets(queries))
            .with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
            .with_transformation(
                models.DataTransformerConfig(
                    id_val="organize",
                    options={"excludeByName": {"Time": True}, "renameByName": columns},
                )
            )
            .height(8)
            .span(width)
        )
        for column, unit in units.items():
            panel.override_by_name(column, [models.DynamicConfigValue(id_val="unit", value=unit)])
        self._dashboard.with_panel(panel)

    def add(self, title: str, panel: TablePanel) -> None:
        """A panel built elsewhere, on its own data source (the care floor's waiting
        list); it gets the next id like the others."""
        self._dashboard.with_panel(panel.id(self._id(title)).title(title))

    def build(self) -> dict[str, Any]:
        built: dict[str, Any] = plain(self._dashboard.build())
        return built
