"""Durations of rule windows, ``for:`` clauses and notification timers.

Production uses the durations as written (an hour is ``1h``). The integration test builds
the same rules with ``Timing(speedup=...)``: every duration divided by the speed-up, but
a window never below ``floor`` seconds (a ``rate()`` window needs a few scrapes) and a
``for:`` never below ``hold_floor``, so a scenario of a few minutes moves through windows
meant for hours and days. Only durations change with the timing; names (``rate1h``) and
thresholds never do.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def promql_duration(seconds: float) -> str:
    """Whole seconds in the largest unit that divides them: ``3600`` -> ``1h``, ``90`` ->
    ``90s`` (one unit, which Prometheus, Alertmanager and Grafana all read)."""
    whole = round(seconds)
    if whole <= 0:
        return "0s"
    for suffix, unit in _UNITS:
        if whole % unit == 0:
            return f"{whole // unit}{suffix}"
    raise AssertionError("unreachable: every whole number divides by 1")


@dataclass(frozen=True, slots=True)
class Timing:
    speedup: float = 1.0
    floor: float = 3.0  # seconds; the floors apply only when speedup > 1
    hold_floor: float | None = None  # for ``for:``; None: the same as ``floor``

    def seconds(self, production: float, floor: float | None = None) -> float:
        if self.speedup == 1.0:
            return production
        return max(self.floor if floor is None else floor, round(production / self.speedup))

    def window(self, production: float) -> str:
        """A range-vector window or an ``offset``."""
        return promql_duration(self.seconds(production))

    def hold(self, production: float) -> str:
        """A ``for:`` duration."""
        return promql_duration(self.seconds(production, floor=self.hold_floor))

    def notify(self, production: float) -> str:
        """An Alertmanager timer (group_wait, group_interval, repeat_interval)."""
        return promql_duration(self.seconds(production, floor=1.0))

    def grafana_interval(self, production: float) -> int:
        """A Grafana rule-group interval: whole seconds, a multiple of 10 (Grafana's base)."""
        seconds = self.seconds(production)
        return max(10, int(seconds // 10) * 10)


PRODUCTION = Timing()

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
