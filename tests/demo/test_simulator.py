"""The traffic simulator: repeatable, valid events only, and the shape of each scenario."""

from __future__ import annotations

import statistics
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest

from connectors.simulator import (
    BRANDS,
    GIVEN_LANG_SHARE,
    OUTAGE_BRAND,
    OUTAGE_CATCH_UP,
    OUTAGE_HOURS,
    OUTAGE_START,
    SHIFT,
    Simulation,
    run,
)
from connectors.simulator_phrases import FOLLOW_UPS, MESSAGES
from streams.control import CONTROL_HEADER, parse_clock_marker
from streams.events import AuthorType, CareEvent, Kind, decode_event, encode_event
from tests.conftest import Broker, make_topics
from tests.e2e.workers import read_topic

START = 1_790_000_000.0  # 2026-09-21T14:13:20Z
HOURS = 6


def simulate(scenario: str = "normal", seed: int = 7, hours: float = HOURS) -> list[CareEvent]:
    return Simulation(scenario, seed, START).advance(START + hours * 3600)


def test_the_same_seed_gives_the_same_events_however_time_advances() -> None:
    whole = simulate(seed=3)
    stepped = Simulation("normal", 3, START)
    pieces: list[CareEvent] = []
    for step in range(1, 1000):
        pieces.extend(stepped.advance(START + step * HOURS * 3600 / 999))
    assert pieces == whole
    assert simulate(seed=4) != whole


def test_every_event_is_valid_unique_and_in_time_order() -> None:
    events = [e for scenario in ("normal", "outage", "bots") for e in simulate(scenario)]
    assert len(events) > 3000
    for event in events:
        assert decode_event(encode_event(event)) == event  # encode_event validates
    for scenario in ("normal", "outage", "bots"):
        log = simulate(scenario)
        assert [e.occurred_at for e in log] == sorted(e.occurred_at for e in log)
        assert len({e.event_id for e in log}) == len(log)


def test_a_log_covers_brands_platforms_kinds_and_languages() -> None:
    events = simulate()
    assert {e.brand for e in events} == {b.name for b in BRANDS}
    assert {"x", "facebook", "telegram", "webchat", "email"} <= {e.platform for e in events}
    kinds = Counter((e.kind, e.author_type, e.status) for e in events)
    assert {k for k, _, _ in kinds} == set(Kind)
    statuses = {s for _, _, s in kinds if s}
    assert {"resolved", "pending"} <= {s.value for s in statuses}
    messages = [e for e in events if e.kind is Kind.MESSAGE]
    assert all(e.text for e in messages)
    assert all(e.topic is None for e in messages)  # the stream classifies every topic
    given = sum(e.lang is not None for e in messages) / len(messages)
    assert GIVEN_LANG_SHARE / 2 < given < GIVEN_LANG_SHARE * 2
    langs = {e.lang for e in messages if e.lang}
    assert langs == {"ar", "ru", "vi", "zh", "en", "et"}


def local_hour(event: CareEvent) -> float:
    offset = next(b.utc_offset for b in BRANDS if b.name == event.brand)
    return (event.occurred_at / 3600 + offset) % 24


def on_shift(event: CareEvent) -> bool:
    return SHIFT[0] <= local_hour(event) < SHIFT[1]


def test_bots_answer_first_at_night_and_people_answer_slower() -> None:
    events = simulate(hours=48)
    first_answer: dict[str, CareEvent] = {}
    opened: dict[str, CareEvent] = {}
    for e in events:
        if e.kind is Kind.MESSAGE:
            opened.setdefault(e.case_key, e)
        elif e.kind is Kind.REPLY and e.visibility.value != "internal":
            first_answer.setdefault(e.case_key, e)
    night = [k for k, m in opened.items() if not on_shift(m) and k in first_answer]
    day = [k for k, m in opened.items() if on_shift(m) and k in first_answer]
    assert len(night) > 50
    assert len(day) > 50
    assert all(first_answer[k].author_type is not AuthorType.HUMAN for k in night)
    by_bot = sum(first_answer[k].author_type is not AuthorType.HUMAN for k in day)
    assert by_bot < 0.2 * len(day)  # by day bots answer now and then

    first_human: dict[str, float] = {}
    for e in events:
        if e.author_type is AuthorType.HUMAN:
            first_human.setdefault(e.case_key, e.occurred_at)

    def median_human_wait(keys: list[str]) -> float:
        waits = [first_human[k] - opened[k].occurred_at for k in keys if k in first_human]
        return statistics.median(waits)

    assert median_human_wait(night) > 1.5 * median_human_wait(day)


def first_reply_waits(events: list[CareEvent], brand: str) -> list[float]:
    first_message: dict[str, float] = {}
    waits = []
    for e in events:
        if e.brand != brand:
            continue
        if e.kind is Kind.MESSAGE:
            first_message.setdefault(e.case_key, e.occurred_at)
        elif e.author_type is AuthorType.HUMAN and e.case_key in first_message:
            waits.append(e.occurred_at - first_message.pop(e.case_key))
    return waits


def test_an_outage_surges_network_messages_and_slows_the_people() -> None:
    normal, outage = simulate("normal"), simulate("outage")
    begins, ends = START + OUTAGE_START, START + OUTAGE_START + OUTAGE_HOURS * 3600

    def messages(log: list[CareEvent]) -> list[CareEvent]:
        return [
            e
            for e in log
            if e.kind is Kind.MESSAGE and e.brand == OUTAGE_BRAND and begins <= e.occurred_at < ends
        ]

    assert len(messages(outage)) > 3 * len(messages(normal))
    network = set(MESSAGES["ru"]["network_quality"])
    follow_ups = set(FOLLOW_UPS["ru"])
    opening = [e for e in messages(outage) if e.text not in follow_ups]
    assert sum(e.text in network for e in opening) > 0.6 * len(opening)
    slow = statistics.median(first_reply_waits(outage, OUTAGE_BRAND))
    usual = statistics.median(first_reply_waits(normal, OUTAGE_BRAND))
    assert slow > 2 * usual
    others = [e for e in outage if e.brand != OUTAGE_BRAND]
    assert others == [e for e in normal if e.brand != OUTAGE_BRAND]  # only one brand is hit


def answered_waits(events: list[CareEvent]) -> list[tuple[CareEvent, float]]:
    """Each customer message that waited for a person, with the instant one answered it
    (a qualifying reply: human, not internal), in simulated seconds."""
    waiting: dict[str, list[CareEvent]] = {}
    out: list[tuple[CareEvent, float]] = []
    for e in events:
        if e.kind is Kind.MESSAGE:
            waiting.setdefault(e.case_key, []).append(e)
        elif (
            e.kind is Kind.REPLY
            and e.author_type is AuthorType.HUMAN
            and e.visibility.value != "internal"
        ):
            out.extend((m, e.occurred_at) for m in waiting.pop(e.case_key, []))
    return out


def test_normal_traffic_misses_no_reply_deadline_of_the_example_policy() -> None:
    # What keeps the alerts quiet outside an outage: every wait for a person within the
    # tightest target that applies (15 min urgent, 30 min next reply on Telegram, 60 min).
    waits = answered_waits(simulate(hours=48))
    assert len(waits) > 3000
    longest = max(answered - m.occurred_at for m, answered in waits)
    urgent = max(answered - m.occurred_at for m, answered in waits if m.priority == "urgent")
    assert longest <= 25 * 60
    assert urgent <= 8 * 60


def test_an_outage_breaches_most_first_replies_then_its_backlog_is_cleared() -> None:
    log = simulate("outage", hours=8)
    begins, ends = START + OUTAGE_START, START + OUTAGE_START + OUTAGE_HOURS * 3600
    during = [
        (m, answered)
        for m, answered in answered_waits(log)
        if m.brand == OUTAGE_BRAND and begins <= m.occurred_at < ends
    ]
    assert len(during) > 200
    assert max(answered for _, answered in during) <= ends + OUTAGE_CATCH_UP[1]
    first_seen: set[str] = set()
    first_waits = []
    for m, answered in sorted(during, key=lambda pair: pair[0].occurred_at):
        if m.case_key not in first_seen:
            first_seen.add(m.case_key)
            first_waits.append(answered - m.occurred_at)
    late = sum(wait > 3600 for wait in first_waits)
    assert late > 0.6 * len(first_waits)  # most miss even a 60-minute first reply target
    case_began: dict[str, float] = {}
    for e in log:
        case_began.setdefault(e.case_key, e.occurred_at)
    after = [  # cases opened after the outage (an outage case's follow-ups wait with it)
        answered - m.occurred_at
        for m, answered in answered_waits(log)
        if m.brand == OUTAGE_BRAND and case_began[m.case_key] >= ends
    ]
    assert len(after) > 50
    assert max(after) <= 25 * 60  # then back to normal


def test_every_case_is_resolved_within_hours() -> None:
    # So no resolution deadline (12 business hours at the least) is breached either.
    events = simulate(hours=48)
    opened: dict[str, float] = {}  # case key -> start of its open cycle
    durations = []
    for e in events:
        if e.kind is Kind.MESSAGE or (e.status is not None and e.status.value == "reopened"):
            opened.setdefault(e.case_key, e.occurred_at)
        elif e.status is not None and e.status.value == "resolved" and e.case_key in opened:
            durations.append(e.occurred_at - opened.pop(e.case_key))
    still_open = [at for at in opened.values() if at < START + 36 * 3600]
    assert len(durations) > 1000
    assert still_open == []
    assert max(durations) < 10 * 3600


def test_the_bots_scenario_answers_every_message_with_a_bot_first() -> None:
    def bot_share(log: list[CareEvent]) -> float:
        replies = [e for e in log if e.kind is Kind.REPLY and e.visibility.value != "internal"]
        return sum(e.author_type is not AuthorType.HUMAN for e in replies) / len(replies)

    assert bot_share(simulate("bots")) > 0.45
    assert bot_share(simulate("normal")) < 0.3


def test_an_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        Simulation("storm", 1, START)


@pytest.mark.kafka
def test_run_sends_events_then_clock_markers_to_every_partition(
    broker: Broker, tmp_path: Path
) -> None:
    topics = make_topics(broker, partitions=3)
    status_file = tmp_path / "status.json"
    status = run(
        Simulation("outage", 1, START),
        bootstrap=broker.bootstrap,
        topic=topics.events,
        speed=3600.0,  # an hour per wall second
        stop=threading.Event(),
        duration=3.0,
        status_path=status_file,
    )
    assert status.events > 100
    assert status.markers >= 3
    assert orjson.loads(status_file.read_bytes())["events"] == status.events
    consumer_view = read_topic(broker.bootstrap, topics.events)
    keyed = [(k, decode_event(v)) for k, v in consumer_view if k is not None]
    assert len(keyed) == status.events
    assert all(k == e.case_key.encode() for k, e in keyed)  # keyed by case key
    markers = [parse_clock_marker(v) for k, v in consumer_view if k is None]
    assert len(markers) == 3 * status.markers
    assert all(m is not None and START <= m <= status.sim_time for m in markers)
    assert CONTROL_HEADER  # markers are told apart by their header; the key is None
