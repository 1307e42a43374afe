"""Creating carewatch's topics explicitly, with the configured partitions.

Creation is idempotent: a topic that exists with the wanted partition count is left
alone; one that exists with another count is an error (a Faust table's changelog must
have as many partitions as the topic it reads, so a silent mismatch would corrupt state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.errors import CarewatchError
from streams.settings import TopicSpec


class TopicMismatch(CarewatchError):
    """A topic exists with a partition count other than the configured one."""


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    timeout_ms: int = 30_000,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the missing topics; returns the names created. Waits until each is created.

    ``client_config``: kafka-python security settings (``streams.security.kafka_python_config``).
    """
    specs = list(specs)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, **(client_config or {})
    )
    try:
        existing = _partition_counts(admin, [s.name for s in specs])
        for spec in specs:
            _check(spec, existing.get(spec.name))
        wanted = [s for s in specs if s.name not in existing]
        created = []
        for spec in wanted:
            topic = NewTopic(
                spec.name, spec.partitions, spec.replication, topic_configs=dict(spec.config)
            )
            try:
                # The broker answers before its metadata shows the topic: wait for that too.
                admin.create_topics([topic], timeout_ms=timeout_ms, wait_for_metadata=True)
                created.append(spec.name)
            except TopicAlreadyExistsError:  # created meanwhile, maybe with another count
                admin.wait_for_topics([spec.name], timeout_ms)
                _check(spec, _partition_counts(admin, [spec.name]).get(spec.name))
        return created
    finally:
        admin.close()


def _check(spec: TopicSpec, have: int | None) -> None:
    if have is not None and have != spec.partitions:
        raise TopicMismatch(
            f"topic {spec.name} has {have} partitions, configured {spec.partitions}"
        )


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    present = set(admin.list_topics())
    described = admin.describe_topics([n for n in names if n in present]) if present else []
    return {t["name"]: len(t["partitions"]) for t in described if not t.get("error_code")}
