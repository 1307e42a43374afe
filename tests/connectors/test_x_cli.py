"""`carewatch connect x`: the subcommand exists and refuses unusable settings by name."""

from __future__ import annotations

import os

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
