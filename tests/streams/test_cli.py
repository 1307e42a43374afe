"""The ``carewatch`` command: ``topics create`` against the real broker, and errors as exit 2."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
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
