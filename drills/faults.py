"""Faults a drill or a test arms in a worker process, to prove a repair; never production.

``python -m drills.faults --fault NAME [--fault NAME ...] -- ARGS`` arms the faults, then
runs ``carewatch ARGS`` in the same process (the tests start ``worker -l info`` so). Each
fault copies, at one place in Faust, a way its consumer was seen to lose messages:

- ``skip-changelog``: at the first table recovery with records to read, once the
  recovery has sought its changelog partitions, the first with records remaining is
  sought to its end: they are never fetched, as when Faust drops fetched records
  (RELIABILITY.md, Found 5; repaired by ``streams.stalls.RecoveryWatch``).
- ``drop-offset=N``: ``Consumer.getmany`` drops, once, the fetched message at offset N of
  every partition of the events topic, as it drops those of a partition that is not
  active at that instant (Found 3; repaired by ``streams.stalls.OffsetTrail``).
- ``drop-markers``: the same for the first delivery of every clock marker, the last
  message of each partition at the end of a replay, which no later message follows.
- ``die-mid-checkpoint=N``: at the N-th checkpoint that writes at least
  :data:`PARTIAL_AT_LEAST` states, only the newest half of them (by horizon) reaches
  the changelog, then the worker SIGKILLs itself: a kill between two of a checkpoint's
  producer batches, which land in no set order (RELIABILITY.md, Found 7; repaired by
  the partition clock records, "Partition clocks" in ``streams.cases``).

Every fault logs a line starting with ``drill fault`` when it strikes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from streams.control import CLOCK, CONTROL_HEADER
from streams.settings import Settings

log = logging.getLogger("carewatch.drills.faults")


def skip_changelog() -> None:
    from faust.tables.recovery import Recovery

    seek_offsets = Recovery._seek_offsets
    armed = [True]

    async def seek_then_skip(self: Any, consumer: Any, tps: Any, offsets: Any, title: str) -> None:
        await seek_offsets(self, consumer, tps, offsets, title)
        if title != "active" or not armed[0]:
            return
        remaining = sorted(tp for tp, n in self.active_remaining().items() if n > 0)
        if not remaining:
            return  # nothing to read in this recovery: wait for one that has
        armed[0] = False
        tp = remaining[0]
        end = self.active_highwaters[tp] + 1
        log.warning(
            "drill fault: a changelog partition skipped to its end before recovery",
            extra={"topic": tp.topic, "partition": tp.partition, "offset": end},
        )
        await consumer.seek_wait({tp: end})

    Recovery._seek_offsets = seek_then_skip  # type: ignore[method-assign]


def drop_messages(should_drop: Callable[[Any], bool]) -> None:
    """``Consumer.getmany`` drops, once each, the events topic's messages ``should_drop``
    picks, after the fetch position has passed them, as Faust's own drops do."""
    from faust.transport.consumer import Consumer

    topic = Settings.from_env().events_topic  # as the worker will read it
    getmany = Consumer.getmany
    dropped: set[tuple[int, int]] = set()

    async def getmany_dropping(self: Any, **kwargs: Any) -> AsyncIterator[tuple[Any, Any]]:
        async for tp, message in getmany(self, **kwargs):  # Faust passes timeout=...
            where = (tp.partition, message.offset)
            if tp.topic == topic and where not in dropped and should_drop(message):
                dropped.add(where)
                log.warning(
                    "drill fault: a fetched message dropped on the way to the agent",
                    extra={"partition": tp.partition, "offset": message.offset},
                )
                continue
            yield tp, message

    Consumer.getmany = getmany_dropping  # type: ignore[method-assign,assignment]


PARTIAL_AT_LEAST = 40


def die_mid_checkpoint(nth: int) -> None:
    from streams.changelog import ChangelogWriter

    write = ChangelogWriter.write
    seen = [0]

    async def write_part_then_die(self: Any, changes: Any, deliveries: Any) -> int:
        changes = list(changes)
        states = [c for c in changes if c[2] is not None]
        if len(states) >= PARTIAL_AT_LEAST:
            seen[0] += 1
        if seen[0] < nth or len(states) < PARTIAL_AT_LEAST:
            return int(await write(self, changes, deliveries))
        states.sort(key=lambda change: orjson.loads(change[2]).get("h") or 0.0, reverse=True)
        landed = states[: len(states) // 2]
        await write(self, landed, deliveries)
        await deliveries.confirm()
        log.warning(
            "drill fault: a checkpoint killed after part of its states",
            extra={"landed": len(landed), "states": len(states)},
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")  # pragma: no cover

    ChangelogWriter.write = write_part_then_die  # type: ignore[method-assign]


def _is_marker(message: Any) -> bool:
    return dict(message.headers or ()).get(CONTROL_HEADER) == CLOCK


def arm(fault: str) -> None:
    name, _, value = fault.partition("=")
    if name == "skip-changelog":
        skip_changelog()
    elif name == "drop-offset":
        offset = int(value)
        drop_messages(lambda message: message.offset == offset)
    elif name == "drop-markers":
        drop_messages(_is_marker)
    elif name == "die-mid-checkpoint":
        die_mid_checkpoint(int(value))
    else:
        raise SystemExit(f"drills.faults: unknown fault {fault!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills.faults", description=__doc__)
    parser.add_argument("--fault", action="append", default=[], help="a fault to arm")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then carewatch's arguments")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    for fault in options.fault:
        arm(fault)
    from streams.cli import main as carewatch

    return carewatch(args)


if __name__ == "__main__":
    sys.exit(main())
