"""Every label value on every ``/metrics`` page belongs to a bounded set: no id, handle
or text ever becomes one (CONTRACT section 5).

A real worker (replay mode) takes a small log whose ids, handles, agent ids and texts
are hostile (label-injection attempts, handles, Unicode, long strings), plus invalid
lines of every kind; the webhook connector takes hostile posts and refusals. Then every
sample of every ``carewatch_*`` series on both pages is checked label by label against
the set that label may take: the contract's enumerations, the reason codes, the
configured languages and topic rules plus ``other``, the connectors' names, and for
``brand`` and ``platform`` the tokens the valid events carried; and no label value is
any of the hostile values."""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connectors.producer import ErrorReason
from connectors.replay import replay
from streams.clocks.decisions import How, Outcome, Sla
from streams.enrich.topics import load_topic_rules
from streams.events import REASONS, AuthorType, Kind, Priority, Status
from streams.metrics import SERIES, StreamMetrics
from streams.processor import UNPROCESSABLE
from streams.settings import Settings
from tests.conftest import Broker, make_topics
from tests.connectors.harness import RunningWebhook, meta_signature, webhook_config
from tests.e2e.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "connectors" / "payloads"

HOSTILE = (
    '"} carewatch_evil{brand="x',  # label injection
    "line\nbreak carewatch_events_total 1e9",
    "@amira_92",
    "amira_92",  # a handle that is also a valid token
    "1790000000000000001",
    "\u202etxet\u202c 👀 شكرا",
    "x" * 200,
    "du",  # an id equal to a brand: still an id, never a label of its own
)
BRANDS = ("du", "tele2_ru")
PLATFORMS = ("x", "telegram")


def _events(start: float) -> list[bytes]:
    """Valid events with a hostile value in every free-text field, over a few cases."""
    lines: list[bytes] = []
    n = 0

    def add(kind: Kind, case: int, at: float, **more: object) -> None:
        nonlocal n
        n += 1
        hostile = HOSTILE[(case + n) % len(HOSTILE)]
        event = {
            "schema": "care.event/1",
            "event_id": f"{hostile}|{n}",
            "kind": kind.value,
            "platform": PLATFORMS[case % 2],
            "brand": BRANDS[case % 2],
            "thread_id": HOSTILE[case % len(HOSTILE)],
            "customer_id": HOSTILE[(case + 3) % len(HOSTILE)],
            "occurred_at": _rfc3339(start + at),
            **more,
        }
        lines.append(orjson.dumps(event))

    for case in range(8):
        base = case * 60.0
        add(
            Kind.MESSAGE,
            case,
            base,
            text=HOSTILE[case % len(HOSTILE)],
            lang="en-GB" if case % 2 else "qq",
        )
        add(Kind.MESSAGE, case, base + 5, text=f"no signal {HOSTILE[(case + 1) % len(HOSTILE)]}")
        stated = "amira_92" if case % 2 else "billing"  # a handle as a stated topic: other
        add(Kind.MESSAGE, case, base + 10, text="hello", topic=stated, lang="en")
        add(
            Kind.REPLY,
            case,
            base + 30,
            author_type=AuthorType.BOT.value,
            text="@amira_92 hi",
            agent_id=HOSTILE[0],
        )
        if case % 3:
            add(
                Kind.REPLY,
                case,
                base + 90,
                author_type=AuthorType.HUMAN.value,
                agent_id=HOSTILE[case % len(HOSTILE)],
                priority=Priority.URGENT.value,
            )
        if case % 2:
            add(Kind.STATUS, case, base + 120, status=Status.RESOLVED.value)
            add(Kind.MESSAGE, case, base + 4000, text="again " + HOSTILE[case % len(HOSTILE)])
    lines.append(lines[0])  # a repeat: counted as a duplicate
    return lines


def _invalid() -> list[bytes]:
    """Lines the stream refuses, with hostile values where the brand and platform go."""
    base = orjson.loads(_events(time.time())[0])
    lines = [b"{not json " + HOSTILE[0].encode(), b"\xff\xfe" + HOSTILE[2].encode(), b"[1, 2]"]
    for field, value in (
        ("brand", "@amira_92"),
        ("platform", HOSTILE[0]),
        ("brand", "Amira Smith"),
        ("kind", "tweet"),
        ("lang", "!!"),
        ("occurred_at", "yesterday"),
    ):
        lines.append(orjson.dumps({**base, field: value}))
    lines.append(orjson.dumps({**base, "text": "y" * 70_000}))
    return lines


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _allowed(settings: Settings) -> dict[str, frozenset[str]]:
    topics = load_topic_rules(ROOT / settings.topic_rules_file).topics
    return {
        "brand": frozenset(BRANDS) | {"du", "tele2", "mobifone"},  # + the webhook's config
        "platform": frozenset(PLATFORMS) | {"facebook", "instagram", "telegram"},
        "priority": frozenset(p.value for p in Priority),
        "sla": frozenset(s.value for s in Sla),
        "outcome": frozenset(o.value for o in Outcome),
        "how": frozenset(h.value for h in How),
        "kind": frozenset(k.value for k in Kind),
        "reason": frozenset(REASONS) | {UNPROCESSABLE} | frozenset(r.value for r in ErrorReason),
        "topic": frozenset(topics) | {"other"},
        "lang": settings.language_set | {"other"},
        "connector": frozenset({"webhook", "replay", "x"}),
    }


def _check_page(page: str, where: str, allowed: Mapping[str, frozenset[str]]) -> int:
    """Asserts every label of every carewatch_* sample; returns how many were checked."""
    checked = 0
    for family in text_string_to_metric_families(page):
        if not family.name.startswith("carewatch_"):
            continue
        base = family.name.removesuffix("_created")  # the creation times prometheus_client adds
        name = base if base in SERIES else f"{base}_total"  # the parser strips _total
        assert name in SERIES, f"{where}: {family.name} is not a contract series"
        declared = set(SERIES[name].labels)
        for sample in family.samples:
            for label, value in sample.labels.items():
                checked += 1
                assert value not in HOSTILE or value in allowed.get(label, ()), (
                    f"{where}: {sample.name}{{{label}={value!r}}} carries an input value"
                )
                if label in ("le", "quantile"):
                    assert value == "+Inf" or math.isfinite(float(value)), (where, sample)
                    continue
                assert label in declared, f"{where}: {sample.name} has undeclared label {label}"
                assert value in allowed[label], f"{where}: {sample.name}{{{label}={value!r}}}"
    return checked


def _webhook_traffic(service: RunningWebhook, lines: Iterable[bytes]) -> None:
    token = service.config.events.tokens[0].reveal()
    auth = {"Authorization": f"Bearer {token}"}
    for line in lines:
        service.request("POST", "/events", line + b"\n", auth)
    meta = (PAYLOADS / "meta_messenger.json").read_bytes()
    service.request("POST", "/meta", meta, meta_signature(meta))
    unknown = (PAYLOADS / "meta_unknown_page.json").read_bytes()
    service.request("POST", "/meta", unknown, meta_signature(unknown))
    service.request("POST", "/meta", meta, {"X-Hub-Signature-256": "sha256=" + HOSTILE[0]})
    service.request("POST", f"/chatwoot/{HOSTILE[3]}", b"{}", {"X-Carewatch-Token": HOSTILE[2]})
    service.request("POST", "/events", b"{" * 70_000, auth)


@pytest.mark.kafka
@pytest.mark.slow
def test_every_label_value_on_every_metrics_page_is_bounded(broker: Broker, tmp_path: Path) -> None:
    topics = make_topics(broker, partitions=2)
    settings = topics.settings
    allowed = _allowed(Settings())
    start = time.time() - 6 * 3600
    valid, invalid = _events(start), _invalid()
    worker = WorkerProcess(topics, tmp_path, "labels", mode="replay").start()
    try:
        worker.wait_partitions()
        replay(
            [*valid, *invalid],
            bootstrap=settings.bootstrap,
            topic=topics.events,
            group=topics.group,
            lateness=settings.lateness,
            timeout=180,
            progress=False,
        )
        page = _scrape(worker.port)
    finally:
        worker.stop()
    assert "carewatch_sla_decisions_total{" in page  # the log did reach the clocks
    assert "carewatch_events_rejected_total{" in page
    assert _check_page(page, "the worker", allowed) > 100

    config = webhook_config(broker.bootstrap, make_topics(broker).events)
    with RunningWebhook(config) as service:
        _webhook_traffic(service, [*valid[:6], *invalid])
        connector_page = service.request("GET", "/metrics").body.decode()
    assert 'reason="unauthenticated"' in connector_page
    assert _check_page(connector_page, "the webhook", allowed) > 5


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text: str = reply.read().decode()
    return text


@pytest.mark.parametrize(
    "sample",
    [
        'carewatch_events_total{brand="du",platform="x",kind="message"} 1',  # the control
        'carewatch_events_total{brand="amira_92",platform="x",kind="message"} 1',
        'carewatch_events_total{brand="du",platform="x",kind="1790000000000000001"} 1',
        'carewatch_mentions_total{brand="du",platform="x",topic="other",lang="@amira_92"} 1',
        'carewatch_connector_errors_total{connector="webhook",reason="signature 0xdead"} 1',
        'carewatch_cases_open{brand="du",platform="x",priority="normal",customer="c1"} 1',
        'carewatch_made_up_total{brand="du"} 1',
    ],
)
def test_the_check_refuses_any_value_outside_its_set(sample: str) -> None:
    allowed = _allowed(Settings())
    if 'kind="message"' in sample and 'brand="du"' in sample:
        assert _check_page(sample + "\n", "a page", allowed) == 3
        return
    with pytest.raises(AssertionError):
        _check_page(sample + "\n", "a page", allowed)


def test_a_topic_stated_by_the_sender_is_bounded_too() -> None:
    registry = CollectorRegistry()
    settings = Settings()
    topics = load_topic_rules(ROOT / settings.topic_rules_file).topics
    metrics = StreamMetrics(registry, [3600.0], settings.language_set, topics=topics)
    metrics.mention("du", "x", "amira_92", "en")
    _check_page(generate_latest(registry).decode(), "a worker's registry", _allowed(Settings()))
