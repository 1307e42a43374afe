"""The per-partition deadline index: order, lazy invalidation, partitions, and a model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.deadlines import DeadlineIndex


def test_pop_due_returns_the_due_keys_earliest_first_and_only_once() -> None:
    index = DeadlineIndex()
    index.schedule(0, "c", 30.0)
    index.schedule(0, "a", 10.0)
    index.schedule(0, "b", 20.0)
    index.schedule(0, "late", 100.0)
    assert index.pop_due(0, 5.0) == []
    assert index.pop_due(0, 30.0) == ["a", "b", "c"]  # at or before the clock
    assert index.pop_due(0, 30.0) == []
    assert len(index) == 1
    assert index.next_due(0) == 100.0


def test_rescheduling_moves_a_key_and_skips_its_stale_entry() -> None:
    index = DeadlineIndex()
    index.schedule(0, "a", 10.0)
    index.schedule(0, "b", 15.0)
    index.schedule(0, "a", 50.0)  # later: the entry at 10 is stale
    assert index.pop_due(0, 20.0) == ["b"]
    assert index.next_due(0) == 50.0
    index.schedule(0, "a", 5.0)  # earlier again
    assert index.next_due(0) == 5.0
    assert index.pop_due(0, 60.0) == ["a"]  # once, though three entries were pushed
    assert len(index) == 0
    assert index.next_due(0) is None


def test_scheduling_the_same_instant_twice_pops_the_key_once() -> None:
    index = DeadlineIndex()
    index.schedule(0, "a", 10.0)
    index.schedule(0, "a", 10.0)
    index.schedule(0, "a", None)
    index.schedule(0, "a", 10.0)
    assert index.pop_due(0, 10.0) == ["a"]
    assert index.pop_due(0, 10.0) == []


def test_none_unschedules() -> None:
    index = DeadlineIndex()
    index.schedule(0, "a", 10.0)
    index.schedule(0, "b", 20.0)
    index.schedule(0, "a", None)
    index.schedule(0, "never-scheduled", None)
    assert len(index) == 1
    assert index.next_due(0) == 20.0
    assert index.pop_due(0, 1e12) == ["b"]


def test_partitions_are_independent_and_a_dropped_one_is_forgotten() -> None:
    index = DeadlineIndex()
    index.schedule(0, "a", 10.0)
    index.schedule(1, "a", 20.0)  # the same key on another partition is another entry
    index.schedule(2, "c", 5.0)
    assert len(index) == 3
    index.drop_partition(2)
    index.drop_partition(7)  # never seen: nothing happens
    assert len(index) == 2
    assert index.pop_due(2, 1e12) == []
    assert index.next_due(2) is None
    assert index.pop_due(1, 15.0) == []
    assert index.pop_due(0, 15.0) == ["a"]
    assert index.next_due(1) == 20.0
    index.schedule(2, "c", 1.0)  # a partition assigned again starts afresh
    assert index.pop_due(2, 1.0) == ["c"]


def test_next_due_of_an_unknown_partition_is_none() -> None:
    index = DeadlineIndex()
    assert index.next_due(3) is None
    assert index.pop_due(3, 1e12) == []


# -- against a naive model -----------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
PARTITIONS = st.integers(0, 1)
INSTANTS = st.integers(0, 20).map(float)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), PARTITIONS, KEYS, st.none() | INSTANTS),
        st.tuples(st.just("pop"), PARTITIONS, st.just(""), INSTANTS),
        st.tuples(st.just("next"), PARTITIONS, st.just(""), st.none()),
        st.tuples(st.just("drop"), PARTITIONS, st.just(""), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(OPS)
def test_the_index_behaves_like_a_dict_of_due_instants(
    ops: list[tuple[str, int, str, float | None]],
) -> None:
    index = DeadlineIndex()
    model: dict[tuple[int, str], float] = {}
    for op, partition, key, value in ops:
        if op == "schedule":
            if value is None:
                model.pop((partition, key), None)
            else:
                model[(partition, key)] = value
            index.schedule(partition, key, value)
        elif op == "pop":
            assert value is not None
            due = sorted((at, k) for (p, k), at in model.items() if p == partition and at <= value)
            got = index.pop_due(partition, value)
            assert sorted(got) == sorted(k for _, k in due)
            instants = [model[(partition, k)] for k in got]
            assert instants == sorted(instants), "not earliest first"
            for k in got:
                del model[(partition, k)]
        elif op == "next":
            dues = [at for (p, _), at in model.items() if p == partition]
            assert index.next_due(partition) == (min(dues) if dues else None)
        else:
            index.drop_partition(partition)
            model = {pk: at for pk, at in model.items() if pk[0] != partition}
        assert len(index) == len(model)
