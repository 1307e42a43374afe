"""From Kafka messages to clock steps: dead letters, re-keying, stream clocks, markers,
duplicates and mentions, through :class:`CaseProcessor` without Faust or a broker."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.cases import CaseStore
from streams.clocks import Outcome, Sla
from streams.control import CONTROL_HEADER, clock_marker
from streams.errors import InvalidEvent
from streams.events import (
    MAX_EVENT_BYTES,
    AuthorType,
    CareEvent,
    Kind,
    Priority,
    decode_event,
    encode_event,
)
from streams.metrics import StreamMetrics
from streams.policy import Policy, PolicyBook, Targets
from streams.processor import CaseProcessor, Mode, Output, partition_for

TOPIC = "care.events.v1"
PARTITIONS = 4
LATENESS = 60.0
FIRST_REPLY = 900.0
T0 = 1_790_000_000.0
BOOK = PolicyBook.uniform(Policy("test", Targets(first_reply=FIRST_REPLY)))
LANGUAGES = ("ru", "en")


def key_on(partition: int, start: int = 0) -> tuple[str, str]:
    """A case key (``x:du:thread-1:{customer}``) that Kafka puts on ``partition``, and its customer."""
    for n in range(start, start + 1000):
        key = f"x:du:thread-1:c{n}"
        if partition_for(key, PARTITIONS) == partition:
            return key, f"c{n}"
    raise AssertionError("no key found")


P = 2
OTHER = 3
KEY, CUSTOMER = key_on(P)
KEY2, CUSTOMER2 = key_on(P, start=int(CUSTOMER[1:]) + 1)


def message(
    at: float, event_id: str = "m1", customer: str = CUSTOMER, **fields: object
) -> CareEvent:
    return CareEvent(event_id, Kind.MESSAGE, "x", "du", "thread-1", customer, at, **fields)  # type: ignore[arg-type]


def reply(at: float, event_id: str = "r1", customer: str = CUSTOMER) -> CareEvent:
    return CareEvent(
        event_id, Kind.REPLY, "x", "du", "thread-1", customer, at, author_type=AuthorType.HUMAN
    )


@dataclass
class Rig:
    processor: CaseProcessor
    registry: CollectorRegistry
    wall: list[float] = field(default_factory=lambda: [T0])
    offset: int = 0

    def send(
        self, event: CareEvent | bytes | None, partition: int = P, key: bytes | None = None
    ) -> Output:
        value = encode_event(event) if isinstance(event, CareEvent) else event
        if key is None and isinstance(event, CareEvent):
            key = event.case_key.encode()
        self.offset += 1
        return self.processor.handle(TOPIC, partition, self.offset, key, value, {})

    def marker(self, advance_to: float, partition: int = P, final: bool = False) -> Output:
        headers, value = clock_marker(advance_to, final=final)
        self.offset += 1
        return self.processor.handle(TOPIC, partition, self.offset, None, value, dict(headers))

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def rig(mode: Mode) -> Rig:
    registry = CollectorRegistry()
    metrics = StreamMetrics(
        registry, BOOK.target_seconds(), LANGUAGES, topics=("network", "billing")
    )
    wall = [T0]
    wall_clock: Callable[[], float] = lambda: wall[0]  # noqa: E731
    store = CaseStore({}, LATENESS, 7 * 86400.0)
    processor = CaseProcessor(
        store,
        BOOK,
        metrics,
        mode=mode,
        lateness=LATENESS,
        partitions=PARTITIONS,
        wall_clock=wall_clock,
    )
    return Rig(processor, registry, wall)


DU_X = {"brand": "du", "platform": "x"}


# -- partitioning --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "java_murmur2"),
    [
        # Kafka's own vectors (clients/.../utils/UtilsTest.testMurmur2), signed 32-bit.
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
@pytest.mark.parametrize("partitions", [1, 3, 4, 12])
def test_partition_for_is_kafkas_default_partitioner(
    key: str, java_murmur2: int, partitions: int
) -> None:
    # DefaultPartitioner: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions
    assert partition_for(key, partitions) == (java_murmur2 & 0x7FFFFFFF) % partitions


# -- dead letters --------------------------------------------------------------------

TOO_LARGE = b'{"text": "' + b"a" * MAX_EVENT_BYTES + b'"}'
BAD_PLATFORM = encode_event(message(T0)).replace(b'"platform":"x"', b'"platform":"X!"')


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe{}", "bad_encoding"),
        (None, "bad_encoding"),  # a tombstone is not a byte string (streams.events)
        (b"not json", "bad_json"),
        (b"[1, 2]", "not_object"),
        (b"{}", "missing_field"),
        (BAD_PLATFORM, "bad_token"),
        (TOO_LARGE, "too_large"),
    ],
    ids=["utf8", "tombstone", "json", "array", "empty-object", "token", "too-large"],
)
def test_an_invalid_message_becomes_one_dead_letter_and_one_rejection(
    value: bytes | None, reason: str
) -> None:
    r = rig(Mode.REPLAY)
    with pytest.raises(InvalidEvent) as invalid:
        decode_event(value)
    assert invalid.value.reason == reason
    out = r.processor.handle(TOPIC, 1, 4711, b"orig-key", value, {})
    assert out.decisions == []
    assert out.forwards == []
    assert len(out.deadletters) == 1
    key, record = out.deadletters[0]
    assert key == b"orig-key"
    doc = orjson.loads(record)
    assert doc == {
        "reason": reason,
        "detail": invalid.value.detail,
        "topic": TOPIC,
        "partition": 1,
        "offset": 4711,
        "value_b64": doc["value_b64"],
    }
    assert base64.b64decode(doc["value_b64"], validate=True) == (value or b"")
    assert r.value("carewatch_events_rejected_total", reason=reason) == 1.0
    assert r.processor.watermarks == {}
    assert len(r.processor.store) == 0


def test_the_stream_goes_on_after_a_dead_letter() -> None:
    r = rig(Mode.REPLAY)
    r.send(b"garbage")
    r.send(b"garbage")
    out = r.send(message(T0))
    assert out.deadletters == []
    assert r.value("carewatch_events_rejected_total", reason="bad_json") == 2.0
    assert r.value("carewatch_events_total", **DU_X, kind="message") == 1.0


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"])
def test_a_valid_event_the_clocks_cannot_run_goes_to_the_dead_letters(occurred_at: str) -> None:
    """RELIABILITY.md, Found 1: valid by the contract, it crashed the agent and stalled
    the partition; now it is a dead letter, and the partition's clock does not move."""
    r = rig(Mode.REPLAY)
    r.send(message(T0))
    doc = orjson.loads(encode_event(message(T0, "m2")))
    doc["occurred_at"] = occurred_at
    out = r.send(orjson.dumps(doc), key=KEY.encode())
    assert [orjson.loads(v)["reason"] for _, v in out.deadletters] == ["bad_timestamp"]
    assert r.value("carewatch_events_rejected_total", reason="bad_timestamp") == 1.0
    assert r.processor.watermarks == {P: T0}
    assert r.send(reply(T0 + 60)).deadletters == []  # the stream goes on


class FailingPolicies:
    """A policy lookup that fails for one brand, standing in for a defect in the clocks."""

    def __init__(self, inner: PolicyBook) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def match(self, brand: str, *args: object, **kwargs: object) -> object:
        if brand == "broken":
            raise RuntimeError("a defect")
        return self.inner.match(brand, *args, **kwargs)


def test_a_case_the_clocks_fail_on_never_stops_the_partition() -> None:
    r = rig(Mode.REPLAY)
    r.processor.policies = FailingPolicies(BOOK)  # type: ignore[assignment]
    # Pending when it arrives (within the lateness): it fails later, in the tick, where
    # only that case is skipped and logged.
    assert r.send(CareEvent("b1", Kind.MESSAGE, "x", "broken", "t-9", "c9", T0)).deadletters == []
    assert r.send(message(T0 + 3600)).deadletters == []
    # Older than the clock minus the lateness: applied at once, it fails in on_event and
    # becomes a dead letter with its own reason.
    out = r.send(CareEvent("b2", Kind.MESSAGE, "x", "broken", "t-8", "c8", T0 + 60))
    assert [orjson.loads(v)["reason"] for _, v in out.deadletters] == ["unprocessable"]
    assert r.value("carewatch_events_rejected_total", reason="unprocessable") == 1.0
    assert r.send(reply(T0 + 3700)).deadletters == []  # the partition goes on
    assert r.value("carewatch_events_total", **DU_X, kind="reply") == 1.0


# -- re-keying -----------------------------------------------------------------------


@pytest.mark.parametrize("kafka_key", [None, b"", b"du", b"x:du:thread-1"])
def test_a_wrong_key_on_the_wrong_partition_is_forwarded_with_the_case_key(
    kafka_key: bytes | None,
) -> None:
    r = rig(Mode.REPLAY)
    raw = encode_event(message(T0))
    out = r.processor.handle(TOPIC, OTHER, 1, kafka_key, raw, {})
    assert out.forwards == [(KEY.encode(), raw)]
    assert out.decisions == []
    assert out.deadletters == []
    assert len(r.processor.store) == 0  # nothing applied here ...
    assert r.processor.watermarks == {}
    assert r.value("carewatch_events_total", **DU_X, kind="message") is None
    again = r.processor.handle(TOPIC, P, 2, KEY.encode(), raw, {})  # ... but where it lands
    assert again.forwards == []
    assert r.processor.store.get(P, KEY) is not None
    assert r.value("carewatch_events_total", **DU_X, kind="message") == 1.0


@pytest.mark.parametrize("kafka_key", [None, b"something-else"])
def test_a_wrong_key_on_the_right_partition_is_applied(kafka_key: bytes | None) -> None:
    r = rig(Mode.REPLAY)
    out = r.processor.handle(TOPIC, P, 1, kafka_key, encode_event(message(T0)), {})
    assert out.forwards == []
    assert out.deadletters == []
    assert r.processor.store.get(P, KEY) is not None
    assert r.processor.watermarks == {P: T0}
    assert r.value("carewatch_events_total", **DU_X, kind="message") == 1.0


# -- replay mode: the watermark and clock markers ------------------------------------


def test_replay_watermark_is_the_highest_occurred_at_per_partition() -> None:
    r = rig(Mode.REPLAY)
    assert r.processor.clock(P) is None
    assert r.processor.tick(P) == []
    r.send(message(T0 + 100))
    r.send(message(T0 + 50, "m2", customer=CUSTOMER2))  # older: the watermark stays
    assert r.processor.watermarks == {P: T0 + 100}
    assert r.processor.clock(P) == T0 + 100
    _, other_customer = key_on(OTHER)
    r.send(message(T0 + 7, "o1", customer=other_customer), partition=OTHER)
    assert r.processor.watermarks == {P: T0 + 100, OTHER: T0 + 7}
    r.wall[0] = T0 + 10**6  # the wall clock plays no part in replay mode
    assert r.processor.clock(P) == T0 + 100


def test_a_clock_marker_decides_an_unanswered_message_once_past_deadline_plus_lateness() -> None:
    r = rig(Mode.REPLAY)
    assert r.send(message(T0)).decisions == []
    deadline = T0 + FIRST_REPLY
    assert r.marker(deadline + LATENESS).decisions == []  # not yet passed
    assert r.processor.watermarks[P] == deadline + LATENESS
    assert r.marker(deadline + LATENESS + 0.5, partition=OTHER).decisions == []  # elsewhere
    out = r.marker(deadline + LATENESS + 0.5)
    assert out.forwards == []
    assert out.deadletters == []
    assert [(d.case_key, d.sla, d.outcome) for d in out.decisions] == [
        (KEY, Sla.FIRST_REPLY, Outcome.BREACHED)
    ]
    breach = out.decisions[0]
    assert (breach.cycle, breach.n, breach.priority) == (1, 1, Priority.NORMAL)
    assert (breach.deadline, breach.decided_at) == (deadline, deadline + LATENESS)
    assert breach.target_seconds == FIRST_REPLY
    assert breach.elapsed_seconds == FIRST_REPLY
    assert r.marker(deadline + 10 * FIRST_REPLY).decisions == []  # decided once
    assert r.send(reply(deadline + 20)).decisions == []  # a late answer changes nothing
    labels = {**DU_X, "priority": "normal", "sla": "first_reply"}
    assert r.value("carewatch_sla_decisions_total", **labels, outcome="breached") == 1.0
    assert r.value("carewatch_sla_decisions_total", **labels, outcome="met") is None


def test_a_later_event_on_the_partition_moves_the_watermark_and_decides_due_deadlines() -> None:
    r = rig(Mode.REPLAY)
    r.send(message(T0))
    before = r.send(message(T0 + FIRST_REPLY + LATENESS, "m2", customer=CUSTOMER2))
    assert before.decisions == []
    after = r.send(message(T0 + FIRST_REPLY + LATENESS + 1, "m3", customer=CUSTOMER2))
    assert [(d.case_key, d.outcome) for d in after.decisions] == [(KEY, Outcome.BREACHED)]


def test_a_clock_marker_never_moves_the_watermark_back_and_a_bad_one_is_ignored() -> None:
    r = rig(Mode.REPLAY)
    r.send(message(T0 + 100))
    assert r.marker(T0).decisions == []
    assert r.processor.watermarks[P] == T0 + 100
    out = r.processor.handle(TOPIC, P, 99, None, b"{not json", {CONTROL_HEADER: b"clock"})
    assert out == Output()
    assert r.processor.watermarks[P] == T0 + 100
    assert r.value("carewatch_events_rejected_total", reason="bad_json") is None


def test_a_first_marker_starts_the_clock_of_an_idle_partition() -> None:
    r = rig(Mode.REPLAY)
    assert r.marker(T0, partition=1).decisions == []
    assert r.processor.clock(1) == T0


def test_an_answer_in_time_is_met_in_replay_mode() -> None:
    r = rig(Mode.REPLAY)
    r.send(message(T0))
    r.send(reply(T0 + FIRST_REPLY))  # exactly at the deadline
    out = r.marker(T0 + FIRST_REPLY + LATENESS)
    assert [(d.sla, d.outcome) for d in out.decisions] == [(Sla.FIRST_REPLY, Outcome.MET)]
    labels = {**DU_X, "priority": "normal"}
    assert r.value("carewatch_first_reply_seconds_sum", **labels) == FIRST_REPLY


# -- live mode -----------------------------------------------------------------------


def test_live_mode_uses_the_injected_wall_clock() -> None:
    r = rig(Mode.LIVE)
    r.wall[0] = T0 + 10
    assert r.send(message(T0)).decisions == []
    assert r.processor.clock(P) == T0 + 10
    assert r.processor.clock(OTHER) == T0 + 10
    assert r.processor.watermarks == {}
    assert r.value("carewatch_event_lag_seconds_sum", platform="x") == 10.0
    r.wall[0] = T0 + FIRST_REPLY + LATENESS
    assert r.processor.tick(P) == []
    r.wall[0] = T0 + FIRST_REPLY + LATENESS + 1
    decisions = r.processor.tick(P)
    assert [(d.case_key, d.sla, d.outcome) for d in decisions] == [
        (KEY, Sla.FIRST_REPLY, Outcome.BREACHED)
    ]
    assert r.processor.tick(P) == []


def test_live_mode_decides_an_event_already_past_its_deadline_at_once() -> None:
    live, replay = rig(Mode.LIVE), rig(Mode.REPLAY)
    live.wall[0] = T0 + 2 * FIRST_REPLY
    out = live.send(message(T0))
    assert [(d.sla, d.outcome) for d in out.decisions] == [(Sla.FIRST_REPLY, Outcome.BREACHED)]
    assert live.value("carewatch_events_late_total", **DU_X) == 1.0
    assert replay.send(message(T0)).decisions == []  # the watermark is the event itself
    assert replay.value("carewatch_events_late_total", **DU_X) is None


def test_live_mode_ignores_clock_markers() -> None:
    r = rig(Mode.LIVE)
    r.send(message(T0))
    assert r.marker(T0 + 100 * FIRST_REPLY) == Output()
    assert r.processor.watermarks == {}
    assert r.processor.clock(P) == T0


# -- duplicates and mentions ---------------------------------------------------------


def test_a_duplicate_adds_only_to_the_duplicate_counter() -> None:
    r = rig(Mode.REPLAY)
    event = message(T0, topic="network", lang="ru")
    r.send(event)
    out = r.send(event)
    assert out == Output()
    assert r.value("carewatch_events_duplicate_total", **DU_X) == 1.0
    assert r.value("carewatch_events_total", **DU_X, kind="message") == 1.0
    mention = {**DU_X, "topic": "network", "lang": "ru"}
    assert r.value("carewatch_mentions_total", **mention) == 1.0
    assert r.value("carewatch_event_lag_seconds_count", platform="x") == 1.0
    assert r.value("carewatch_events_rejected_total", reason="bad_json") is None


def test_mentions_count_each_new_customer_message_once() -> None:
    r = rig(Mode.REPLAY)
    r.send(message(T0, "m1", topic="network", lang="ru"))
    r.send(message(T0 + 1, "m2", topic="network", lang="ru"))
    r.send(message(T0 + 2, "m3", topic="billing", lang="fr"))  # not a configured language
    r.send(message(T0 + 3, "m4"))  # neither topic nor lang
    r.send(reply(T0 + 4))  # replies are not mentions
    r.send(message(T0 + 1, "m2", topic="network", lang="ru"))  # a repeat
    value = r.value
    assert value("carewatch_mentions_total", **DU_X, topic="network", lang="ru") == 2.0
    assert value("carewatch_mentions_total", **DU_X, topic="billing", lang="other") == 1.0
    assert value("carewatch_mentions_total", **DU_X, topic="other", lang="other") == 1.0
    assert value("carewatch_events_total", **DU_X, kind="reply") == 1.0
    assert value("carewatch_events_total", **DU_X, kind="message") == 4.0


def test_a_periodic_marker_moves_only_due_cases_and_the_final_one_moves_all() -> None:
    r = rig(Mode.REPLAY)
    r.send(message(T0))
    r.marker(T0 + 120)  # the message is applied: its first-reply deadline is an hour away
    state = r.processor.store.get(P, KEY)
    assert state is not None
    assert state.awaiting_since == T0
    r.marker(T0 + 180)  # periodic (the demo's): nothing due, the case is left as it was
    assert r.processor.store.get(P, KEY) is state
    r.marker(T0 + 240, final=True)  # a replay's end: every case moves to the clock
    moved = r.processor.store.get(P, KEY)
    assert moved is not None
    assert moved is not state
    assert moved.horizon == T0 + 240 - LATENESS
