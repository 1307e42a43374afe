"""The care floor's "Who to answer next" table: the one panel that does not read Prometheus.

Its query asks the workers' ``GET /cases/waiting`` through Grafana's Infinity data
source, so the PromQL checks (test_names, test_against_prometheus, the preview) leave it
out by its data source type, and these tests check it instead: the path and parameters
are ones the workers serve (OpenAPI document and registered routes), the columns are
fields of the rows the view returns, and the jq program that filters by the board's
variables gives the oldest matching rows in order when run by a real jq.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from itertools import product
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from dashboards.build import Bundle
from dashboards.queries import other_panels
from dashboards.waiting import (
    CASE_COLUMN,
    COLUMNS,
    FILTERED_BY,
    INFINITY_PLUGIN,
    LINK_COLUMN,
    SHOWN,
    TITLE,
    WAITING_PATH,
    WORKERS_DATASOURCE_UID,
)
from streams.clocks import CaseState
from streams.events import Priority
from streams.openapi import SPEC
from streams.views import install_views, waiting_row
from tests.streams.clock_logs import Log, at, book, replay

NOW = at(200)


def the_panel(bundle: Bundle) -> dict[str, Any]:
    (found,) = [p for p in bundle.boards["care-floor"]["panels"] if p["title"] == TITLE]
    assert isinstance(found, dict)
    return found


def the_query(bundle: Bundle) -> dict[str, Any]:
    (target,) = the_panel(bundle)["targets"]
    assert isinstance(target, dict)
    return target


def registered_routes() -> set[str]:
    """The paths the worker's views register, on a Faust app that is never started."""
    app = faust.App("carewatch-routes", autodiscover=False)
    install_views(SimpleNamespace(app=app, settings=SimpleNamespace(api_token="t" * 32)))  # type: ignore[arg-type]
    return set(app.web.views)


def waiting_state(key: str, minute: float, priority: Priority) -> CaseState:
    log = Log(key)
    log.message(minute, priority)
    state = replay(log.events, book(), end=at(minute + 1)).state
    assert state is not None
    return state


def worker_rows() -> list[dict[str, Any]]:
    """Rows as the merged list has them, oldest first (the view's order): 3 brands x 2
    platforms x 2 priorities x 5 cases, 60 rows, more than the panel shows."""
    rows = []
    combos = product(("acme", "globex", "initech"), ("x", "facebook"), ("urgent", "normal"))
    for n, (brand, platform, priority) in enumerate(combos):
        for i in range(5):
            key = f"{platform}:{brand}:{100 + n}{i}:cust-{i}"
            state = waiting_state(key, (n * 7 + i * 11) % 97, Priority(priority))
            row = waiting_row(state, NOW)
            assert row is not None
            rows.append(row)
    return sorted(rows, key=lambda r: (r["waiting_since_ts"], r["case_key"]))


# ---- the query names an endpoint the workers serve ----------------------------------


def test_the_query_asks_a_path_and_parameters_the_workers_serve(bundle: Bundle) -> None:
    query = the_query(bundle)
    assert query["datasource"] == {"type": INFINITY_PLUGIN, "uid": WORKERS_DATASOURCE_UID}
    assert (query["type"], query["source"], query["url_options"]["method"]) == (
        "json",
        "url",
        "GET",
    )
    url = urllib.parse.urlsplit(query["url"])
    assert (url.scheme, url.netloc) == ("", "")  # the data source's URL is the worker's
    assert url.path == WAITING_PATH == "/cases/waiting"
    operation = SPEC["paths"][url.path]["get"]
    assert "200" in operation["responses"]
    params = dict(urllib.parse.parse_qsl(url.query))
    params |= {p["key"]: p["value"] for p in query["url_options"]["params"]}
    served = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(params) <= set(served), set(params) - set(served)
    assert int(params["limit"]) >= SHOWN
    assert url.path in registered_routes()


def test_the_routes_check_can_fail() -> None:
    routes = registered_routes()
    assert "/cases/waiting" in routes
    assert "/cases/oldest" not in routes
    assert "/cases/oldest" not in SPEC["paths"]


def test_the_columns_are_fields_of_the_rows_the_view_returns() -> None:
    row = waiting_row(waiting_state("x:acme:1234:cust", 0, Priority.HIGH), NOW)
    assert row is not None
    documented = SPEC["paths"][WAITING_PATH]["get"]["responses"]["200"]["content"]
    schema = documented["application/json"]["schema"]["properties"]["cases"]["items"]
    for column in COLUMNS:
        assert column.field in row, column
        assert column.field in schema["properties"], column
        value = row[column.field]
        if column.type == "string":
            assert value is None or isinstance(value, str), column
        else:  # number, timestamp_epoch_s (POSIX seconds)
            assert isinstance(value, int | float), column
    assert set(FILTERED_BY) <= set(row)
    assert row["link"] == "https://x.com/i/web/status/1234"


def test_the_case_column_links_to_the_conversation(bundle: Bundle) -> None:
    panel = the_panel(bundle)
    titles = [c.title for c in COLUMNS]
    assert [c["text"] for c in the_query(bundle)["columns"]] == titles
    (organize,) = panel["transformations"]
    assert organize["options"]["indexByName"] == {t: i for i, t in enumerate(titles)}
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }
    (link,) = overrides[CASE_COLUMN]["links"]
    assert link["url"] == f"${{__data.fields.{LINK_COLUMN}}}" == "${__data.fields.link}"
    assert overrides[LINK_COLUMN]["custom.hidden"] is True
    assert overrides["wait so far"]["unit"] == overrides["time left"]["unit"] == "s"
    # red once breached, orange within the default policy's warning (15 min), else green
    steps = [(s["value"], s["color"]) for s in overrides["time left"]["thresholds"]["steps"]]
    assert steps == [(None, "red"), (0.0, "orange"), (900.0, "green")]


def test_it_refreshes_with_the_board(bundle: Bundle) -> None:
    board = bundle.boards["care-floor"]
    panel = the_panel(bundle)
    assert board["refresh"]
    assert not {"interval", "timeFrom", "timeShift", "cacheTimeout"} & set(panel)


def test_the_prometheus_checks_leave_out_exactly_this_panel(bundle: Bundle) -> None:
    """test_names, the integration test and the preview skip panels by data source type:
    the only one skipped is this table, which the tests above cover."""
    skipped = {
        (slug, p["title"], p["datasource"]["type"])
        for slug, model in bundle.boards.items()
        for p in other_panels(model)
    }
    assert skipped == {("care-floor", TITLE, INFINITY_PLUGIN)}


# ---- the jq program, as Grafana fills it in and jq runs it ---------------------------


def grafana_regex(selected: list[str] | None) -> str:
    """Grafana's ``${var:regex}`` for the board's variables: All is the custom all value
    ``.*``, not formatted; one value is escaped; several are ``(a|b)``."""
    if selected is None:
        return ".*"
    escaped = [re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", v) for v in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def run_jq(program: str, document: dict[str, Any]) -> Any:
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("no jq on this machine (Debian package jq)")
    done = subprocess.run(
        [jq, "-c", program], input=json.dumps(document), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "selected",
    [
        {},
        {"brand": ["globex"]},
        {"brand": ["acme", "initech"], "platform": ["x"]},
        {"priority": ["urgent"], "platform": ["facebook"]},
        {"brand": ["nobody"]},
    ],
    ids=["all", "one-brand", "two-brands-one-platform", "urgent-facebook", "none"],
)
def test_the_rows_are_the_oldest_matching_the_variables(
    bundle: Bundle, selected: dict[str, list[str]]
) -> None:
    program = the_query(bundle)["root_selector"]
    for name in FILTERED_BY:
        program = program.replace(f"${{{name}:regex}}", grafana_regex(selected.get(name)))
    assert "$" not in program.replace(")$", "")
    rows = worker_rows()
    got = run_jq(program, {"cases": rows, "count": len(rows)})
    expected = [r for r in rows if all(r[n] in selected.get(n, [r[n]]) for n in FILTERED_BY)][
        :SHOWN
    ]
    assert got == expected
    if not selected:
        assert len(got) == SHOWN < len(rows)  # the first 50 of all, in the worker's order
    elif selected.get("brand") == ["nobody"]:
        assert got == []
    else:  # every matching row, also those behind the first 50 of all
        assert 0 < len(got) < SHOWN
        assert any(rows.index(r) >= SHOWN for r in got)
