"""The case table's changelog partition of a case is its events partition (issue 10).

A worker owning events partition p recovers changelog partition p after a rebalance and
keeps the cases of partition p from it (``CaseStore.load``). Were a case's state filed
under another changelog partition, a worker taking p over would never see it: the case
would be lost while its events stay committed (one was, in the e2e queue test).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from kafka.partitioner.default import murmur2

from streams.app import build_worker
from streams.policy import load_policies
from streams.processor import partition_for
from streams.settings import Settings

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"


def test_a_case_state_goes_to_the_changelog_partition_of_its_events() -> None:
    worker = build_worker(Settings(partitions=4), load_policies(str(POLICIES)))
    table = worker.table
    topic = table.changelog_topic
    keys = [f"{p}:brand:thread{n}:customer{n}" for p in ("x", "email", "vk") for n in range(50)]
    wrong = []
    for key in keys:
        # As Table.send_changelog sends it (its own key serializer, the topic's schema)...
        raw, _ = topic.prepare_key(key, table.key_serializer, topic.schema)
        changelog_partition = (murmur2(raw) & 0x7FFFFFFF) % 4
        # ...and as recovery reads it back (the changelog topic's schema).
        recovered = topic.schema.loads_key(worker.app, SimpleNamespace(key=raw))
        if changelog_partition != partition_for(key, 4) or recovered != key:
            wrong.append((key, raw, changelog_partition, partition_for(key, 4), recovered))
    assert wrong == []
