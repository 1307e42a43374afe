"""Where one worker's time goes: a replay under pyinstrument (BENCHMARKS.md, the profile).

``python -m bench.profile [--events N] [--store memory|rocksdb] [--no-profile] [--out F]``
starts its own broker, writes the seeded log (:mod:`bench.logs`), produces it into a
4-partition topic, runs one ``carewatch worker`` in replay mode (the harness's settings)
under ``pyinstrument`` and, once its group has committed the end offsets, stops it with
SIGINT so that pyinstrument writes its text report. It prints the rate it measured the
way :mod:`bench.throughput` does (a profiled worker is slower: compare shares, not
seconds). ``--no-profile`` measures the same without pyinstrument.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from bench.cluster import GroupWatch, create_topics, produce_log, start_broker
from bench.logs import LATENESS, START, WINDOW, write_log
from bench.processes import Processes
from bench.throughput import Target, worker_settings
from deploy.localstack.processes import free_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--store", choices=("memory", "rocksdb"), default="memory")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", default="bench/results/profile.txt")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="carewatch-profile-") as folder:
        home = Path(folder)
        broker = start_broker(home / "kafka")
        try:
            log = home / "log.jsonl"
            write_log(log, args.events, seed=1)
            target = Target(broker.bootstrap, "events", 4, 0, "profile")
            create_topics(broker.bootstrap, [target.topic], target.partitions)
            messages = produce_log(
                broker.bootstrap,
                target.topic,
                log,
                4,
                START + WINDOW + LATENESS + 1,
                lambda n: None,
            )
            target = Target(broker.bootstrap, target.topic, 4, messages, "profile")
            settings = worker_settings(target, "profile", "replay", args.store)
            processes = Processes(home)
            env = {
                "CAREWATCH_WEB_PORT": str(free_port()),
                "CAREWATCH_DATA_DIR": str(home / "data" / "worker"),
                "CAREWATCH_PROMETHEUS_SD_DIR": str(home / "no-prometheus"),
                "BROKER_COMMIT_INTERVAL": "0.5",  # as bench.processes.Worker
                **settings,
            }
            out = Path(args.out).absolute()
            worker_argv = ["streams.cli", "worker", "-l", "warn"]
            if args.no_profile:
                process = processes.python("worker", worker_argv[0], worker_argv[1:], env)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                profiler = ["-r", "text", "-i", "0.002", "-o", str(out), "-m", *worker_argv]
                process = processes.python("worker", "pyinstrument", profiler, env)
            watch = GroupWatch(broker.bootstrap, "profile", target.topic, target.partitions)
            try:
                owned_at, before = watch.wait_owned(1, target.timeout, process.check)
                done_at = watch.wait_committed(
                    messages, target.timeout, process.check, lambda n: None
                )
            finally:
                watch.close()
            seconds = done_at - owned_at
            rate = (messages - before) / seconds
            print(f"{messages - before:,} messages in {seconds:.1f} s: {rate:,.0f} events/s")
            process.proc.send_signal(signal.SIGINT)  # pyinstrument writes its report on exit
            process.proc.wait(timeout=120)
            if not args.no_profile:
                print(f"profile: {out}")
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
