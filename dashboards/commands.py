"""``carewatch dashboards build|push|preview``: arguments and handlers.

Kept apart from streams/cli.py, which only adds the subcommand; this module imports the
Grafana SDK and grafana-client lazily, inside the handlers.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboards.build import Bundle

DEFAULT_OUT = Path(__file__).resolve().parent / "generated"


def _policy_default() -> str:
    return os.environ.get("CAREWATCH_POLICY_FILE", "deploy/policies.example.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policy", default=_policy_default(), help="SLA policy YAML")
        p.add_argument(
            "--objective", type=float, default=0.95, help="share of deadlines to meet (0.95)"
        )
        p.add_argument("--datasource-uid", default="prometheus", help="Grafana's Prometheus")
        p.add_argument("--webhook-url", help="where alerts are delivered (both severities)")

    build = actions.add_parser("build", help="write dashboards, rules and provisioning files")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    build.add_argument("--grafana-url", default="http://localhost:3000", help="for alert links")
    common(build)

    push = actions.add_parser("push", help="upsert folder, dashboards and alerting in Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL")
    push.add_argument("--token", required=True, help="service account token")
    push.add_argument("--grafana-url", help="for alert links (default: --url)")
    common(push)

    preview = actions.add_parser("preview", help="draw the care floor board from Prometheus")
    preview.add_argument("--prometheus", required=True, help="Prometheus base URL")
    preview.add_argument("--out", type=Path, required=True, help="FILE.html")
    preview.add_argument("--range", default="1h", help="time range up to now (1h, 30m, 90s)")
    preview.add_argument("--scrape-interval", type=float, default=15.0, help="seconds")
    preview.add_argument(
        "--board", default="care-floor", choices=["care-floor", "on-call", "pipeline"]
    )
    common(preview)


def run(args: argparse.Namespace) -> int:
    from dashboards.build import build, write
    from dashboards.config import BuildConfig
    from streams.policy import load_policies

    book = load_policies(args.policy)
    defaults = BuildConfig()
    config = BuildConfig(
        objective=args.objective,
        datasource_uid=args.datasource_uid,
        grafana_url=getattr(args, "grafana_url", None)
        or getattr(args, "url", None)
        or defaults.grafana_url,
        webhook_url=args.webhook_url or defaults.webhook_url,
    )
    bundle = build(config, book)
    if args.action == "build":
        for path in write(bundle, args.out, args.policy, book):
            print(f"wrote {path}")
        return 0
    if args.action == "push":
        from dashboards.push import push

        report = push(bundle, args.url, args.token)
        print(f"folder {config.folder_uid}: {report.folder}")
        print(f"dashboards: {', '.join(report.dashboards)}")
        print(f"rule groups: {', '.join(report.rule_groups)}")
        points = ", ".join(f"{uid} {how}" for uid, how in report.contact_points.items())
        print(f"contact points: {points}")
        print(f"notification policy: carewatch route set ({report.policy_routes} routes)")
        return 0
    return _preview(args, bundle)


def _preview(args: argparse.Namespace, bundle: Bundle) -> int:
    from dashboards.preview import PreviewError, Window, render_board, statuses
    from dashboards.queries import Prometheus
    from streams.policy import parse_duration

    out: Path = args.out
    if out.suffix.lower() != ".html":
        raise PreviewError(
            f"{out}: only .html is written (no PNG rasterizer is installed; the page is "
            "self-contained HTML with inline SVG, open it in any browser)"
        )
    window = Window(time.time(), parse_duration(args.range, "--range"), args.scrape_interval)
    prometheus = Prometheus(args.prometheus)
    prometheus.query("vector(1)")  # unreachable: an error, not a page of empty panels
    page = render_board(bundle.boards[args.board], prometheus, window)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    panels = statuses(page)
    empty = [title for title, status, _ in panels if status != "ok"]
    print(f"wrote {out}: {len(panels) - len(empty)} of {len(panels)} panels with data")
    for title in empty:
        print(f"  no data: {title}")
    return 0
