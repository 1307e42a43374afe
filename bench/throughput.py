"""Throughput: carewatch workers and the baselines, each reading the same topic.

Every contender is timed the same way, from outside, by its consumer group
(:class:`bench.cluster.GroupWatch`, polled every 0.1 s): from the moment its members own
every partition of the topic between them, to the moment the group has committed the
end offset of every partition. Throughput is the messages committed in that time
(the whole log, when one member owns everything from the start) divided by it. Each
contender commits at least every 0.5 s, so the end is seen at most about 0.6 s late;
carewatch also acknowledges events only at its checkpoints (every second or 5,000
events), which is part of what it costs.

carewatch runs in replay mode (its stream clock is the log's event time, so every
deadline of the log is decided and sent to ``care.sla.v1`` as it is read), with the
example policy file, a fresh consumer group and state folder per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import GroupWatch
from bench.processes import ROOT, Process, Processes, Worker

Advance = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a run reads: the broker, the topic and its size."""

    bootstrap: str
    topic: str
    partitions: int
    messages: int
    label: str  # makes group, topic and folder names unique to this run

    @property
    def timeout(self) -> float:
        return 180.0 + self.messages / 200.0  # generous: 200 events/s on a loaded machine


@dataclass(slots=True)
class Throughput:
    messages: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def worker_settings(target: Target, group: str, mode: str, store: str) -> dict[str, str]:
    """The ``CAREWATCH_*`` variables of a worker of ``group`` on ``target``'s topic."""
    return {
        "CAREWATCH_BOOTSTRAP": target.bootstrap,
        "CAREWATCH_EVENTS_TOPIC": target.topic,
        "CAREWATCH_SLA_TOPIC": f"{target.topic}.sla.{group}",
        "CAREWATCH_DEADLETTER_TOPIC": f"{target.topic}.deadletter.{group}",
        "CAREWATCH_PARTITIONS": str(target.partitions),
        "CAREWATCH_APP_ID": group,
        "CAREWATCH_MODE": mode,
        "CAREWATCH_STORE": store,
        "CAREWATCH_POLICY_FILE": str(ROOT / "deploy" / "policies.example.yaml"),
    }


def timed(
    target: Target,
    group: str,
    processes: Sequence[Process],
    advance: Advance,
    members: int = 1,
) -> Throughput:
    """Time a group of already started processes (module docstring); stops them after."""

    def alive() -> None:
        for process in processes:
            process.check()

    watch = GroupWatch(target.bootstrap, group, target.topic, target.partitions)
    try:
        owned_at, committed_then = watch.wait_owned(members, target.timeout, alive)
        done_at = watch.wait_committed(target.messages, target.timeout, alive, advance)
    finally:
        watch.close()
    return Throughput(target.messages - committed_then, done_at - owned_at)


def carewatch(
    target: Target, processes: Processes, store: str, advance: Advance, workers: int = 1
) -> Throughput:
    """``workers`` carewatch workers started together, replay mode, ``store``."""
    group = f"bench-carewatch-{store}-{workers}w-{target.label}"
    settings = worker_settings(target, group, "replay", store)
    started = [Worker(processes, f"{group}-{n}", settings) for n in range(workers)]
    with processes.running(*(w.process for w in started)):
        result = timed(target, group, [w.process for w in started], advance, members=workers)
        result.extra["open_cases_held"] = sum(_open_cases(w) for w in started)
    return result


def _open_cases(worker: Worker) -> int:
    """The sum of the worker's ``carewatch_cases_open`` gauge (the cases it holds open)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "carewatch_cases_open":
            total += sum(s.value for s in family.samples)
    return int(total)


BASELINES: dict[str, tuple[str, str]] = {  # id: (module, what it is)
    "aiokafka": ("bench.aiokafka_loop", "bare aiokafka loop, orjson decode"),
    "confluent": ("bench.confluent_loop", "bare confluent-kafka loop, orjson decode"),
    "faust_noop": ("bench.faust_noop", "Faust agent doing nothing"),
    "quix_counter": ("bench.quix_counter", "Quix Streams, per-case counter in state"),
}


def baseline(target: Target, processes: Processes, name: str, advance: Advance) -> Throughput:
    module, _ = BASELINES[name]
    group = f"bench-{name}-{target.label}"
    args = [target.bootstrap, target.topic, group, str(target.partitions)]
    args.append(str(processes.home / "data" / group))  # state folder (Faust, Quix)
    process = processes.python(group, module, args)
    with processes.running(process):
        result = timed(target, group, [process], advance)
    own = _self_timed(process)
    if own is not None:
        result.extra["self_timed_rate"] = own
    return result


def _self_timed(process: Process) -> float | None:
    """The rate a bare loop measured itself (assignment to commit), from its output."""
    for line in reversed(process.log.read_text(errors="replace").splitlines()):
        if line.startswith('{"messages"'):
            own = orjson.loads(line)
            return float(own["messages"] / own["seconds"]) if own["seconds"] > 0 else None
    return None
