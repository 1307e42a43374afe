"""The HTML preview, against a stub of Prometheus' query API (the integration test runs it
against a real Prometheus): every panel drawn, every query with Grafana's variables
filled in."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import Bundle
from dashboards.preview import Window, render_board, statuses
from dashboards.queries import Prometheus, other_panels

LABELS = {"brand": "tele2_ru", "platform": "x", "priority": "normal", "topic": "network"}


class StubPrometheus:
    def __init__(self) -> None:
        self.queries: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                params = urllib.parse.parse_qs(url.query)
                stub.queries.append(params["query"][0])
                now = 1_800_000_000.0
                if url.path == "/api/v1/query":
                    data: dict[str, Any] = {
                        "resultType": "vector",
                        "result": [{"metric": LABELS, "value": [now, "0.8"]}],
                    }
                else:
                    values = [[now - 60 * i, str(0.8 - i / 10)] for i in range(3, -1, -1)]
                    data = {
                        "resultType": "matrix",
                        "result": [{"metric": LABELS, "values": values}],
                    }
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def stub() -> Iterator[StubPrometheus]:
    server = StubPrometheus()
    yield server
    server.server.shutdown()
    server.thread.join()


@pytest.mark.parametrize("board", ["care-floor", "on-call", "pipeline"])
def test_every_panel_is_drawn(
    bundle: Bundle, stub: StubPrometheus, tmp_path: Path, board: str
) -> None:
    page = render_board(bundle.boards[board], Prometheus(stub.url), Window(1_800_000_000, 3600, 15))
    (tmp_path / "board.html").write_text(page)
    panels = statuses((tmp_path / "board.html").read_text())
    drawn = [p for p in bundle.boards[board]["panels"] if p["type"] != "row"]
    assert [title for title, _, _ in panels] == [p["title"] for p in drawn]
    elsewhere = {p["title"] for p in other_panels(bundle.boards[board])}  # the workers' list
    assert all(
        status == ("skipped" if title in elsewhere else "ok") for title, status, _ in panels
    ), panels
    assert page.count("<polyline") >= sum(p["type"] == "timeseries" for p in drawn)
    assert all("$" not in q for q in stub.queries), [q for q in stub.queries if "$" in q]
    if "$__rate_interval" in json.dumps(bundle.boards[board]):
        assert any("[1m]" in q for q in stub.queries)  # $__rate_interval: 4 x 15 s


def test_stats_are_coloured_by_their_thresholds(bundle: Bundle, stub: StubPrometheus) -> None:
    page = render_board(bundle.boards["care-floor"], Prometheus(stub.url), Window(1.8e9, 600, 15))
    start = page.index('data-title="Worst wait against its target"')
    section = page[start : page.index("</section>", start)]
    big = section[section.index('class="big"') : section.index("</div>")]
    assert "80.0 %" in big  # the last value, 0.8 of the target: orange from 75 %, red at 100 %
    assert "#ff9830" in big
