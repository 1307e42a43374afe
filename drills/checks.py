"""What the drills compare: decisions and gauges against the reference, and group progress.

The reference is the end-to-end tests' (:mod:`tests.e2e.expectations`): the per-case
reference computation of the contract, independent of the stream's code.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from tests.e2e.expectations import Gauges, Key, Reference, observed_gauges
from tests.e2e.workers import WorkerProcess, read_topic


@dataclass(frozen=True, slots=True)
class DecisionCheck:
    """``care.sla.v1`` against the reference: every count but ``expected``, ``produced``,
    ``distinct`` and ``repeats`` must be zero."""

    expected: int
    produced: int
    distinct: int
    repeats: int  # messages carrying a decision_id already seen (allowed: at-least-once)
    lost: int  # reference decisions never produced
    invented: int  # produced decisions the reference does not have
    two_outcomes: int  # deadlines that got both met and breached
    differing: int  # decisions whose content differs from the reference (or between repeats)
    examples: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        out = []
        for name in ("lost", "invented", "two_outcomes", "differing"):
            if getattr(self, name):
                out.append(f"decisions {name}: {getattr(self, name)}")
        if out and self.examples:
            out.append("e.g. " + "; ".join(self.examples))
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_decisions(produced: Sequence[dict[str, Any]], ref: Reference) -> DecisionCheck:
    by_id: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, set[str]] = defaultdict(set)
    differing: set[str] = set()
    for decision in produced:
        decision_id = decision["decision_id"]
        if by_id.setdefault(decision_id, decision) != decision:
            differing.add(decision_id)
        if decision["outcome"] != "warning":
            outcomes[decision_id.rsplit("|", 1)[0]].add(decision["outcome"])
    for decision_id, want in ref.decisions.items():
        if decision_id in by_id and by_id[decision_id] != want:
            differing.add(decision_id)
    lost = set(ref.decisions) - set(by_id)
    invented = set(by_id) - set(ref.decisions)
    two = {deadline for deadline, seen in outcomes.items() if len(seen) > 1}
    examples = [f"lost {i}" for i in sorted(lost)[:2]]
    examples += [f"invented {i}" for i in sorted(invented)[:2]]
    examples += [f"two outcomes {d}" for d in sorted(two)[:2]]
    examples += [f"differing {i}" for i in sorted(differing)[:2]]
    return DecisionCheck(
        expected=len(ref.decisions),
        produced=len(produced),
        distinct=len(by_id),
        repeats=len(produced) - len(by_id),
        lost=len(lost),
        invented=len(invented),
        two_outcomes=len(two),
        differing=len(differing),
        examples=tuple(examples),
    )


def check_decisions(bootstrap: str, sla_topic: str, ref: Reference) -> DecisionCheck:
    """Every decision now in ``sla_topic`` against the reference."""
    produced = [json.loads(value) for _, value in read_topic(bootstrap, sla_topic)]
    return compare_decisions(produced, ref)


def gauge_problems(got: Gauges, want: Gauges) -> list[str]:
    """Open and awaiting cases by (brand, platform, priority): equal, label set by label set."""
    problems = []
    for name in ("open", "awaiting"):
        mine, theirs = getattr(got, name), getattr(want, name)
        for labels in sorted(set(mine) | set(theirs)):
            if mine.get(labels, 0) != theirs.get(labels, 0):
                problems.append(
                    f"cases {name} {labels}: /metrics {mine.get(labels, 0)}, reference {theirs.get(labels, 0)}"
                )
    return problems


def summed_gauges(workers: Sequence[WorkerProcess]) -> Gauges:
    samples: list[dict[Key, float]] = [w.metrics() for w in workers]
    return observed_gauges(samples)


class GroupProgress:
    """How far a consumer group has committed on a topic, seen from outside. Every read
    tolerates a broker that is down (returns None), so it can watch a broker restart."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # refused connections are expected
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def _clients(self) -> tuple[KafkaAdminClient, KafkaConsumer]:
        if self._admin is None or self._consumer is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5000
            )
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5000
            )
        return self._admin, self._consumer

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        return [
            TopicPartition(self.topic, p)
            for p in sorted(consumer.partitions_for_topic(self.topic) or ())
        ]

    def ends(self) -> int | None:
        """Messages in the topic (sum of end offsets)."""
        try:
            _, consumer = self._clients()
            return int(sum(consumer.end_offsets(self._partitions(consumer)).values()))
        except (KafkaError, OSError, ValueError):
            self.close()
            return None

    def committed(self) -> int | None:
        """Messages the group has committed over all partitions."""
        try:
            admin, consumer = self._clients()
            got = admin.list_group_offsets({self.group: self._partitions(consumer)})
            offsets = got.get(self.group, {})
            return int(sum(max(o.offset, 0) for o in offsets.values()))
        except (KafkaError, OSError, ValueError):
            self.close()
            return None

    def close(self) -> None:
        for client in (self._admin, self._consumer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    client.close()
        self._admin = self._consumer = None
