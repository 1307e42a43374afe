"""The short form of every drill (``python -m drills --quick``) on a broker of its own.

Each test fails when its drill finds its property violated (the drill's problems are the
message). The drills need their own broker, not the session's: the broker drill stops and
starts it. The sizes are the ``--quick`` ones of :mod:`drills.run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import orjson
import pytest

from drills.broker import broker_restart
from drills.crash import crash
from drills.hostile import far_timestamps, hostile
from drills.rebalance import rebalance
from drills.rig import Result, Rig
from drills.run import QUICK
from drills.soak import graceful_stop, soak

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig() as rig:
        yield rig


def held(result: Result, rig: Rig | None = None) -> None:
    if not result.ok and rig is not None:
        rig.keep = True  # the logs are the evidence, with the result (an xfail hides it)
        (rig.home / f"{result.drill.replace(' ', '-')}.result.json").write_bytes(
            orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2)
        )
    kept = [] if rig is None or result.ok else [f"logs kept in {rig.home}"]
    assert result.ok, "\n".join([result.summary, *result.problems, *kept])


def test_crash_loses_no_decision_and_decides_nothing_twice(rig: Rig) -> None:
    result = crash(rig, QUICK["crash_events"], kills=2, seed=3)
    held(result, rig)
    assert len(result.figures["kills"]) == 2
    assert result.figures["decisions"]["expected"] > 500


def test_broker_restart_mid_stream_loses_nothing_acknowledged(rig: Rig) -> None:
    """RELIABILITY.md, Found 3 (fixed): a failing run keeps its logs and
    broker-restart.result.json with the evidence."""
    result = broker_restart(
        rig, QUICK["broker_events"], seed=4, load_seconds=QUICK["broker_seconds"]
    )
    held(result, rig)
    assert result.figures["broker_down_seconds"] > 0
    assert rig.broker_alive()  # started again, by the drill


def test_rebalance_never_counts_a_case_twice(rig: Rig) -> None:
    result = rebalance(rig, QUICK["rebalance_events"], chunks=QUICK["rebalance_chunks"], seed=5)
    held(result, rig)
    assert result.figures["samples_during_rebalance"] > 0
    assert result.figures["exact_checks"] == QUICK["rebalance_chunks"]
    assert "+rb-w3" in result.figures["changes"]
    assert "-rb-w1" in result.figures["changes"]


def test_hostile_input_is_rejected_with_a_reason(rig: Rig) -> None:
    result = hostile(rig, QUICK["hostile_inputs"], seed=6, far=False)
    held(result, rig)
    assert result.figures["parser"]["inputs"] == QUICK["hostile_inputs"]
    assert result.figures["dead_letters"]["dead_letters"] > 1000


def test_events_dated_year_1_or_9999_do_not_stop_a_worker(rig: Rig) -> None:
    result = Result("far timestamps", "")
    far_timestamps(rig, result, timeout=20)
    held(result)


def test_soak_memory_and_cases_stay_flat(rig: Rig) -> None:
    result = soak(
        rig,
        seconds=QUICK["soak_minutes"] * 60,
        rate=100,
        retention=QUICK["soak_retention"],
        seed=7,
    )
    held(result, rig)
    assert result.figures["events_sent"] > 3000


def test_a_live_worker_stops_on_sigterm(rig: Rig) -> None:
    result = Result("graceful stop", "")
    graceful_stop(rig, result, grace=15)
    held(result)
