"""The ``carewatch`` command: ``topics create`` against the real broker, the options of
``worker``, ``replay`` and ``stack``, and errors as exit 2."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.cli import build_parser, main
from streams.settings import TopicSpec
from tests.conftest import Broker, make_topics

NOWHERE = "127.0.0.1:9"  # settings fail before any connection is tried


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CAREWATCH_* variable of the caller's shell reaches these tests."""
    for var in [v for v in os.environ if v.startswith("CAREWATCH_")]:
        monkeypatch.delenv(var)


def unique_topics(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    suffix = uuid.uuid4().hex[:10]
    names = [f"care.events.v1.{suffix}", f"care.sla.v1.{suffix}", f"care.deadletter.v1.{suffix}"]
    for var, name in zip(
        ("CAREWATCH_EVENTS_TOPIC", "CAREWATCH_SLA_TOPIC", "CAREWATCH_DEADLETTER_TOPIC"),
        names,
        strict=True,
    ):
        monkeypatch.setenv(var, name)
    return names


def rows(out: str, names: list[str]) -> list[tuple[str, int, str]]:
    """``(topic, partitions, created|exists)`` per line, for the topics expected there."""
    found = []
    for line in out.splitlines():
        for name in names:
            if match := re.fullmatch(
                rf"{re.escape(name)}\s*(\d+) partitions\s+(created|exists)", line
            ):
                found.append((name, int(match.group(1)), match.group(2)))
    return found


@pytest.mark.kafka
def test_topics_create_prints_the_three_topics_then_reports_them_existing(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = unique_topics(monkeypatch)
    argv = ["topics", "create", "--bootstrap", broker.bootstrap, "--partitions", "3"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert rows(out, names) == [(name, 3, "created") for name in names]
    assert len(out.splitlines()) == 3
    assert err == ""
    assert main(argv) == 0
    assert rows(capsys.readouterr().out, names) == [(name, 3, "exists") for name in names]


@pytest.mark.kafka
def test_topics_create_reads_bootstrap_and_partitions_from_the_environment(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = unique_topics(monkeypatch)
    monkeypatch.setenv("CAREWATCH_BOOTSTRAP", broker.bootstrap)
    monkeypatch.setenv("CAREWATCH_PARTITIONS", "2")
    assert main(["topics", "create"]) == 0
    assert rows(capsys.readouterr().out, names) == [(name, 2, "created") for name in names]


@pytest.mark.kafka
def test_a_partition_mismatch_exits_2_naming_the_topic(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = make_topics(broker, partitions=2)
    monkeypatch.setenv("CAREWATCH_EVENTS_TOPIC", existing.events)
    monkeypatch.setenv("CAREWATCH_SLA_TOPIC", existing.sla)
    monkeypatch.setenv("CAREWATCH_DEADLETTER_TOPIC", existing.deadletter)
    argv = ["topics", "create", "--bootstrap", broker.bootstrap, "--partitions", "3"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"carewatch topics: error: topic {existing.events} has 2 partitions, configured 3\n"
    )


@pytest.mark.parametrize("raw", ["four", "0", "-1", "2.5"])
def test_a_bad_partitions_variable_exits_2_naming_it(
    raw: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAREWATCH_PARTITIONS", raw)
    assert main(["topics", "create", "--bootstrap", NOWHERE]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("carewatch topics: error: CAREWATCH_PARTITIONS: ")
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1  # a message, not a traceback


@pytest.mark.parametrize(
    ("argv", "env", "var"),
    [
        (["--bootstrap", "no-port"], {}, "CAREWATCH_BOOTSTRAP"),
        (["--bootstrap", NOWHERE, "--partitions", "0"], {}, "CAREWATCH_PARTITIONS"),
        (["--bootstrap", NOWHERE], {"CAREWATCH_SLA_TOPIC": "no spaces"}, "CAREWATCH_SLA_TOPIC"),
        (["--bootstrap", NOWHERE], {"CAREWATCH_REPLICATION": "x"}, "CAREWATCH_REPLICATION"),
    ],
)
def test_other_bad_settings_exit_2_naming_the_variable(
    argv: list[str],
    env: dict[str, str],
    var: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["topics", "create", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"carewatch topics: error: {var}: ")


def test_the_parser_reads_the_topics_options() -> None:
    args = build_parser().parse_args(
        ["topics", "create", "--bootstrap", "k:1", "--partitions", "3"]
    )
    assert (args.command, args.action, args.bootstrap, args.partitions) == (
        "topics",
        "create",
        "k:1",
        3,
    )
    defaults = build_parser().parse_args(["topics", "create"])
    assert (defaults.bootstrap, defaults.partitions) == (None, None)  # settings decide


@pytest.mark.parametrize(
    "argv",
    [[], ["topics"], ["topics", "delete"], ["topics", "create", "--partitions", "three"], ["nope"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: carewatch" in capsys.readouterr().err


def test_a_long_topic_name_stays_apart_from_its_partition_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def created(bootstrap: str, specs: Iterable[TopicSpec], *args: Any, **kwargs: Any) -> list[str]:
        return [s.name for s in specs]

    monkeypatch.setattr("streams.topics.ensure_topics", created)
    name = "care.events.v1.production-eu"  # 28 characters, a valid topic name
    monkeypatch.setenv("CAREWATCH_EVENTS_TOPIC", name)
    assert main(["topics", "create", "--bootstrap", NOWHERE, "--partitions", "3"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split() == [name, "3", "partitions", "created"]


def test_the_parser_reads_the_worker_options() -> None:
    args = build_parser().parse_args(["worker", "--mode", "replay", "--policy", "sla.yaml"])
    assert (args.command, args.mode, args.policy) == ("worker", "replay", "sla.yaml")
    assert build_parser().parse_args(["worker", "--mode", "live"]).mode == "live"
    defaults = build_parser().parse_args(["worker"])
    assert (defaults.mode, defaults.policy) == (None, None)  # settings decide


@pytest.mark.parametrize("argv", [["--mode", "batch"], ["--mode"], ["--policy"]])
def test_bad_worker_options_exit_2_naming_the_option(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["worker", *argv])
    assert exit_.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T09:13:20Z", datetime(2026, 11, 21, 9, 13, 20, tzinfo=UTC)),
        ("2026-11-21t13:13:20.5+04:00", datetime(2026, 11, 21, 9, 13, 20, 500000, tzinfo=UTC)),
        ("2026-11-21T00:00:00-05:30", datetime(2026, 11, 21, 5, 30, tzinfo=UTC)),
    ],
)
def test_replay_until_reads_an_rfc_3339_time_with_its_offset(text: str, expected: datetime) -> None:
    args = build_parser().parse_args(["replay", "log.jsonl", "--until", text])
    assert args.until == expected.timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21T09:13:20",  # no offset: it would be read as this machine's local time
        "2026-11-21 09:13:20",
        "2026-11-21",
        "2026-11-21T09:13:20+0400",
        "20261121T091320Z",
        "2026-02-30T09:00:00Z",  # the shape of a time, not a real one
        "tomorrow",
    ],
)
def test_replay_until_without_an_offset_exits_2_naming_the_option(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("")
    with pytest.raises(SystemExit) as exit_:  # refused before any connection is tried
        main(["replay", str(log), "--until", text, "--bootstrap", NOWHERE])
    assert exit_.value.code == 2
    assert "argument --until: " in capsys.readouterr().err


def test_replay_hands_until_to_the_replay_as_posix_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from connectors.replay import ReplayReport

    seen: dict[str, Any] = {}

    def replay(lines: Iterable[bytes], **options: Any) -> ReplayReport:
        seen.update(options, lines=list(lines))
        return ReplayReport(sent=1, invalid=0, advanced_to=options["until"], seconds=0.1)

    monkeypatch.setattr("connectors.replay.replay", replay)
    log = tmp_path / "log.jsonl"
    log.write_text('{"a": 1}\n')
    argv = ["replay", str(log), "--until", "2026-11-21T13:00:00+04:00", "--bootstrap", NOWHERE]
    assert main(argv) == 0
    assert seen["until"] == datetime(2026, 11, 21, 9, tzinfo=UTC).timestamp()
    assert seen["lines"] == [b'{"a": 1}']
    assert "replayed 1 lines" in capsys.readouterr().out


def test_stack_takes_every_port_as_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.localstack.stack import StackConfig

    configs: list[StackConfig] = []

    class Stack:
        def __init__(self, config: StackConfig) -> None:
            configs.append(config)

        def status(self) -> list[object]:
            return []

    monkeypatch.setattr("deploy.localstack.stack.Stack", Stack)
    ports = ["--kafka-port", "29092", "--controller-port", "29093"]
    ports += ["--prometheus-port", "29090", "--alertmanager-port", "29094"]
    assert main(["stack", "status", *ports]) == 0
    config = configs[0]
    assert (config.kafka_port, config.controller_port) == (29092, 29093)
    assert (config.prometheus_port, config.alertmanager_port) == (29090, 29094)
