"""XSettings (the YAML's x: section, then the variables), the backoff schedule (X's
documented one) and the since_id checkpoint file."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import pytest

from connectors.config import ConnectorConfig
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


FILE_TOKEN = "bearer-from-the-file-5d0c"
X_YAML = f"""
x:
  bearer_token: {FILE_TOKEN}
  brands: {{du: ["@du_care", du_bot], tele2: tele2_ru}}
  bot_accounts: [du_bot, "id:99"]
  automation_sources: [Sprinklr, Khoros]
  mode: poll
  read_timeout: 30
  backfill_minutes: 2
  metrics_port: 0
"""


def from_file(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> XSettings:
    path = tmp_path / "connectors.yaml"
    path.write_text(text)
    env = env or {}
    return XSettings.load(ConnectorConfig.load(path, env).x_file, env)


def test_settings_from_the_file_only(tmp_path: Path) -> None:
    settings = from_file(tmp_path, X_YAML)
    assert settings.bearer_token == FILE_TOKEN
    assert settings.brand_handles() == {"du": ("du_care", "du_bot"), "tele2": ("tele2_ru",)}
    assert settings.bot_handles() == (frozenset({"du_bot"}), frozenset({"99"}))
    assert settings.automation_sources == "Sprinklr,Khoros"
    assert (settings.mode, settings.read_timeout, settings.backfill_minutes) == ("poll", 30.0, 2)
    assert settings.metrics_port == 0
    assert settings.api_base == "https://api.twitter.com"  # not in the file: the default
    config = ConnectorConfig.load(tmp_path / "connectors.yaml", {})
    assert FILE_TOKEN not in f"{config!r} {config} {settings!r}"


def test_a_variable_wins_over_the_file(tmp_path: Path) -> None:
    env = {
        "CAREWATCH_X_BEARER_TOKEN": "token-from-the-environment",
        "CAREWATCH_X_MODE": "stream",
        "CAREWATCH_X_BRANDS": "tele2=tele2_ru",
        "CAREWATCH_X_BOT_ACCOUNTS": "",
    }
    settings = from_file(tmp_path, X_YAML, env)
    assert settings.bearer_token == "token-from-the-environment"
    assert settings.mode == "stream"
    assert settings.brand_handles() == {"tele2": ("tele2_ru",)}
    assert settings.bot_handles() == (frozenset(), frozenset())
    assert settings.read_timeout == 30.0  # no variable: the file's value


def test_the_text_forms_of_the_variables_work_in_the_file_too(tmp_path: Path) -> None:
    text = "x: {bearer_token: t, brands: 'du=du_care,du_bot', bot_accounts: du_bot}"
    settings = from_file(tmp_path, text)
    assert settings.brand_handles() == {"du": ("du_care", "du_bot")}
    assert settings.bot_handles() == (frozenset({"du_bot"}), frozenset())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("mode: firehose", "x.mode"),
        ("mode: [stream]", "x.mode"),
        ("read_timeout: soon", "x.read_timeout"),
        ("read_timeout: 0", "x.read_timeout"),
        ("poll_interval: .nan", "x.poll_interval"),
        ("backfill_minutes: 6", "x.backfill_minutes"),
        ("backfill_minutes: 2.5", "x.backfill_minutes"),
        ("metrics_port: true", "x.metrics_port"),
        ("api_base: api.twitter.com", "x.api_base"),
        ("brands: {Du: du_care}", "x.brands"),
        ("brands: {du: 'not a handle'}", "x.brands"),
        ("brands: {du: 'du_care;tele2=x'}", "x.brands"),
        ("brands: {}", "x.brands"),
        ("bot_accounts: [someone_else]", "x.bot_accounts"),
        ("bot_accounts: {du: du_bot}", "x.bot_accounts"),
        ("bearer_token: ''", "x.bearer_token"),
        ("mood: poll", "x.mood"),  # an unknown key: ConnectorConfig refuses it
    ],
)
def test_a_bad_file_value_names_its_setting(tmp_path: Path, body: str, field: str) -> None:
    base = {"bearer_token": "t", "brands": "du=du_care"}
    key = body.split(":")[0]
    lines = [f"  {k}: {v}" for k, v in base.items() if k != key] + [f"  {body}"]
    with pytest.raises(ConfigError) as bad:
        from_file(tmp_path, "x:\n" + "\n".join(lines) + "\n")
    assert bad.value.field == field


def test_a_bad_variable_is_named_as_the_variable_even_with_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        from_file(tmp_path, X_YAML, {"CAREWATCH_X_MODE": "firehose"})
    assert bad.value.field == "CAREWATCH_X_MODE"


@pytest.mark.parametrize("token", ["[bearer-s3cr3t-value]", "{bearer-s3cr3t-value: 1}"])
def test_a_refused_token_from_the_file_is_not_echoed(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError) as bad:
        from_file(tmp_path, f"x: {{bearer_token: {token}, brands: du=du_care}}")
    assert bad.value.field == "x.bearer_token"
    assert "s3cr3t" not in str(bad.value)


def test_the_docs_name_every_setting_and_variable() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "x-connector.md").read_text()
    for f in fields(XSettings):
        assert f"`x.{f.name}`" in docs, f.name
        assert f"`CAREWATCH_X_{f.name.upper()}`" in docs, f.name


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
