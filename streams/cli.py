"""The ``carewatch`` command: one entry point, one subcommand per job.

This is the composition root: it reads settings, builds what a subcommand needs and
hands it down. Subcommands import their modules lazily, so ``carewatch stack status``
does not pay for loading Faust.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from streams.errors import CarewatchError

Handler = Callable[[argparse.Namespace], int]


def _stack(args: argparse.Namespace) -> int:
    from deploy.localstack.stack import Stack, StackConfig

    config = StackConfig.from_env(
        kafka_port=args.kafka_port,
        prometheus_port=args.prometheus_port,
        alertmanager_port=args.alertmanager_port,
    )
    stack = Stack(config)
    if args.action == "install":
        stack.install()
        print("stack: everything installed")
        return 0
    if args.action == "down":
        stopped = stack.down()
        print(f"stack: stopped {', '.join(stopped) or 'nothing (nothing was running)'}")
        return 0
    rows = stack.up() if args.action == "up" else stack.status()
    print(f"{'component':<14}{'address':<28}{'pid':<9}{'state':<10}log")
    for row in rows:
        state = "healthy" if row.healthy else ("unhealthy" if row.running else "stopped")
        print(f"{row.name:<14}{row.address:<28}{row.pid or '-'!s:<9}{state:<10}{row.log}")
    return 0 if all(r.healthy for r in rows) else 1


def _topics(args: argparse.Namespace) -> int:
    from streams.settings import Settings
    from streams.topics import ensure_topics

    settings = Settings.from_env(bootstrap=args.bootstrap, partitions=args.partitions)
    created = ensure_topics(settings.bootstrap, settings.topics)
    for spec in settings.topics:
        mark = "created" if spec.name in created else "exists"
        print(f"{spec.name:<24}{spec.partitions} partitions  {mark}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local Kafka, Prometheus and Alertmanager")
    stack.add_argument("action", choices=["install", "up", "down", "status"])
    stack.add_argument("--kafka-port", type=int, help="0 = any free port (default 39092)")
    stack.add_argument("--prometheus-port", type=int, help="default 39090")
    stack.add_argument("--alertmanager-port", type=int, help="default 39094")
    stack.set_defaults(handler=_stack)

    topics = sub.add_parser("topics", help="create the contract's topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--bootstrap", help="host:port (default $CAREWATCH_BOOTSTRAP)")
    topics.add_argument("--partitions", type=int, help="default $CAREWATCH_PARTITIONS or 4")
    topics.set_defaults(handler=_topics)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CarewatchError as exc:
        print(f"carewatch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
