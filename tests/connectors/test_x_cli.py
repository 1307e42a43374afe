"""`carewatch connect x`: the subcommand exists and refuses unusable settings by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.cli import build_parser, main


def test_connect_offers_x() -> None:
    args = build_parser().parse_args(["connect", "x"])
    assert args.source == "x"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "CAREWATCH_X_BEARER_TOKEN"),
        ({"CAREWATCH_X_BEARER_TOKEN": "t"}, "CAREWATCH_X_BRANDS"),
        (
            {
                "CAREWATCH_X_BEARER_TOKEN": "t",
                "CAREWATCH_X_BRANDS": "du=du_care",
                "CAREWATCH_X_MODE": "x",
            },
            "CAREWATCH_X_MODE",
        ),
    ],
)
def test_unusable_settings_exit_2_naming_the_variable(
    env: dict[str, str],
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [*os.environ]:
        if name.startswith("CAREWATCH_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["connect", "x"]) == 2
    assert variable in capsys.readouterr().err


def test_connect_x_reads_the_x_section_of_its_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same --config as connect webhook; a file value is named as the file names it,
    a variable overrides the file."""
    for name in [*os.environ]:
        if name.startswith("CAREWATCH_"):
            monkeypatch.delenv(name)
    config = tmp_path / "connectors.yaml"
    config.write_text("x:\n  bearer_token: t\n  brands: {du: du_care}\n  mode: firehose\n")
    assert main(["connect", "x", "--config", str(config)]) == 2
    assert "error: x.mode: expected stream or poll, got 'firehose'" in capsys.readouterr().err
    monkeypatch.setenv("CAREWATCH_X_MODE", "sideways")
    assert main(["connect", "x", "--config", str(config)]) == 2
    assert "error: CAREWATCH_X_MODE: " in capsys.readouterr().err
