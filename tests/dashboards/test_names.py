"""Every series and label a board or rule names is one something exports.

Exported means: ``streams.metrics.SERIES`` (with ``_bucket``/``_count``/``_sum`` for
histograms, ``le`` on buckets), Faust's sensors listed in ``dashboards.catalog`` (checked
here against ``FaustMetrics`` itself), Prometheus' ``up`` and ``ALERTS``, and the
recording rules of the same build (whose own expressions are checked the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry

from dashboards.build import Bundle
from dashboards.catalog import FAUST_SERIES, TARGET_LABELS, exported_labels
from dashboards.promql import label_values, names
from dashboards.queries import panel_queries, variable_queries
from dashboards.recording import recorded_labels


def problems(expr: str, recorded: Mapping[str, frozenset[str]]) -> list[str]:
    found = names(expr)
    out = []
    seen_labels = set(TARGET_LABELS)
    if not found.selectors:
        out.append(f"names no series: {expr!r}")
    for selector in found.selectors:
        if selector.metric is None:
            out.append(f"a selector without a metric name in {expr!r}")
            continue
        labels = recorded.get(selector.metric) or exported_labels(selector.metric)
        if labels is None:
            out.append(f"{selector.metric}: nothing exports or records it")
            continue
        seen_labels |= labels
        for label in selector.labels:
            if label not in labels | TARGET_LABELS:
                out.append(f"{selector.metric} has no label {label!r}")
    for label in sorted(found.grouping - seen_labels):
        out.append(f"grouping by {label!r}, which no series of {expr!r} carries")
    return out


def every_expression(bundle: Bundle) -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel query, rule and variable selector."""
    for slug, model in bundle.boards.items():
        for q in panel_queries(model):
            yield f"{slug} / {q.title} / {q.ref}", q.expr
        for name, query in variable_queries(model).items():
            selector, _ = label_values(query)
            assert selector is not None
            yield f"{slug} / variable {name}", selector
    for group in bundle.recording:
        for rule in group.rules:
            yield f"record {rule.record}", rule.expr
    for spec in bundle.alerts:
        yield f"alert {spec.name}", spec.expr


def test_every_query_and_rule_names_exported_series_and_labels(bundle: Bundle) -> None:
    recorded = recorded_labels(bundle.recording)
    found = {
        where: issues
        for where, expr in every_expression(bundle)
        if (issues := problems(expr, recorded))
    }
    assert found == {}


def test_variables_read_labels_their_series_carry(bundle: Bundle) -> None:
    recorded = recorded_labels(bundle.recording)
    for model in bundle.boards.values():
        for name, query in variable_queries(model).items():
            selector, label = label_values(query)
            assert label == name
            series = names(selector or "").selectors[0].metric
            assert series is not None
            assert label in recorded.get(series, frozenset()) | (exported_labels(series) or set())


def test_alert_labels_are_labels_of_their_expression(bundle: Bundle) -> None:
    """What an alert promises to carry (brand, platform, priority...) its series carry."""
    recorded = recorded_labels(bundle.recording)
    for spec in bundle.alerts:
        found = names(spec.expr)
        carried = set(found.grouping)
        for selector in found.selectors:
            assert selector.metric is not None
            carried |= recorded.get(selector.metric) or exported_labels(selector.metric) or set()
        assert set(spec.labels) <= carried | TARGET_LABELS, spec.name


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum(rate(carewatch_replies_total[5m]))", "nothing exports"),
        ('carewatch_events_total{reason="bad_json"}', "has no label 'reason'"),
        ("sum by (agent_id) (carewatch_first_reply_seconds_bucket)", "grouping by 'agent_id'"),
        ("carewatch_first_reply_seconds", "nothing exports"),  # a histogram has no bare series
        ("faust_messages_received", "nothing exports"),  # the counter is ..._total
        ("carewatch:nobody_records_this", "nothing exports"),
    ],
)
def test_the_check_catches_unknown_names(bundle: Bundle, expr: str, complaint: str) -> None:
    found = problems(expr, recorded_labels(bundle.recording))
    assert any(complaint in p for p in found), found


def test_faust_series_listed_are_the_ones_faust_exports() -> None:
    metrics = FaustMetrics.create(CollectorRegistry(), "faust")
    exported: dict[str, tuple[str, ...]] = {}
    for metric in metrics:
        name, kind = metric._name, metric._type  # prometheus_client keeps them private
        labels = tuple(metric._labelnames)
        if kind == "counter":
            exported[f"{name}_total"] = labels
        elif kind == "histogram":
            exported[f"{name}_bucket"] = (*labels, "le")
            exported[f"{name}_count"] = labels
        else:
            exported[name] = labels
    for name, labels in FAUST_SERIES.items():
        assert name in exported, name
        assert set(exported[name]) == set(labels), name
