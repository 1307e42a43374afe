"""The ``carewatch`` command: one entry point, one subcommand per job.

This is the composition root: it reads settings, builds what a subcommand needs and
hands it down. Subcommands import their modules lazily, so ``carewatch stack status``
does not pay for loading Faust.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from streams.errors import CarewatchError

if TYPE_CHECKING:
    from pathlib import Path

    from connectors.config import ConnectorConfig
    from streams.settings import Settings

Handler = Callable[[argparse.Namespace], int]


def _stack(args: argparse.Namespace) -> int:
    from deploy.localstack.stack import Stack, StackConfig

    config = StackConfig.from_env(
        kafka_port=args.kafka_port,
        controller_port=args.controller_port,
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
    from streams.security import kafka_python_config
    from streams.settings import Settings
    from streams.topics import ensure_topics

    settings = Settings.from_env(bootstrap=args.bootstrap, partitions=args.partitions)
    created = ensure_topics(
        settings.bootstrap, settings.topics, client_config=kafka_python_config(settings)
    )
    width = max(len(spec.name) for spec in settings.topics) + 2
    for spec in settings.topics:
        mark = "created" if spec.name in created else "exists"
        print(f"{spec.name:<{width}}{spec.partitions} partitions  {mark}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    import atexit
    import logging
    import os
    from pathlib import Path

    from faust.worker import Worker as FaustWorker

    from streams import logs
    from streams.app import build_worker
    from streams.policy import load_policies
    from streams.security import kafka_python_config
    from streams.settings import Settings
    from streams.topics import ensure_topics

    settings = Settings.from_env(
        mode=args.mode,
        policy_file=args.policy,
        bootstrap=args.bootstrap,
        web_port=args.web_port,
        store=args.store,
        data_dir=args.data_dir,
    )
    logs.setup(args.loglevel, secrets=(settings.api_token, settings.kafka_sasl_password))
    policies = load_policies(settings.policy_file)  # a bad file fails here, naming the field
    ensure_topics(settings.bootstrap, settings.topics, client_config=kafka_python_config(settings))
    worker = build_worker(settings, policies)
    logging.getLogger("carewatch.worker").info(
        "worker starting",
        extra={
            "mode": settings.mode,
            "bootstrap": settings.bootstrap,
            "events_topic": settings.events_topic,
            "partitions": settings.partitions,
            "store": settings.store,
            "policy_file": settings.policy_file,
            "lateness": settings.lateness,
            "web": f"http://{settings.web_host}:{settings.web_port}",
        },
    )
    sd_dir = settings.prometheus_sd_dir or str(
        Path(os.environ.get("CAREWATCH_HOME", ".carewatch")) / "prometheus" / "targets"
    )
    if Path(sd_dir).is_dir():
        target = _register_target(Path(sd_dir), settings)
        atexit.register(lambda: target.unlink(missing_ok=True))
    FaustWorker(
        worker.app, loglevel=args.loglevel
    ).execute_from_commandline()  # runs until stopped, then exits the process


def _register_target(sd_dir: Path, settings: Settings) -> Path:
    """Tell the local Prometheus (file_sd) to scrape this worker's /metrics."""
    import json
    import os

    path = sd_dir / f"worker-{settings.web_port}.json"
    labels = {"component": "worker", "mode": settings.mode, "pid": str(os.getpid())}
    path.write_text(
        json.dumps([{"targets": [f"{settings.web_host}:{settings.web_port}"], "labels": labels}])
    )
    return path


def _replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connectors.replay import read_log, replay
    from streams.security import kafka_python_config
    from streams.settings import Settings

    settings = Settings.from_env(bootstrap=args.bootstrap)
    path = Path(args.file)
    total = sum(1 for _ in read_log(path))
    report = replay(
        read_log(path),
        bootstrap=settings.bootstrap,
        topic=settings.events_topic,
        group=settings.app_id,
        lateness=settings.lateness,
        until=args.until,
        timeout=args.timeout,
        total=total,
        client_config=kafka_python_config(settings),
    )
    print(
        f"replayed {report.sent} lines ({report.invalid} invalid, sent to the dead letters) "
        f"in {report.seconds:.1f} s; stream clock advanced to {report.advanced_to}"
    )
    return 0


def _connector_config(args: argparse.Namespace, **flags: object) -> ConnectorConfig:
    """The connector configuration: ``--config`` or its variable, the environment, then
    flags (given as the variables they override, so they are validated the same way)."""
    import os

    from connectors.config import ConnectorConfig

    env = dict(os.environ)
    env.update({var: str(value) for var, value in flags.items() if value is not None})
    return ConnectorConfig.load(args.config, env)


def _kafka_logs(level: str) -> None:
    """kafka-python logs every refused reconnect; the producer logs each outage once."""
    import logging

    if level != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _scrape_target(connector: str, host: str) -> Iterator[Callable[[int], None]]:
    """A ``ready(port)`` callback that registers a serving connector with the local
    Prometheus (file_sd, as workers are), in ``$CAREWATCH_PROMETHEUS_SD_DIR`` or the local
    stack's folder when it exists; the file goes when the block ends. A connector killed
    leaves it, so its target reads down (``CarewatchConnectorDown``)."""
    import os
    from pathlib import Path

    from deploy.localstack.monitoring import connector_target

    home = Path(os.environ.get("CAREWATCH_HOME", ".carewatch"))
    sd_dir = Path(os.environ.get("CAREWATCH_PROMETHEUS_SD_DIR") or home / "prometheus" / "targets")
    registered: list[Path] = []

    def ready(port: int) -> None:
        if sd_dir.is_dir():
            registered.append(connector_target(sd_dir, connector, host, port))

    try:
        yield ready
    finally:
        for path in registered:
            path.unlink(missing_ok=True)


def _connect_webhook(args: argparse.Namespace) -> int:
    from connectors import webhook
    from streams import logs

    config = _connector_config(
        args,
        CAREWATCH_BOOTSTRAP=args.bootstrap,
        CAREWATCH_WEBHOOK_HOST=args.host,
        CAREWATCH_WEBHOOK_PORT=args.port,
    )
    logs.setup(args.loglevel)
    _kafka_logs(args.loglevel)
    with _scrape_target(webhook.CONNECTOR, config.webhook.host) as ready:
        return webhook.run(config, ready)


def _connect_replay(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from prometheus_client import CollectorRegistry
    from rich.console import Console

    from connectors.producer import EventProducer
    from connectors.replay import load, print_report
    from streams import logs
    from streams.errors import ConfigError
    from streams.metrics import ConnectorMetrics

    if not args.file:
        raise ConfigError("FILE", "connect replay needs the JSON-lines file to send")
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError("FILE", f"no such file: {path}")
    config = _connector_config(args, CAREWATCH_BOOTSTRAP=args.bootstrap)
    logs.setup(args.loglevel)
    _kafka_logs(args.loglevel)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    producer = EventProducer(config.kafka, ConnectorMetrics(CollectorRegistry(), "replay"))
    try:
        producer.connect()  # an unreachable broker or a missing topic fails here
        report = load(path, producer, speed=args.speed, progress=args.progress, stop=stop)
    finally:
        producer.close()  # flushes: every event sent is acknowledged or failed
    print_report(report, path, Console())
    return 0 if report.stopped is None and report.acked == report.sent else 1


def _connect_x(args: argparse.Namespace) -> int:
    from connectors import x
    from streams import logs

    config = _connector_config(args, CAREWATCH_BOOTSTRAP=args.bootstrap)
    # The file's x: section, then CAREWATCH_X_* variables (docs/x-connector.md).
    settings = x.XSettings.load(config.x_file)
    logs.setup(args.loglevel, secrets=(settings.bearer_token,))
    _kafka_logs(args.loglevel)
    with _scrape_target(x.CONNECTOR, settings.metrics_host) as ready:
        return x.run(settings, config.kafka, ready)


def _demo(args: argparse.Namespace) -> int:
    from deploy.demo import DemoOptions, run_demo

    options = DemoOptions(
        scenario=args.scenario,
        speed=args.speed,
        duration=args.duration,
        workers=args.workers,
        seed=args.seed,
        keep_stack=args.keep_stack,
    )
    return run_demo(options)


CONNECTORS: dict[str, Handler] = {
    "webhook": _connect_webhook,
    "replay": _connect_replay,
    "x": _connect_x,
}
"""``carewatch connect SOURCE``: one handler per source; a new connector adds one entry."""


def _connect(args: argparse.Namespace) -> int:
    return CONNECTORS[args.source](args)


def _speed(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive factor, got {text}")
    return value


def _instant(text: str) -> float:
    """An RFC 3339 time with its offset (``Z`` or ``+hh:mm``) as POSIX seconds. Without
    an offset the time would silently be the machine's local time, so it is refused."""
    import re
    from datetime import datetime

    from streams.events import TIMESTAMP_PATTERN

    if re.fullmatch(TIMESTAMP_PATTERN, text) is None:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 time with an offset, as 2026-11-21T09:00:00Z or "
            f"2026-11-21T13:00:00+04:00, got {text!r}"
        )
    try:
        return datetime.fromisoformat(text.upper()).timestamp()
    except ValueError:  # the pattern leaves only the real-date check (2026-02-30)
        raise argparse.ArgumentTypeError(f"not a real date and time: {text!r}") from None


def _dashboards(args: argparse.Namespace) -> int:
    from dashboards.commands import run

    return run(args)


def _queue(args: argparse.Namespace) -> int:
    from streams.queue import show
    from streams.settings import Settings

    settings = Settings.from_env()
    filters = {
        k: v
        for k, v in (
            ("brand", args.brand),
            ("platform", args.platform),
            ("priority", args.priority),
        )
        if v
    }
    show(args.url or settings.worker_url, settings.api_token, filters, args.limit, args.watch)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    # bench/ lives in the repository beside streams/, not in the installed packages.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.run import Plan, run

    return run(Plan.from_args(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local Kafka, Prometheus and Alertmanager")
    stack.add_argument("action", choices=["install", "up", "down", "status"])
    stack.add_argument("--kafka-port", type=int, help="0 = any free port (default 19092)")
    stack.add_argument("--controller-port", type=int, help="KRaft controller (default 19093)")
    stack.add_argument("--prometheus-port", type=int, help="default 19090")
    stack.add_argument("--alertmanager-port", type=int, help="default 19094")
    stack.set_defaults(handler=_stack)

    topics = sub.add_parser("topics", help="create the contract's topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--bootstrap", help="host:port (default $CAREWATCH_BOOTSTRAP)")
    topics.add_argument("--partitions", type=int, help="default $CAREWATCH_PARTITIONS or 4")
    topics.set_defaults(handler=_topics)

    worker = sub.add_parser("worker", help="run a stream worker (the response clocks)")
    worker.add_argument(
        "--mode", choices=["live", "replay"], help="default $CAREWATCH_MODE or live"
    )
    worker.add_argument("--policy", help="SLA policy YAML (default $CAREWATCH_POLICY_FILE)")
    worker.add_argument("--bootstrap", help="Kafka host:port (default $CAREWATCH_BOOTSTRAP)")
    worker.add_argument("--web-port", type=int, help="/metrics and /health (default 6066)")
    worker.add_argument(
        "--store", choices=["memory", "rocksdb"], help="table store (default memory)"
    )
    worker.add_argument("--data-dir", help="worker state folder (default .carewatch/worker)")
    worker.add_argument(
        "-l", "--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"]
    )
    worker.set_defaults(handler=_worker)

    rp = sub.add_parser(
        "replay", help="push a saved JSON-lines log and drive replay mode to its end"
    )
    rp.add_argument("file", help="JSON lines, one care.event/1 per line")
    rp.add_argument(
        "--until",
        type=_instant,
        help="advance the stream clock to this RFC 3339 time with offset (Z or +hh:mm) "
        "instead of the log's end",
    )
    rp.add_argument("--bootstrap", help="Kafka host:port (default $CAREWATCH_BOOTSTRAP)")
    rp.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the workers")
    rp.set_defaults(handler=_replay)

    queue = sub.add_parser("queue", help="the cases waiting for a reply, oldest first")
    queue.add_argument(
        "--url", help="a worker (default $CAREWATCH_CANONICAL_URL or http://127.0.0.1:6066)"
    )
    queue.add_argument("--brand")
    queue.add_argument("--platform")
    queue.add_argument("--priority", choices=["urgent", "high", "normal", "low"])
    queue.add_argument("--limit", type=int, default=50)
    queue.add_argument("--watch", action="store_true", help="redraw every 2 s until Ctrl-C")
    queue.set_defaults(handler=_queue)

    connect = sub.add_parser("connect", help="run a connector: a source into care.events.v1")
    connect.add_argument("source", choices=sorted(CONNECTORS), help="which connector")
    connect.add_argument("file", nargs="?", help="replay: JSON lines, plain or gzip")
    connect.add_argument(
        "--config", help="connector YAML (default $CAREWATCH_CONNECTOR_CONFIG; docs/connectors.md)"
    )
    connect.add_argument("--bootstrap", help="Kafka host:port (default $CAREWATCH_BOOTSTRAP)")
    connect.add_argument("--host", help="webhook: listen address (default 127.0.0.1)")
    connect.add_argument("--port", type=int, help="webhook: listen port (default 6068)")
    connect.add_argument(
        "--speed", type=_speed, help="replay: event-time gaps divided by N (default: no pacing)"
    )
    connect.add_argument(
        "--no-progress", dest="progress", action="store_false", help="replay: no progress bar"
    )
    connect.add_argument(
        "-l", "--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"]
    )
    connect.set_defaults(handler=_connect)

    bench = sub.add_parser("bench", help="measure throughput, latency, memory, recovery")
    bench.add_argument("--events", type=int, help="events in the log (default 1,000,000)")
    bench.add_argument("--quick", action="store_true", help="the small version (20,000 events)")
    bench.add_argument("--seed", type=int, default=1, help="the log's seed (default 1)")
    bench.add_argument("--results-dir", help="where the JSON goes (default bench/results)")
    bench.add_argument("--keep", action="store_true", help="keep the temporary folder")
    bench.set_defaults(handler=_bench)

    from dashboards.commands import add_arguments  # argparse only; Grafana's SDK loads in run()

    dashboards = sub.add_parser("dashboards", help="Grafana boards and alert rules")
    add_arguments(dashboards)
    dashboards.set_defaults(handler=_dashboards)

    demo = sub.add_parser(
        "demo", help="local stack, workers, simulated traffic and a live board (Ctrl-C stops)"
    )
    demo.add_argument("--scenario", choices=["normal", "outage", "bots"], default="normal")
    demo.add_argument(
        "--speed", type=_speed, default=60.0, help="simulated seconds per wall second (60)"
    )
    demo.add_argument(
        "--duration", type=_speed, help="wall seconds of traffic, then stop (default: Ctrl-C)"
    )
    demo.add_argument("--workers", type=int, default=2, choices=[1, 2, 3, 4])
    demo.add_argument("--seed", type=int, default=1, help="the simulator's seed")
    demo.add_argument(
        "--keep-stack", action="store_true", help="leave a stack the demo started running"
    )
    demo.set_defaults(handler=_demo)
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
