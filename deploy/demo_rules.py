"""The alert and recording rules the demo loads into Prometheus: ``dashboards/``' rules,
built for the demo's ``--speed``.

Prometheus measures every rule window and ``for:`` in wall time, while the demo's events
run ``--speed`` times faster. With the production rules at speed 60, a burn-rate page's
5-minute and 30-minute windows span 5 and 30 simulated hours and its ``for: 2m`` two
simulated hours: a two-hour outage pages late, and the page stays up for a day and more
of simulated time (half an hour and more of wall time) after the outage is over. So the
demo builds the same rules from the same policy file with
``Timing(speedup=speed)`` (dashboards/timing.py), as dashboards' own end-to-end test does:
every window and ``for:`` ``speed`` times shorter, so each reads in simulated time what
it reads live. Two floors keep them meaningful: no window shorter than four scrapes (a
``rate()`` needs several samples) and no ``for:`` shorter than one evaluation. Names and
thresholds are those of production, but for the one threshold on a rate rather than a
ratio: the mention spike's floor (messages per second) is per wall second, so it is
multiplied by the speed. At ``--speed 1`` the rules are the production ones.

The demo writes them over the stack's rule files of the same names and, when it stops,
puts back what was there before (the stack's rules folder outlives the demo; the next
``carewatch stack up`` must not load a demo's timing).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dashboards.alerts import alert_specs
from dashboards.build import ALERTS_FILE, RECORDING_FILE
from dashboards.config import BuildConfig
from dashboards.recording import recording_groups
from dashboards.rules import alerting_file, recording_file
from dashboards.serialize import to_yaml
from dashboards.timing import Timing, promql_duration
from streams.policy import load_policies

WINDOW_SCRAPES = 4  # the shortest rule window, in scrape intervals
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds_of(duration: str) -> float:
    """A Prometheus duration of one unit (``5s``, ``1m``) in seconds."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not a one-unit Prometheus duration: {duration!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


def demo_timing(speed: float, scrape_seconds: float) -> Timing:
    return Timing(speedup=speed, floor=WINDOW_SCRAPES * scrape_seconds, hold_floor=scrape_seconds)


def describe(timing: Timing) -> str:
    if timing.speedup == 1.0:
        return "production timing"
    hold_floor = timing.floor if timing.hold_floor is None else timing.hold_floor
    return (
        f"every window and for: {timing.speedup:g}x shorter, windows at least "
        f"{promql_duration(timing.floor)}, for: at least {promql_duration(hold_floor)}"
    )


def rule_files(policy_file: Path, timing: Timing) -> dict[str, str]:
    """File name -> text of the recording and alerting rule files for ``timing``."""
    book = load_policies(policy_file)
    spike_floor = BuildConfig().spike_min_per_second * timing.speedup  # per wall second
    config = BuildConfig(timing=timing, spike_min_per_second=spike_floor)
    header = (
        f"# Built by `carewatch demo` from {policy_file} with dashboards/: "
        f"{describe(timing)}. The demo puts the previous file back when it stops.\n"
    )
    return {
        RECORDING_FILE.name: to_yaml(recording_file(recording_groups(config, book)), header),
        ALERTS_FILE.name: to_yaml(alerting_file(alert_specs(config, book), config), header),
    }


@dataclass
class InstalledRules:
    """Rule files written into a Prometheus rule folder, and what they replaced."""

    rules_dir: Path
    previous: dict[str, bytes | None] = field(default_factory=dict)

    @classmethod
    def install(cls, rules_dir: Path, files: dict[str, str]) -> InstalledRules:
        rules_dir.mkdir(parents=True, exist_ok=True)
        installed = cls(rules_dir)
        for name, text in files.items():
            path = rules_dir / name
            installed.previous[name] = path.read_bytes() if path.exists() else None
            tmp = path.with_name(f".{name}.tmp")  # not *.yml: Prometheus never reads half a file
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        return installed

    def restore(self) -> None:
        for name, content in self.previous.items():
            path = self.rules_dir / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.previous.clear()


def reload_prometheus(prometheus_url: str) -> str | None:
    """Ask Prometheus to reread its configuration and rules; the error, if it refused."""
    request = urllib.request.Request(f"{prometheus_url}/-/reload", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:  # a rule file it cannot load: it says why
        return f"{error}: {error.read().decode(errors='replace').strip()}"
    except OSError as error:
        return str(error)
    return None
