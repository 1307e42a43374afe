"""The coverage-guided fuzz drill: atheris (libFuzzer) on the parser and every webhook mapper.

The hostile drill throws families of inputs made by hand; this one lets libFuzzer mutate
real inputs (a valid event, the recorded Meta, Chatwoot and X payloads of
``tests/connectors/payloads``) towards code not reached yet. One target per entry point,
each in a subprocess of its own (``python -m drills.fuzz TARGET [libFuzzer flags]
CORPUS``), each with one oracle:

- ``parser``: :func:`~streams.events.decode_event` accepts the bytes or raises
  ``InvalidEvent`` with one of the contract's reason codes; an accepted event survives
  :func:`~streams.events.encode_event` and decodes again to an equal event.
- ``events`` (``POST /events``): :func:`~connectors.webhook_events.parse_events` gives
  records that are valid contract events, or raises ``Rejected``.
- ``meta``, ``chatwoot``, ``x``: the mappers of Meta's and Chatwoot's webhooks and of
  X's filtered-stream lines give events, or raise ``PayloadError`` (``MalformedPost``
  for X). An event the contract refuses (``InvalidEvent`` from ``encode_event``, e.g. an
  id over 256 characters) is allowed: the webhooks answer 400 with its reason
  (``encode_all``) and the X connector counts and drops it (``x_delivery.checked``);
  every other event survives encoding and decodes again to an equal event.

Anything else escaping is a finding: libFuzzer stops, prints the Python traceback and
writes the input to ``crash-*`` in the artifact folder. :func:`fuzz` runs every target
for a number of runs and reports how many inputs each tried.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from drills.rig import Result

# Nothing of streams/ or connectors/ is imported before atheris instruments them.
ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("parser", "events", "meta", "chatwoot", "x")
PAYLOADS = ROOT / "tests" / "connectors" / "payloads"
NOW = 1_790_000_000.0
MAX_LEN = 4096  # bytes per input: the mappers' paths, not the body limit, are the subject
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def seeds(target: str) -> list[bytes]:
    from drills.hostile_inputs import VALID

    if target in ("parser", "events"):
        one = orjson.dumps(VALID)
        status = orjson.dumps(dict(VALID, kind="status", status="pending", event_id="s1"))
        return [one, status, b"[" + one + b"," + status + b"]", one + b"\n" + status]
    if target == "x":
        return [p.read_bytes() for p in sorted((PAYLOADS / "x").glob("stream_*.json"))]
    return [p.read_bytes() for p in sorted(PAYLOADS.glob(f"{target}_*.json"))]


def oracle(target: str) -> Callable[[bytes], None]:
    """The function libFuzzer calls with each input: it raises only on a finding."""
    import logging

    from prometheus_client import CollectorRegistry

    from connectors.config import MetaOptions
    from connectors.producer import Record
    from connectors.webhook_events import parse_events
    from connectors.webhook_helpdesk import map_chatwoot
    from connectors.webhook_meta import map_meta
    from connectors.webhook_payloads import PayloadError, Rejected, encode_all, load_json
    from connectors.x_delivery import checked
    from connectors.x_mapping import MalformedPost, events_from_stream_line
    from streams.errors import InvalidEvent
    from streams.events import REASONS, CareEvent, decode_event
    from streams.metrics import ConnectorMetrics
    from tests.connectors.harness import FACEBOOK_PAGE, INSTAGRAM_ACCOUNT
    from tests.connectors.test_x_mapping import BRANDS

    logging.getLogger("carewatch").setLevel(logging.ERROR)  # X's skips log a warning each
    x_metrics = ConnectorMetrics(CollectorRegistry(), "x")

    def survive(pairs: Sequence[tuple[CareEvent, bytes]]) -> None:
        for event, encoded in pairs:
            if decode_event(encoded) != event:
                raise AssertionError(f"an event does not survive encoding: {event!r}")

    def webhook(events: Sequence[CareEvent]) -> None:
        """As the webhook writes them: all, or a 400 naming each the contract refuses."""
        try:
            records = encode_all(enumerate(events))
        except Rejected:
            return
        survive([(e, r.value) for e, r in zip(events, records, strict=True)])

    def x_stream(events: Sequence[CareEvent]) -> None:
        """As the X connector writes them: the refused ones counted and skipped."""
        survive([(e, Record.of(e).value) for e in checked(events, x_metrics)])

    def parser(data: bytes) -> None:
        try:
            event = decode_event(data)
        except InvalidEvent as exc:
            if exc.reason not in REASONS:
                raise AssertionError(f"unknown reason {exc.reason!r}") from exc
            return
        webhook([event])

    def events(data: bytes) -> None:
        try:
            records = parse_events(data, NOW)
        except Rejected:
            return
        for record in records:
            decode_event(record.value)  # raises InvalidEvent: a finding here

    meta_options = MetaOptions(None, None, {FACEBOOK_PAGE: "du"}, {INSTAGRAM_ACCOUNT: "mobifone"})

    def mapped(
        read: Callable[[object], Sequence[CareEvent]],
        deliver: Callable[[Sequence[CareEvent]], None] = webhook,
    ) -> Callable[[bytes], None]:
        def one(data: bytes) -> None:
            try:
                found = read(load_json(data))
            except (PayloadError, MalformedPost):
                return
            deliver(found)

        return one

    def x_line(doc: object) -> Sequence[CareEvent]:
        if not isinstance(doc, dict):
            return []  # the stream reader skips a line that is not an object
        return events_from_stream_line(doc, BRANDS, ingested_at=NOW)

    oracles: dict[str, Callable[[bytes], None]] = {
        "parser": parser,
        "events": events,
        "meta": mapped(lambda doc: map_meta(doc, meta_options, NOW).events),
        "chatwoot": mapped(lambda doc: map_chatwoot(doc, "7", "tele2", NOW)),
        "x": mapped(x_line, x_stream),
    }
    return oracles[target]


def main(argv: Sequence[str]) -> None:
    """``python -m drills.fuzz TARGET [libFuzzer flags] [CORPUS ...]``"""
    import atheris  # type: ignore[import-untyped]

    target = argv[1]
    if target not in TARGETS:
        raise SystemExit(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    with atheris.instrument_imports(include=["streams", "connectors"]):
        one = oracle(target)
    atheris.Setup([argv[0], *argv[2:]], one)
    atheris.Fuzz()


def fuzz(runs: int, seed: int, targets: Sequence[str] = TARGETS) -> Result:
    """Every target for ``runs`` inputs; a finding's input and traceback are kept."""
    from drills.rig import Result

    result = Result("fuzz", f"python -m drills --only fuzz --fuzz-runs {runs} --seed {seed}")
    tried: dict[str, int] = {}
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="carewatch-fuzz-"))
    for target in targets:
        corpus = home / target
        corpus.mkdir()
        for n, seed_input in enumerate(seeds(target) if target in TARGETS else ()):
            (corpus / f"seed-{n}").write_bytes(seed_input)
        command = [
            sys.executable,
            "-m",
            "drills.fuzz",
            target,
            f"-runs={runs}",
            f"-seed={seed}",
            f"-max_len={MAX_LEN}",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={home}/{target}-",
            str(corpus),
        ]
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, errors="replace", check=False
        )
        (home / f"{target}.log").write_text(done.stderr)
        counted = _DONE.search(done.stderr)
        tried[target] = int(counted.group(1)) if counted else 0
        tail = "\n".join(done.stderr.splitlines()[-25:])
        result.require(
            done.returncode == 0 and counted is not None,
            f"{target}: libFuzzer exited {done.returncode} (input and log in {home}):\n{tail}",
        )
    if result.ok:
        shutil.rmtree(home)
    result.figures = {
        "runs_per_target": runs,
        "inputs": tried,
        "seconds": time.monotonic() - began,
    }
    result.summary = (
        f"{sum(tried.values()):,} inputs under atheris ("
        + ", ".join(f"{t} {n:,}" for t, n in tried.items())
        + f"); findings {len(result.problems)}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv)
