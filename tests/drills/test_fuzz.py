"""The fuzz drill's short form (``--quick``: 20,000 atheris inputs per target), no broker.

Every target must run its inputs without a finding; a target whose fuzzing process fails
must be reported as a problem with its log kept, so a finding cannot pass unseen.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from drills.fuzz import TARGETS, fuzz, oracle, seeds
from drills.run import QUICK


def test_every_target_takes_its_inputs_without_a_finding() -> None:
    result = fuzz(QUICK["fuzz_runs"], seed=8)
    assert result.ok, "\n".join([result.summary, *result.problems])
    assert result.figures["inputs"] == {t: QUICK["fuzz_runs"] for t in TARGETS}


def test_a_failing_fuzz_process_is_a_finding_with_its_log_kept() -> None:
    result = fuzz(100, seed=8, targets=("no-such-target",))
    assert not result.ok
    [problem] = result.problems
    assert "libFuzzer exited 1" in problem
    assert "unknown target" in problem
    kept = re.search(r"log in (\S+)\)", problem)
    assert kept is not None
    assert (Path(kept.group(1)) / "no-such-target.log").is_file()
    shutil.rmtree(kept.group(1))


def test_each_target_accepts_its_own_seeds() -> None:
    """The seeds are inputs the oracles pass: libFuzzer mutates from real payloads."""
    for target in TARGETS:
        found = seeds(target)
        assert found, target
        one = oracle(target)
        for seed in found:
            one(seed)
