"""The series dashboards and rules may name, and nothing else.

* carewatch's own: :data:`streams.metrics.SERIES` (CONTRACT section 5), the one source of
  names, types and labels; a histogram ``x`` is queried as ``x_bucket``/``x_count``/``x_sum``.
* Faust's sensors on the same ``/metrics`` (``faust.sensors.prometheus.FaustMetrics``
  created with the prefix ``faust``), listed here explicitly, only those the boards use.
* Prometheus' own: ``up`` (one per scrape target) and ``ALERTS`` (one per pending or
  firing alert, with the alert's labels).

Every name a board or rule uses goes through :func:`carewatch`, :func:`faust` or
:func:`prometheus`, which raise ``KeyError`` for a name nothing exports, so a typo fails
the build; ``tests/dashboards/test_names.py`` checks the generated output once more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

from streams.metrics import SERIES

HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")

# Labels Prometheus adds to every scraped sample: the job and instance, and the labels of
# the file_sd target files the workers and connectors write (streams/cli.py); the
# connectors' ``component`` (their name) is set by compose and Kubernetes too.
TARGET_LABELS = frozenset({"job", "instance", "component", "mode", "pid"})

# faust.sensors.prometheus.FaustMetrics.create(registry, "faust"): the series the boards
# read, with their labels (counters carry the ``_total`` suffix prometheus_client adds).
FAUST_SERIES: dict[str, tuple[str, ...]] = {
    "faust_messages_received_total": (),
    "faust_topic_partition_end_offset": ("topic", "partition"),
    "faust_topic_partition_offset_commited": ("topic", "partition"),  # sic, Faust's spelling
    "faust_total_rebalances": (),
    "faust_assignment_operations_total": ("operation",),
    "faust_consumer_commit_latency_bucket": ("le",),
    "faust_total_error_messages_sent_total": (),
}

# ``ALERTS`` carries every label of the alert; these are the ones carewatch's rules set.
ALERT_LABELS = ("alertname", "alertstate", "severity", "brand", "platform", "priority", "sla")
PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {
    "up": (),
    "ALERTS": (*ALERT_LABELS, "connector", "topic", "reason"),
}


def carewatch(name: str, suffix: str = "") -> str:
    """``name`` from :data:`SERIES`, with a histogram suffix where one is given."""
    series = SERIES[name]
    if suffix and (series.kind != "histogram" or suffix not in HISTOGRAM_SUFFIXES):
        raise KeyError(f"{name} is a {series.kind}; {suffix} is not one of its series")
    if not suffix and series.kind == "histogram":
        raise KeyError(f"{name} is a histogram: query {name}_bucket, _count or _sum")
    return name + suffix


def faust(name: str) -> str:
    if name not in FAUST_SERIES:
        raise KeyError(f"{name} is not one of Faust's sensors carewatch reads")
    return name


def prometheus(name: str) -> str:
    if name not in PROMETHEUS_SERIES:
        raise KeyError(f"{name} is not a series Prometheus makes")
    return name


def exported_labels(sample_name: str) -> frozenset[str] | None:
    """The labels a sample name is exported with (``le`` for buckets), excluding the
    target labels; None when nothing exports the name."""
    if sample_name in FAUST_SERIES:
        return frozenset(FAUST_SERIES[sample_name])
    if sample_name in PROMETHEUS_SERIES:
        return frozenset(PROMETHEUS_SERIES[sample_name])
    if sample_name in SERIES:
        series = SERIES[sample_name]
        return None if series.kind == "histogram" else frozenset(series.labels)
    for suffix in HISTOGRAM_SUFFIXES:
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in SERIES and SERIES[base].kind == "histogram":
            extra = {"le"} if suffix == "_bucket" else set()
            return frozenset(SERIES[base].labels) | extra
    return None


def le(seconds: float) -> str:
    """A bucket bound as prometheus_client writes it (``3600`` -> ``3600.0``)."""
    go_string = cast(Callable[[float], str], floatToGoString)  # untyped in prometheus_client
    return go_string(float(seconds))
