"""Baseline: a Faust agent that does nothing with each event (the framework's floor).

``python -m bench.faust_noop BOOTSTRAP TOPIC GROUP PARTITIONS DATA_DIR``: a Faust app
with the same Faust and aiokafka as carewatch, raw bytes in (no deserialisation), one
agent (concurrency 1, as carewatch's) whose loop body is ``pass``; Faust acknowledges
each event after the loop body and commits every 0.5 s (as the carewatch workers do
here). No table, no web server. Runs until SIGTERM.
"""

from __future__ import annotations

import sys

import faust
from faust.worker import Worker


def build(bootstrap: str, topic_name: str, group: str, partitions: int, data_dir: str) -> faust.App:
    app = faust.App(
        group,
        broker=";".join(f"kafka://{s}" for s in bootstrap.split(",")),
        datadir=data_dir,
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        web_enabled=False,
        autodiscover=False,
    )
    topic = app.topic(
        topic_name, key_serializer="raw", value_serializer="raw", partitions=partitions
    )

    @app.agent(topic, name="bench.noop", concurrency=1)
    async def noop(stream: faust.StreamT[bytes]) -> None:
        async for _value in stream:
            pass

    return app


def main() -> None:
    bootstrap, topic, group, partitions, data_dir = sys.argv[1:6]
    app = build(bootstrap, topic, group, int(partitions), data_dir)
    Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main()
