"""The write-back case store: reads, due cases, expiry, checkpoints, recovery, rebalances.

The table is a plain dict standing in for the changelog-backed Faust table.
"""

from __future__ import annotations

import orjson

from streams.cases import CLOCK_KEY_PREFIX, CaseStore, clock_key
from streams.clocks import CaseState, on_event
from streams.events import AuthorType, CareEvent, Kind, Status
from streams.policy import Policy, PolicyBook, Targets
from streams.processor import partition_for

LATENESS = 60.0
RETENTION = 1000.0
FIRST_REPLY = 900.0
T0 = 1_790_000_000.0
BOOK = PolicyBook.uniform(Policy("test", Targets(first_reply=FIRST_REPLY)))


def event(key: str, at: float, kind: Kind, n: int = 1, **fields: object) -> CareEvent:
    platform, brand, thread, customer = key.split(":")
    return CareEvent(f"{key}#{n}", kind, platform, brand, thread, customer, at, **fields)  # type: ignore[arg-type]


def open_case(key: str, at: float) -> CaseState:
    """A customer wrote at ``at``; nobody answered. Its next work: the breach at
    ``at + FIRST_REPLY``, decided once the clock passes that plus the lateness."""
    return on_event(None, event(key, at, Kind.MESSAGE), at + LATENESS, BOOK, LATENESS).state


def closed_case(key: str, at: float) -> CaseState:
    """Opened at ``at`` and resolved at ``at + 10`` (its last activity)."""
    state = open_case(key, at)
    resolved = event(key, at + 10, Kind.STATUS, 2, status=Status.RESOLVED)
    state = on_event(state, resolved, at + 10 + LATENESS, BOOK, LATENESS).state
    assert not state.is_open
    assert not state.pending
    assert state.last_activity == at + 10
    return state


def store(table: dict[str, bytes] | None = None) -> CaseStore:
    return CaseStore({} if table is None else table, LATENESS, RETENTION)


A, B, C = "x:du:t1:a", "x:du:t2:b", "vk:du:t3:c"


def test_put_then_get_by_partition_and_key() -> None:
    cases = store()
    a, b = open_case(A, T0), open_case(B, T0)
    cases.put(0, a)
    cases.put(1, b)
    assert cases.get(0, A) is a
    assert cases.get(1, B) is b
    assert cases.get(1, A) is None
    assert cases.get(5, A) is None
    assert cases.partitions() == [0, 1]
    assert len(cases) == 2
    assert sorted(cases) == sorted([(0, a), (1, b)], key=lambda pair: pair[0])
    assert list(cases.cases(0)) == [a]
    newer = on_event(a, event(A, T0 + 5, Kind.MESSAGE, 2), T0 + 5, BOOK, LATENESS).state
    cases.put(0, newer)
    assert cases.get(0, A) is newer
    assert len(cases) == 2


def test_due_pops_only_the_cases_due_at_the_clock() -> None:
    cases = store()
    cases.put(0, open_case(A, T0))  # due at T0 + 900 + 60
    cases.put(0, open_case(B, T0 + 500))  # due at T0 + 1460
    cases.put(1, open_case(C, T0))  # another partition
    first_due = T0 + FIRST_REPLY + LATENESS
    assert cases.due(0, first_due - 1) == []
    assert [s.key for s in cases.due(0, first_due)] == [A]
    assert cases.due(0, first_due) == []  # popped: rescheduled only by the next put
    assert [s.key for s in cases.due(0, T0 + 10_000)] == [B]
    assert [s.key for s in cases.due(1, T0 + 10_000)] == [C]
    assert len(cases) == 3  # due cases are handed out, not removed


def test_a_case_put_again_is_due_at_its_new_instant_only() -> None:
    cases = store()
    a = open_case(A, T0)
    cases.put(0, a)
    reply = event(A, T0 + 60, Kind.REPLY, 2, author_type=AuthorType.HUMAN)
    answered = on_event(a, reply, T0 + 60 + LATENESS, BOOK, LATENESS).state
    assert answered.next_due(LATENESS) is None  # open, answered, no resolution target
    cases.put(0, answered)
    assert cases.due(0, T0 + 100 * RETENTION) == []


def test_a_closed_case_expires_after_retention_and_leaves_the_table_at_checkpoint() -> None:
    table: dict[str, bytes] = {}
    cases = store(table)
    cases.put(0, closed_case(C, T0))  # last activity T0 + 10
    assert cases.checkpoint() == 1
    assert C in table
    assert cases.due(0, T0 + 10 + RETENTION - 1) == []
    assert cases.get(0, C) is not None
    assert cases.due(0, T0 + 10 + RETENTION + 1) == []  # expired: dropped, not handed out
    assert cases.get(0, C) is None
    assert len(cases) == 0
    assert C in table  # deleted only at the checkpoint
    assert cases.dirty == 1
    assert cases.checkpoint() == 0
    assert C not in table
    assert cases.dirty == 0


def test_an_open_case_never_expires() -> None:
    cases = store()
    cases.put(0, open_case(A, T0))
    due = cases.due(0, T0 + 100 * RETENTION)
    assert [s.key for s in due] == [A]  # handed out for its breach, not dropped
    assert cases.get(0, A) is not None


def test_a_case_put_again_after_expiring_is_written_not_deleted() -> None:
    table: dict[str, bytes] = {}
    cases = store(table)
    closed = closed_case(C, T0)
    cases.put(0, closed)
    cases.checkpoint()
    cases.due(0, T0 + 10 + RETENTION + 1)
    assert cases.get(0, C) is None
    again = open_case(C, T0 + 2 * RETENTION)
    cases.put(0, again)
    assert cases.checkpoint() == 1
    assert CaseState.from_dict(orjson.loads(table[C])) == again


def test_checkpoint_writes_only_the_states_changed_since_the_last_one() -> None:
    table: dict[str, bytes] = {}
    cases = store(table)
    a, b = open_case(A, T0), closed_case(B, T0)
    cases.put(0, a)
    cases.put(1, b)
    assert cases.dirty == 2
    assert cases.checkpoint() == 2
    assert cases.dirty == 0
    for key, state in ((A, a), (B, b)):
        assert CaseState.from_dict(orjson.loads(table[key])) == state
    table[B] = b"untouched"
    assert cases.checkpoint() == 0
    newer = on_event(a, event(A, T0 + 5, Kind.MESSAGE, 2), T0 + 5 + LATENESS, BOOK, LATENESS).state
    cases.put(0, newer)
    cases.put(0, newer)  # one write per case per checkpoint, however many puts
    assert cases.dirty == 1
    assert cases.checkpoint() == 1
    assert table[B] == b"untouched"
    assert CaseState.from_dict(orjson.loads(table[A])) == newer
    assert CaseState.from_dict(orjson.loads(table[A])) != a


def test_load_keeps_the_active_partitions_and_never_overwrites_memory() -> None:
    partition_of = {A: 0, B: 0, C: 1}.__getitem__
    stale_a, b, c = open_case(A, T0), open_case(B, T0 + 500), open_case(C, T0)
    table = {key: orjson.dumps(s.to_dict()) for key, s in ((A, stale_a), (B, b), (C, c))}
    cases = store(table)
    newer_a = on_event(
        stale_a, event(A, T0 + 5, Kind.MESSAGE, 2), T0 + 5 + LATENESS, BOOK, LATENESS
    ).state
    cases.put(0, newer_a)
    assert cases.load(table.items(), partition_of, active={0}) == 1  # B only
    assert cases.get(0, A) is newer_a
    assert cases.get(0, B) == b
    assert cases.get(1, C) is None
    assert cases.partitions() == [0]
    assert [s.key for s in cases.due(0, T0 + 500 + FIRST_REPLY + LATENESS)] == [A, B]
    assert cases.dirty == 1  # loading writes nothing back


def test_load_schedules_the_loaded_cases() -> None:
    c = closed_case(C, T0)
    table = {C: orjson.dumps(c.to_dict())}
    cases = store(table)
    assert cases.load(table.items(), lambda key: 2, active={1, 2}) == 1
    cases.due(2, T0 + 10 + RETENTION + 1)  # its expiry was scheduled by the load
    assert cases.get(2, C) is None
    cases.checkpoint()
    assert table == {}


def test_drop_partitions_forgets_cases_and_unwritten_changes() -> None:
    a, b = open_case(A, T0), open_case(B, T0)
    table = {A: orjson.dumps(a.to_dict())}
    cases = store(table)
    cases.put(0, a)
    cases.checkpoint()
    cases.put(0, on_event(a, event(A, T0 + 5, Kind.MESSAGE, 2), T0 + 65, BOOK, LATENESS).state)
    cases.put(0, b)
    cases.put(1, open_case(C, T0))
    cases.drop_partitions([0, 9])
    assert cases.get(0, A) is None
    assert cases.get(0, B) is None
    assert cases.partitions() == [1]
    assert cases.due(0, T0 + 100 * RETENTION) == []
    assert cases.dirty == 1  # C only
    assert cases.checkpoint() == 1
    assert set(table) == {A, C}
    assert CaseState.from_dict(orjson.loads(table[A])) == a  # the next owner's starting point


def test_drop_partitions_forgets_expirations_not_yet_written() -> None:
    """An expiry is an unwritten change like any other: once the partition is revoked,
    the next owner may have reopened the case, and a late delete would lose it."""
    table: dict[str, bytes] = {}
    cases = store(table)
    cases.put(0, closed_case(C, T0))
    cases.checkpoint()
    cases.due(0, T0 + 10 + RETENTION + 1)  # expired here, deletion pending
    assert cases.get(0, C) is None
    cases.drop_partitions([0])
    assert cases.dirty == 0
    cases.checkpoint()
    assert C in table


def test_load_makes_exactly_the_loaded_partitions_ready_for_its_generation() -> None:
    table = {A: orjson.dumps(open_case(A, T0).to_dict())}
    cases = store(table)
    assert cases.ready == set()
    assert cases.unready_reason({0}, 0) is not None  # nothing loaded yet
    cases.load(table.items(), lambda key: 0, active={0, 1}, generation=3)
    assert (cases.ready, cases.generation) == ({0, 1}, 3)
    assert cases.unready_reason({0, 1}, 3) is None
    # A later load replaces the readiness: partitions of an older assignment never linger.
    cases.load(table.items(), lambda key: 0, active={0}, generation=4)
    assert (cases.ready, cases.generation) == ({0}, 4)


def test_unready_when_the_generation_or_the_assignment_moved_on() -> None:
    cases = store()
    cases.load([], lambda key: 0, active={0, 1}, generation=3)
    assert "generation 3, consumer at 4" in str(cases.unready_reason({0, 1}, 4))
    assert "assigned [0, 1, 2]" in str(cases.unready_reason({0, 1, 2}, 3))  # not yet loaded
    assert "assigned [0]" in str(cases.unready_reason({0}, 3))  # loaded for an older assignment
    cases.unready()  # a rebalance began
    assert (cases.ready, cases.generation) == (set(), None)
    assert cases.unready_reason({0, 1}, 3) is not None


def test_clock_keys_fall_in_their_partition_and_are_no_case_keys() -> None:
    for partitions in (1, 4, 12):
        keys = [clock_key(p, partitions) for p in range(partitions)]
        assert [partition_for(k, partitions) for k in keys] == list(range(partitions))
        assert all(k.startswith(CLOCK_KEY_PREFIX) for k in keys)
    assert clock_key(3, 4) == clock_key(3, 4)  # the same key at every checkpoint


def test_clock_changes_record_only_the_clocks_that_moved() -> None:
    cases = store()
    first = cases.clock_changes({0: T0, 1: T0 + 5}, 4)
    assert [(k, p, orjson.loads(v)) for k, p, v in first] == [
        (clock_key(0, 4), 0, {"clock": T0}),
        (clock_key(1, 4), 1, {"clock": T0 + 5}),
    ]
    assert [p for _, p, _ in cases.clock_changes({0: T0, 1: T0 + 9}, 4)] == [1]
    assert cases.clock_changes({0: T0, 1: T0 + 9}, 4) == []


def test_load_reads_the_clock_records_of_the_active_partitions_apart_from_the_cases() -> None:
    writer = store()
    table = {A: orjson.dumps(open_case(A, T0).to_dict())}
    for key, _, record in writer.clock_changes({0: T0 + 7, 1: T0 + 8, 2: T0 + 9}, 4):
        table[key] = record
    cases = store(table)
    assert cases.load(table.items(), lambda k: 0 if k == A else partition_for(k, 4), {0, 1}) == 1
    assert cases.clocks == {0: T0 + 7, 1: T0 + 8}  # partition 2 is not active
    assert len(cases) == 1
    assert cases.clock_changes({0: T0 + 7, 1: T0 + 8}, 4) == []  # as recorded
    cases.drop_partitions([1])
    assert cases.clocks == {0: T0 + 7}
    assert clock_key(1, 4) in table  # dropping forgets, never deletes
