"""XSettings, the backoff schedule (X's documented one) and the since_id checkpoint file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from connectors.x_backoff import REASONS, Backoff, BackoffPolicy
from connectors.x_checkpoint import SinceIds, timeline_key
from connectors.x_settings import XSettings
from streams.errors import ConfigError

ENV = {
    "CAREWATCH_X_BEARER_TOKEN": "t0ken",
    "CAREWATCH_X_BRANDS": "du=@du_care,du_bot;tele2=tele2_ru",
}


def test_settings_from_the_environment() -> None:
    env = {
        **ENV,
        "CAREWATCH_X_BOT_ACCOUNTS": "du_bot,id:99",
        "CAREWATCH_X_MODE": "poll",
        "CAREWATCH_X_READ_TIMEOUT": "30",
        "CAREWATCH_X_BACKFILL_MINUTES": "2",
        "CAREWATCH_X_API_BASE": "http://127.0.0.1:8080",
    }
    settings = XSettings.from_env(env)
    assert settings.brand_handles() == {"du": ("du_care", "du_bot"), "tele2": ("tele2_ru",)}
    assert settings.bot_handles() == (frozenset({"du_bot"}), frozenset({"99"}))
    assert (settings.mode, settings.read_timeout, settings.backfill_minutes) == ("poll", 30.0, 2)
    assert "t0ken" not in repr(settings)


def test_defaults_are_xs_own() -> None:
    settings = XSettings.from_env(ENV)
    assert settings.api_base == "https://api.twitter.com"
    assert settings.read_timeout > 20  # X's heartbeat comes every 20 s
    assert settings.mode == "stream"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("CAREWATCH_X_BEARER_TOKEN", ""),
        ("CAREWATCH_X_BRANDS", ""),
        ("CAREWATCH_X_BRANDS", "du"),
        ("CAREWATCH_X_BRANDS", "Du=du_care"),
        ("CAREWATCH_X_BRANDS", "du=not a handle"),
        ("CAREWATCH_X_BRANDS", "du=du_care;tele2=DU_CARE"),
        ("CAREWATCH_X_BOT_ACCOUNTS", "someone_else"),
        ("CAREWATCH_X_MODE", "firehose"),
        ("CAREWATCH_X_API_BASE", "api.twitter.com"),
        ("CAREWATCH_X_READ_TIMEOUT", "0"),
        ("CAREWATCH_X_READ_TIMEOUT", "soon"),
        ("CAREWATCH_X_POLL_INTERVAL", "nan"),
        ("CAREWATCH_X_BACKFILL_MINUTES", "6"),
    ],
)
def test_a_bad_value_names_its_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        XSettings.from_env({**ENV, var: value})
    assert info.value.field == var


def test_network_errors_back_off_linearly_by_250_ms_up_to_16_s() -> None:
    backoff = Backoff(BackoffPolicy())
    waits = [backoff.after("connection_error") for _ in range(70)]
    assert waits[:4] == [0.25, 0.5, 0.75, 1.0]
    assert max(waits) == waits[-1] == 16.0


def test_http_errors_back_off_exponentially_from_5_s_up_to_320_s() -> None:
    backoff = Backoff(BackoffPolicy())
    waits = [backoff.after(r) for r in ["server_error", "http_error"] * 5]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 320, 320, 320]


def test_429_waits_until_the_reset_plus_a_margin_else_a_minute_doubling() -> None:
    backoff = Backoff(BackoffPolicy())
    assert backoff.after("rate_limited", reset_at=1000.0, now=990.5) == 10.5
    assert backoff.after("rate_limited", reset_at=1000.0, now=1002.0) == 1.0  # reset passed
    assert [backoff.after("rate_limited") for _ in range(6)] == [60, 120, 240, 480, 900, 900]


def test_reset_starts_every_schedule_over() -> None:
    backoff = Backoff(BackoffPolicy())
    backoff.after("server_error")
    backoff.after("connection_error")
    backoff.reset()
    assert (backoff.after("server_error"), backoff.after("connection_error")) == (5, 0.25)


def test_the_reason_codes_are_a_fixed_set() -> None:
    assert len(REASONS) == len(set(REASONS)) == 9
    assert all(r.replace("_", "").isalpha() and r.islower() for r in REASONS)


def test_since_ids_survive_a_restart_and_never_move_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "since.json"
    key = timeline_key("du", "17250021", "mentions")
    ids = SinceIds(path)
    assert ids.get(key) is None
    ids.advance({key: "1896523400000000102"})
    ids.advance({key: "999"})  # older: ignored
    assert SinceIds(path).get(key) == "1896523400000000102"
    assert json.loads(path.read_text()) == {"version": 1, "since_id": {key: "1896523400000000102"}}
    assert [p.name for p in path.parent.iterdir()] == ["since.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "since.json"
    SinceIds(path).advance({"du/1/mentions": "5"})
    ids = SinceIds(path)

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        ids.advance({"du/1/mentions": "6"})
    assert json.loads(path.read_text())["since_id"] == {"du/1/mentions": "5"}
    assert [p.name for p in tmp_path.iterdir()] == ["since.json"]


@pytest.mark.parametrize(
    "body",
    ["{", "[]", '{"version": 2, "since_id": {}}', '{"version": 1, "since_id": {"k": "12a"}}'],
)
def test_an_unreadable_checkpoint_file_is_an_error_naming_it(tmp_path: Path, body: str) -> None:
    path = tmp_path / "since.json"
    path.write_text(body)
    with pytest.raises(ConfigError, match=r"since\.json"):
        SinceIds(path)
