"""Baseline: a Quix Streams application keeping a per-case counter in its state store.

``python -m bench.quix_counter BOOTSTRAP TOPIC GROUP PARTITIONS STATE_DIR``: reads
``TOPIC`` from the earliest offset, deserialises each value as JSON (Quix's ``json``
deserialiser) and keeps, per message key (the case key), a count of its events in
Quix's default state store (RocksDB, with its changelog topic), committing every 0.5 s
(as the carewatch workers do here), at-least-once. The library a user would pick
instead of carewatch for stateful stream processing in Python. Runs until SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

from quixstreams import Application, State


def count(value: Any, state: State[str, int]) -> None:
    state.set("events", state.get("events", 0) + 1)


def main() -> None:
    bootstrap, topic_name, group, _partitions, state_dir = sys.argv[1:6]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        commit_interval=0.5,
        state_dir=state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(topic_name, key_deserializer="str", value_deserializer="json")
    frame = app.dataframe(topic)
    frame.update(count, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
