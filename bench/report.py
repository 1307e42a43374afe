"""The result of a run: rows of numbers, one table on the terminal, one JSON file.

Every row has an ``id`` (stable, for tools and tests), a headline ``value`` in ``unit``
and, where it applies, more numbers in ``values`` (``p50``/``p99``/``n`` of a latency,
the ``ratio`` of carewatch to a baseline). Speed is measured here, never judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

ROW_IDS = (
    "throughput.carewatch.memory",
    "throughput.carewatch.rocksdb",
    "throughput.aiokafka",
    "throughput.confluent",
    "throughput.faust_noop",
    "throughput.quix_counter",
    "scaling.carewatch.two_workers",
    "enrichment.cost",
    "latency.live.2000",
    "breach.live.2000",
    "latency.live.80pct",
    "breach.live.80pct",
    "memory.per_case.memory",
    "memory.per_case.rocksdb",
    "recovery.memory",
    "recovery.rocksdb",
)
"""Every row a complete run produces, in table order."""


@dataclass(slots=True)
class Row:
    id: str
    label: str
    value: float
    unit: str
    values: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass(slots=True)
class Report:
    command: str
    machine: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    load_start: dict[str, float] = field(default_factory=dict)
    load_end: dict[str, float] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromisoformat(self.started_at).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{stamp}.json"
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))
        return path

    def table(self) -> Table:
        cores = self.machine.get("cores_logical")
        memory = self.machine.get("memory_bytes", 0) / 2**30
        title = (
            f"carewatch bench: {self.log.get('lines', 0):,} events, "
            f"{cores} cores, {memory:.0f} GiB, load {_load(self.load_start)} -> {_load(self.load_end)}"
        )
        table = Table(title=title, caption=f"reproduce: {self.command}")
        table.add_column("measurement")
        table.add_column("result", justify="right")
        table.add_column("carewatch ÷ it", justify="right")
        table.add_column("detail", overflow="fold")
        for row in sorted(self.rows, key=_order):
            ratio = row.values.get("ratio")
            table.add_row(
                row.label,
                _result(row),
                "" if ratio is None else f"{ratio:.2g}",
                row.detail,
            )
        return table

    def print(self, console: Console) -> None:
        """The table; at least 150 columns wide when the output is not a terminal."""
        wide = console if console.is_terminal else Console(width=max(console.width, 150))
        wide.print(self.table())


def _order(row: Row) -> int:
    return ROW_IDS.index(row.id) if row.id in ROW_IDS else len(ROW_IDS)


def _load(load: dict[str, float]) -> str:
    return f"{load.get('1m', 0):.2f}" if load else "?"


def _result(row: Row) -> str:
    if "p50" in row.values:
        return f"p50 {_number(row.values['p50'])} · p99 {_number(row.values['p99'])} {row.unit}"
    return f"{_number(row.value)} {row.unit}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
