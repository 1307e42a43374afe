"""Microseconds per event of Faust's Prometheus monitor and of carewatch's lean one.

``python -m bench.sensors``: the four per-event hooks (:mod:`streams.sensors`) called
50,000 times on each, with a fresh registry; prints one line per monitor.
"""

from __future__ import annotations

import time
from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.sensors import LeanPrometheusMonitor


class _Owner:
    pass


class _Stream:
    shortlabel = "Stream: Topic: care.events.v1"
    task_owner = _Owner()


def measure(events: int = 50_000) -> dict[str, float]:
    tp = TP("care.events.v1", 0)
    stream: Any = _Stream()
    message: Any = _Owner()
    event: Any = _Owner()
    out = {}
    for monitor_type in (PrometheusMonitor, LeanPrometheusMonitor):
        monitor = monitor_type(metrics=FaustMetrics.create(CollectorRegistry(), "faust"))
        began = time.perf_counter()
        for offset in range(events):
            monitor.on_message_in(tp, offset, message)
            state = monitor.on_stream_event_in(tp, offset, stream, event)
            monitor.on_stream_event_out(tp, offset, stream, event, state)
            monitor.on_message_out(tp, offset, message)
        out[monitor_type.__name__] = (time.perf_counter() - began) / events * 1e6
    return out


if __name__ == "__main__":
    for name, spent in measure().items():
        print(f"{name}: {spent:.1f} microseconds per event")
