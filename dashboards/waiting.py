"""Who to answer next on the care floor: the oldest waiting cases, straight from the workers.

The list is not in Prometheus (cases are not labels), so the panel asks the workers'
``GET /cases/waiting`` (streams/views.py, bearer token) through Grafana's Infinity data
source, provisioned under :data:`WORKERS_DATASOURCE_UID` by deploy/compose/grafana/
datasources.yaml and deploy/k8s/base/grafana-datasource.yaml (tests/deploy hold both to
the constants here). The data source's URL is a worker's base URL; the query names only
the path, so the same board works against any deployment.

Filtering happens in the plugin, not at the worker: the worker's ``brand``/``platform``/
``priority`` parameters match one exact value, while the board's variables are
multi-value with All = ``.*`` (a regex for PromQL). So the query fetches the whole list,
oldest first (at most the worker's maximum, :data:`FETCH_LIMIT`), and a jq program
(Infinity's backend jq parser) keeps the rows matching the variables, as Grafana's
``regex`` format writes them, then the first :data:`SHOWN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

from dashboards.panels import Steps

INFINITY_PLUGIN = "yesoreyeram-infinity-datasource"
INFINITY_VERSION = "3.11.1"  # needs Grafana >= 11.6 (the release the boards are built for)
WORKERS_DATASOURCE_UID = "carewatch-workers"
WORKERS_DATASOURCE = models.DataSourceRef(type_val=INFINITY_PLUGIN, uid=WORKERS_DATASOURCE_UID)

WAITING_PATH = "/cases/waiting"
FETCH_LIMIT = 10_000  # the most the view returns: filtered here, so fetch them all
SHOWN = 50
TITLE = f"Who to answer next: {SHOWN} oldest waiting"
FILTERED_BY = ("brand", "platform", "priority")  # board variables and row fields alike


@dataclass(frozen=True, slots=True)
class Column:
    field: str  # the row field of GET /cases/waiting (streams.views.waiting_row)
    title: str
    type: str  # Infinity's column type
    unit: str | None = None


COLUMNS = (
    Column("waiting_since_ts", "waiting since", "timestamp_epoch_s"),
    Column("waiting_seconds", "wait so far", "number", "s"),
    Column("time_left_seconds", "time left", "number", "s"),
    Column("brand", "brand", "string"),
    Column("platform", "platform", "string"),
    Column("priority", "priority", "string"),
    Column("sla", "sla", "string"),
    Column("cycle", "cycle", "number"),
    Column("case_key", "case", "string"),
    Column("link", "link", "string"),  # hidden: the "case" column links to it
)
TIME_LEFT_COLUMN, CASE_COLUMN, LINK_COLUMN = "time left", "case", "link"


def rows_program() -> str:
    """The jq root selector: rows whose brand, platform and priority match the board's
    variables (anchored; All is ``.*``), in the worker's order (oldest first), the first
    :data:`SHOWN`. Grafana fills in the variables before the plugin runs it."""
    tests = " and ".join(f'(.{name} | test("^(${{{name}:regex}})$"))' for name in FILTERED_BY)
    return f"[.cases[] | select({tests})] | .[:{SHOWN}]"


class InfinityQuery(cogvariants.Dataquery):
    """One Infinity target, in the plugin's own query model (the SDK has none for it)."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model

    def to_json(self) -> dict[str, Any]:
        return dict(self.model)


class WaitingQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    def build(self) -> InfinityQuery:
        return InfinityQuery(
            {
                "refId": "A",
                "datasource": WORKERS_DATASOURCE,
                "type": "json",
                "source": "url",
                "parser": "jq-backend",
                "format": "table",
                "url": WAITING_PATH,
                "url_options": {
                    "method": "GET",
                    "params": [{"key": "limit", "value": str(FETCH_LIMIT)}],
                },
                "root_selector": rows_program(),
                "columns": [
                    {"selector": c.field, "text": c.title, "type": c.type} for c in COLUMNS
                ],
            }
        )


def _prop(id_val: str, value: Any) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val=id_val, value=value)


def waiting_table(description: str, time_left_steps: Steps) -> table.Panel:
    """The table panel (without id): the Infinity query, the columns in order, units, the
    case linked to its conversation, and time left coloured by ``time_left_steps``."""
    panel = (
        table.Panel()
        .title(TITLE)
        .description(description)
        .datasource(WORKERS_DATASOURCE)
        .targets([WaitingQuery()])
        .with_transformation(
            models.DataTransformerConfig(
                id_val="organize",
                # the plugin hands the fields over sorted by name: put them back in order
                options={"indexByName": {c.title: i for i, c in enumerate(COLUMNS)}},
            )
        )
        .height(10)
        .span(24)
    )
    steps = [{"value": value, "color": colour} for value, colour in time_left_steps]
    link = {
        "title": "Open the conversation",
        "url": f"${{__data.fields.{LINK_COLUMN}}}",
        "targetBlank": True,
    }
    extra = {
        TIME_LEFT_COLUMN: [
            _prop("thresholds", {"mode": models.ThresholdsMode.ABSOLUTE, "steps": steps}),
            _prop("custom.cellOptions", {"type": common_models.TableCellDisplayMode.COLOR_TEXT}),
        ],
        CASE_COLUMN: [_prop("links", [link])],
        LINK_COLUMN: [_prop("custom.hidden", True)],
    }
    for column in COLUMNS:
        properties = [_prop("unit", column.unit)] if column.unit else []
        properties += extra.get(column.title, [])
        if properties:
            panel.override_by_name(column.title, properties)
    return panel
