"""``carewatch queue``: the waiting cases, oldest first, in the terminal.

It asks one worker's ``/cases/waiting`` (which merges every worker's part) and prints
a table; ``--watch`` redraws it every ``interval`` seconds until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.errors import CarewatchError


class QueueUnavailable(CarewatchError):
    """The worker could not give a complete list (a rebalance, a wrong token, no worker)."""


def fetch_waiting(
    url: str, token: str, filters: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({**filters, "limit": str(limit)})
    request = urllib.request.Request(
        f"{url.rstrip('/')}/cases/waiting?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        reason = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise QueueUnavailable(f"{url} answered {exc.code}: {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise QueueUnavailable(f"no worker at {url}: {exc}") from None
    rows: list[dict[str, Any]] = body["cases"]
    return rows


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    m, s = divmod(int(abs(seconds)), 60)
    return f"{sign}{m}m{s:02d}s"


def render(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"waiting for a reply: {len(rows)} (oldest first)")
    for column in ("case", "brand", "platform", "priority", "sla", "waiting", "time left", "link"):
        table.add_column(column)
    for row in rows:
        left = row["time_left_seconds"]
        style = "red" if left is not None and left < 0 else None
        table.add_row(
            row["case_key"], row["brand"], row["platform"], row["priority"], row["sla"],
            _minutes(row["waiting_seconds"]), _minutes(left), row["link"] or "", style=style,
        )  # fmt: skip
    return table


def show(
    url: str, token: str, filters: dict[str, str], limit: int, watch: bool, interval: float = 2.0
) -> None:
    console = Console()
    if not watch:
        console.print(render(fetch_waiting(url, token, filters, limit)))
        return
    with (
        Live(console=console, refresh_per_second=1) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        while True:
            try:
                live.update(render(fetch_waiting(url, token, filters, limit)))
            except QueueUnavailable as exc:
                live.update(f"[yellow]{exc}; retrying")
            time.sleep(interval)
