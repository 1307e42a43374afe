"""The hostile-input drill: the event parser, the webhooks and a real worker's dead letters.

Four parts, the first three on the inputs of :mod:`drills.hostile_inputs`:

1. **parser**: :func:`streams.events.decode_event` on every input. Each invalid input
   must raise ``InvalidEvent`` with one of the contract's reason codes; nothing else may
   escape; valid edge cases (year 1, year 9999) are accepted. The slowest call is kept.
2. **webhooks**: the real ``serve`` (in a thread, as the connector tests run it) gets
   the inputs on ``POST /events`` (bearer token), ``POST /meta`` (correctly signed) and
   ``POST /chatwoot/{account}`` (URL token), plus unauthenticated and badly signed
   requests and odd verification queries on ``GET /meta``. Every answer must be 2xx or
   a 4xx whose body names a reason (``errors[0].reason``); a 5xx other than 503
   ``kafka_unavailable``, or a dropped connection, is a failure; an invalid event
   accepted by ``/events`` is a failure too.
3. **dead letters**: a sample of the inputs (up to 900 KB each, Kafka's default limit is
   1 MB) produced straight to a worker's events topic, with and without keys, then a
   clock marker: every input the parser rejects must be in ``care.deadletter.v1`` with
   the same reason, the worker must still be running and healthy (the valid
   far-timestamp inputs are left to part 4).
4. **far timestamps**: valid events dated year 1 and year 9999, replayed through a
   worker: they must be consumed and committed like any other (:func:`far_timestamps`).

Resident memory of this process (parser and webhooks) and of the worker is taken before
and after: it must stay within a bound (``RSS_GROWTH``).
"""

from __future__ import annotations

import gc
import itertools
import os
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
from kafka import KafkaProducer

from connectors.replay import ReplayTimeout, replay
from drills.checks import GroupProgress
from drills.hostile_inputs import FAMILIES, FAR_TIMESTAMPS, VALID, Hostile, hostile_inputs
from drills.rig import (
    DrillError,
    Result,
    Rig,
    alive,
    crash_reasons,
    rss,
    stop_worker,
    wait_for,
    worker_log,
)
from streams.control import clock_marker
from streams.errors import InvalidEvent
from streams.events import REASONS, decode_event
from tests.connectors.harness import (
    CHATWOOT_TOKEN,
    RunningWebhook,
    meta_signature,
    read_topic,
    webhook_config,
)

RSS_GROWTH = 64 * 2**20  # bytes: more growth than this over a run is a failure
DEADLETTER_MAX = 900_000  # bytes: larger inputs are not sent to the worker
WEBHOOK_SHARE = 4  # every fourth input goes to the webhooks too


def _parse(item: Hostile) -> tuple[str, float]:
    """``(outcome, seconds)``: a reason code, ``accepted``, or ``crash:<exception>``."""
    began = time.perf_counter()
    try:
        decode_event(item.body)
        outcome = "accepted"
    except InvalidEvent as exc:
        outcome = exc.reason
    except Exception as exc:  # the drill's finding: anything else escaping the parser
        outcome = f"crash:{type(exc).__name__}"
    return outcome, time.perf_counter() - began


def parser_part(items: Iterable[Hostile], result: Result) -> tuple[dict[str, Any], dict[int, str]]:
    outcomes: dict[int, str] = {}
    by_family: dict[str, Counter[str]] = {f: Counter() for f in FAMILIES}
    slowest = (0.0, "")
    for n, item in enumerate(items):
        outcome, seconds = _parse(item)
        outcomes[n] = outcome
        by_family[item.family][outcome] += 1
        slowest = max(slowest, (seconds, item.family))
        where = (
            f"input {n} ({item.family}, {item.body[:80]!r}{'...' if len(item.body) > 80 else ''})"
        )
        if outcome.startswith("crash:"):
            result.require(False, f"parser: {outcome} on {where}")
        elif outcome == "accepted":
            result.require(item.must_reject is not True, f"parser accepted invalid {where}")
        else:
            result.require(outcome in REASONS, f"parser: unknown reason {outcome!r} on {where}")
            result.require(
                item.must_reject is not False, f"parser rejected valid {where}: {outcome}"
            )
    figures = {
        "inputs": len(outcomes),
        "by_family": {f: dict(c) for f, c in by_family.items()},
        "slowest_seconds": slowest[0],
        "slowest_family": slowest[1],
    }
    return figures, outcomes


def _answered(reply: Any) -> str:
    """``2xx``, a 4xx reason, or ``bad:<why>``."""
    if 200 <= reply.status < 300:
        return "2xx"
    if reply.status == 503:
        return "503:kafka_unavailable"
    if 400 <= reply.status < 500:
        try:
            reason = reply.json()["errors"][0]["reason"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"bad:{reply.status} without a reason"
        return f"{reply.status}:{reason}"
    return f"bad:{reply.status}"


def webhook_part(rig: Rig, items: Iterable[Hostile], result: Result) -> dict[str, Any]:
    topics = rig.topics()
    answers: dict[str, Counter[str]] = {}
    tried = 0

    def record(endpoint: str, item: Hostile | None, call: Any) -> None:
        nonlocal tried
        tried += 1
        try:
            outcome = _answered(call())
        except OSError as exc:
            outcome = f"bad:connection {type(exc).__name__}"
        answers.setdefault(endpoint, Counter())[outcome] += 1
        what = f"{endpoint} {item.family if item else ''} {item.body[:60]!r}" if item else endpoint
        result.require(not outcome.startswith("bad:"), f"webhook {outcome} on {what}")
        if endpoint == "/events" and item is not None and item.must_reject:
            result.require(outcome != "2xx", f"webhook accepted an invalid event: {what}")

    config = webhook_config(rig.bootstrap, topics.events)
    with RunningWebhook(config) as service:
        for item in items:
            body = item.body
            record("/events", item, lambda b=body: service.post_events(b))
            record("/meta", item, lambda b=body: service.post_meta(b))
            record(
                "/chatwoot",
                item,
                lambda b=body: service.request("POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", b),
            )
        hostile_auth = [
            ("/events no auth", lambda: service.request("POST", "/events", b"{}")),
            ("/events bad token", lambda: service.post_events(b"{}", token="x" * 5000)),
            (
                "/events forged signature",
                lambda: service.request(
                    "POST",
                    "/events",
                    b"{}",
                    {"X-Carewatch-Signature": "sha256=" + "0" * 64, "X-Carewatch-Timestamp": "1"},
                ),
            ),
            ("/meta unsigned", lambda: service.request("POST", "/meta", b"{}")),
            (
                "/meta bad signature",
                lambda: service.request("POST", "/meta", b"{}", meta_signature(b"other")),
            ),
            ("/chatwoot no token", lambda: service.request("POST", "/chatwoot/7", b"{}")),
            (
                "/chatwoot unknown account",
                lambda: service.request("POST", f"/chatwoot/99?token={CHATWOOT_TOKEN}", b"{}"),
            ),
            (
                "GET /meta bad verify",
                lambda: service.request(
                    "GET", "/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=%ff%00"
                ),
            ),
            ("GET /meta empty", lambda: service.request("GET", "/meta")),
            (
                "/events 3 MB",
                lambda: service.post_events(b"[" + b"0," * 1_500_000 + b"0]"),
            ),
        ]
        for endpoint, call in hostile_auth:
            record(endpoint, None, call)
    return {"requests": tried, "answers": {k: dict(v) for k, v in answers.items()}}


def deadletter_part(
    rig: Rig, items: Iterable[Hostile], outcomes: dict[int, str], result: Result
) -> dict[str, Any]:
    topics = rig.topics()
    worker = rig.worker(topics, "hostile").start()
    worker.wait_partitions(4, timeout=180)
    assert worker.proc is not None
    rss_before = rss(worker.proc.pid)
    producer = KafkaProducer(
        bootstrap_servers=rig.bootstrap, acks="all", linger_ms=20, max_request_size=1_048_000
    )
    placed: dict[tuple[int, int], int] = {}
    sent = 0
    try:
        futures = []
        for n, item in enumerate(items):
            if len(item.body) > DEADLETTER_MAX or item.family == "far_timestamp":
                continue
            key = None if n % 2 else f"k{n}".encode()
            futures.append((n, producer.send(topics.events, key=key, value=item.body)))
        headers, value = clock_marker(2e9, final=True)
        for partition in range(4):
            producer.send(topics.events, value=value, headers=headers, partition=partition)
        producer.flush()
        for n, future in futures:
            meta = future.get(timeout=60)
            placed[(meta.partition, meta.offset)] = n
        sent = len(futures)
    finally:
        producer.close()
    progress = GroupProgress(rig.bootstrap, topics.events, topics.group)
    try:
        total = progress.ends() or 0
        wait_for(
            lambda: (progress.committed() or 0) >= total or not alive(worker),
            120 + sent / 50,
            "the hostile inputs consumed",
        )
        stalled = None
    except DrillError:
        stalled = f"committed {progress.committed()} of {total}"
    finally:
        progress.close()
    result.require(alive(worker), f"the worker died on hostile input: {worker_log(worker)}")
    crashes = crash_reasons(worker)
    result.require(not crashes, f"the worker's agent crashed: {crashes}")
    result.require(stalled is None, f"the worker stopped committing: {stalled}")
    health = worker.health()
    result.require(health is not None and health["status"] == "ok", f"worker health {health}")
    rss_after = rss(worker.proc.pid) if alive(worker) else 0
    letters = [
        orjson.loads(v) for _, v in read_topic(rig.bootstrap, topics.deadletter, timeout=600)
    ]
    got: dict[int, str] = {}
    for letter in letters:
        source = placed.get((letter["partition"], letter["offset"]))
        if source is not None:
            got[source] = letter["reason"]
    rejected = {n: outcomes[n] for n in placed.values() if outcomes[n] != "accepted"}
    missing = sorted(set(rejected) - set(got))
    differing = sorted(n for n in rejected if n in got and got[n] != rejected[n])
    extra = sorted(n for n in got if n not in rejected)
    result.require(
        not missing, f"{len(missing)} rejected inputs not in the dead letters, e.g. {missing[:5]}"
    )
    result.require(
        not differing, f"{len(differing)} dead letters with another reason, e.g. {differing[:5]}"
    )
    result.require(not extra, f"{len(extra)} accepted inputs in the dead letters, e.g. {extra[:5]}")
    growth = rss_after - rss_before
    result.require(growth < RSS_GROWTH, f"worker RSS grew {growth / 2**20:.0f} MiB")
    stop_worker(worker)
    return {
        "sent": sent,
        "agent_crashes": crashes,
        "stalled": stalled,
        "rejected_by_parser": len(rejected),
        "dead_letters": len(letters),
        "dead_letter_reasons": dict(Counter(got.values())),
        "worker_rss_before_mib": rss_before / 2**20,
        "worker_rss_after_mib": rss_after / 2**20,
    }


def far_timestamps(rig: Rig, result: Result, timeout: float = 90.0) -> dict[str, Any]:
    """Valid events whose ``occurred_at`` is in year 1 or 9999 (RFC 3339 allows both), one
    case each, replayed through a worker: the group must commit them and the final
    markers, and the worker's agent must not crash (RELIABILITY.md, Found 1)."""
    topics = rig.topics()
    worker = rig.worker(topics, "far").start()
    worker.wait_partitions(4, timeout=180)
    lines = [
        orjson.dumps(dict(VALID, event_id=f"far-{n}", thread_id=f"far-{n}", occurred_at=stamp))
        for n, stamp in enumerate(FAR_TIMESTAMPS)
    ]
    stalled = None
    try:
        replay(
            lines,
            bootstrap=rig.bootstrap,
            topic=topics.events,
            group=topics.group,
            lateness=60.0,
            timeout=timeout,
            progress=False,
        )
    except ReplayTimeout as exc:
        stalled = str(exc)
    crashes = crash_reasons(worker)
    result.require(alive(worker), f"far timestamps: the worker died: {worker_log(worker)}")
    result.require(not crashes, f"far timestamps: the worker's agent crashed: {crashes}")
    result.require(stalled is None, f"far timestamps: the replay stalled: {stalled}")
    stop_worker(worker)
    return {"events": len(lines), "agent_crashes": crashes, "stalled": stalled}


def hostile(rig: Rig, inputs: int, seed: int, far: bool = True) -> Result:
    """``far``: also replay valid events dated year 1 and 9999 (:func:`far_timestamps`)."""
    flag = "" if far else " --no-far-timestamps"
    result = Result(
        "hostile input",
        f"python -m drills --only hostile --hostile-inputs {inputs} --seed {seed}{flag}",
    )
    began = time.monotonic()
    gc.collect()
    me = os.getpid()
    rss_before = rss(me)
    # Drawn anew for each part (the same seeded sequence), so none holds every body at once.
    parser, outcomes = parser_part(hostile_inputs(inputs, seed), result)
    shared = itertools.islice(hostile_inputs(inputs, seed), 0, None, WEBHOOK_SHARE)
    web = webhook_part(rig, shared, result)
    gc.collect()
    rss_after = rss(me)
    dead = deadletter_part(rig, hostile_inputs(inputs, seed), outcomes, result)
    far_figures = far_timestamps(rig, result) if far else {"skipped": True}
    growth = rss_after - rss_before
    result.require(growth < RSS_GROWTH, f"drill process RSS grew {growth / 2**20:.0f} MiB")
    tried = inputs + web["requests"] + dead["sent"]
    result.figures = {
        "inputs_tried": tried,
        "parser": parser,
        "webhooks": web,
        "dead_letters": dead,
        "far_timestamps": far_figures,
        "rss_before_mib": rss_before / 2**20,
        "rss_after_mib": rss_after / 2**20,
        "seconds": time.monotonic() - began,
        "atheris": "in the fuzz drill (drills/fuzz.py)",
    }
    accepted = sum(c.get("accepted", 0) for c in parser["by_family"].values())
    result.summary = (
        f"{tried:,} inputs: parser {inputs:,} ({inputs - accepted:,} rejected with a reason, "
        f"{accepted:,} valid edge cases accepted; slowest {parser['slowest_seconds'] * 1000:.1f} ms), "
        f"webhooks {web['requests']:,} requests, worker {dead['sent']:,} messages "
        f"→ {dead['dead_letters']:,} dead letters; RSS {rss_before / 2**20:.0f}→{rss_after / 2**20:.0f} MiB "
        f"(drill), {dead['worker_rss_before_mib']:.0f}→{dead['worker_rss_after_mib']:.0f} MiB (worker)"
    )
    return result
