"""``carewatch connect``: the webhook as a process (its whole output scanned for secrets,
stopped by SIGTERM), the replay stopped by SIGTERM, and start-up errors."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import orjson
import pytest

from deploy.localstack.processes import free_port, wait_until
from streams.cli import CONNECTORS, _scrape_target, main
from tests.conftest import Broker, make_topics
from tests.connectors.harness import (
    CHATWOOT_TOKEN,
    EVENTS_TOKEN,
    FACEBOOK_PAGE,
    HMAC_SECRET,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    SECRETS,
    meta_signature,
    signed,
    topic_size,
)

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(__file__).parent / "payloads"
CONFIG = f"""
webhook: {{max_body: 65536}}
events: {{hmac_secret: {HMAC_SECRET}}}
meta:
  app_secret: {META_APP_SECRET}
  verify_token: {META_VERIFY_TOKEN}
  facebook_pages: {{{FACEBOOK_PAGE}: du}}
chatwoot:
  token: {CHATWOOT_TOKEN}
  accounts: {{7: tele2}}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("CAREWATCH_")]:
        monkeypatch.delenv(var)


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    # No folder there: a connector registers with no Prometheus, not even a local stack's.
    no_prometheus = str(ROOT / "no-prometheus")
    return {**env, "PYTHONUNBUFFERED": "1", "CAREWATCH_PROMETHEUS_SD_DIR": no_prometheus, **extra}


def call(
    port: int, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def answers(port: int) -> bool:
    try:
        return call(port, "GET", "/health") == 200
    except OSError:
        return False


def event_line(n: int, hours: int = 0) -> bytes:
    return orjson.dumps({
        "schema": "care.event/1", "event_id": f"cli-{n}", "kind": "message", "platform": "webchat",
        "brand": "tele2", "thread_id": "t", "customer_id": f"c{n}",
        "occurred_at": f"2026-11-21T{9 + hours:02d}:13:20Z",
    })  # fmt: skip


@pytest.fixture
def webhook_process(
    broker: Broker, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    topics = make_topics(broker)
    config = tmp_path / "connectors.yaml"
    config.write_text(CONFIG)
    port = free_port()
    output = tmp_path / "webhook.out"
    argv = [sys.executable, "-m", "streams.cli", "connect", "webhook", "--config", str(config)]
    argv += ["--port", str(port), "--bootstrap", broker.bootstrap, "-l", "debug"]
    env = process_env(CAREWATCH_EVENTS_TOKENS=EVENTS_TOKEN, CAREWATCH_EVENTS_TOPIC=topics.events)
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: answers(port) or process.poll() is not None, 60, 0.1)
        assert process.poll() is None, output.read_text()
        yield process, port, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


@pytest.mark.kafka
def test_a_webhook_run_prints_no_secret_and_stops_cleanly_on_sigterm(
    webhook_process: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, output = webhook_process
    body = event_line(1)
    meta = (PAYLOADS / "meta_page_feed.json").read_bytes()
    chatwoot = (PAYLOADS / "chatwoot_message_incoming.json").read_bytes()
    verify = f"/meta?hub.mode=subscribe&hub.challenge=4242&hub.verify_token={META_VERIFY_TOKEN}"
    statuses = [
        call(port, "POST", "/events", body, {"Authorization": f"Bearer {EVENTS_TOKEN}"}),
        call(port, "POST", "/events", body, {"Authorization": f"Bearer {EVENTS_TOKEN}x"}),
        call(port, "POST", "/events", body, signed(body)),
        call(port, "POST", "/events", body, signed(body, HMAC_SECRET + "x")),
        call(port, "GET", verify),
        call(port, "GET", verify + "x"),
        call(port, "POST", "/meta", meta, meta_signature(meta)),
        call(port, "POST", "/meta", meta, meta_signature(meta, META_APP_SECRET + "x")),
        call(port, "POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", chatwoot),
        call(port, "POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}x", chatwoot),
    ]
    assert statuses == [200, 401, 200, 401, 200, 403, 200, 401, 200, 401]
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    printed = output.read_text(encoding="utf-8", errors="replace")
    for secret in SECRETS:
        assert secret not in printed, "a secret reached the output"
    records = [orjson.loads(line) for line in printed.splitlines() if line.startswith("{")]
    requests = [r for r in records if r.get("msg") == "request" and r["path"] != "/health"]
    assert len(requests) == len(statuses)
    assert [r["status"] for r in requests] == statuses
    assert all("?" not in r["path"] for r in requests)
    messages = [r["msg"] for r in records]
    assert "webhook listening" in messages
    assert messages[-1] == "webhook stopped"


@pytest.mark.kafka
def test_sigterm_stops_a_paced_replay_with_what_was_sent_acknowledged(
    broker: Broker, tmp_path: Path
) -> None:
    topics = make_topics(broker)
    path = tmp_path / "hours.jsonl"
    path.write_bytes(b"\n".join(event_line(n, hours=n) for n in range(5)))  # an hour apart
    output = tmp_path / "replay.out"
    argv = [sys.executable, "-m", "streams.cli", "connect", "replay", str(path), "--speed", "1"]
    argv += ["--bootstrap", broker.bootstrap, "--no-progress"]
    env = process_env(CAREWATCH_EVENTS_TOPIC=topics.events)
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # The first event goes at once, the second an hour later (at speed 1).
        assert wait_until(lambda: topic_size(broker.bootstrap, topics.events) == 1, 60, 0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    printed = output.read_text()
    assert "5 lines" not in printed  # it stopped before reading them all
    assert "1 events acknowledged by Kafka (1 sent)" in printed
    assert "stopped early: stopped by a signal" in printed
    assert topic_size(broker.bootstrap, topics.events) == 1


def test_replay_start_up_errors_exit_2_naming_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connect", "replay"]) == 2
    assert "FILE" in capsys.readouterr().err
    assert main(["connect", "replay", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    log = tmp_path / "log.jsonl"
    log.write_bytes(event_line(1))
    monkeypatch.setenv("CAREWATCH_KAFKA_ACK_TIMEOUT", "soon")
    assert main(["connect", "replay", str(log)]) == 2
    assert "CAREWATCH_KAFKA_ACK_TIMEOUT" in capsys.readouterr().err
    monkeypatch.setenv("CAREWATCH_KAFKA_ACK_TIMEOUT", "1")
    started = time.monotonic()
    nowhere = f"127.0.0.1:{free_port()}"
    assert main(["connect", "replay", str(log), "--bootstrap", nowhere, "--no-progress"]) == 2
    assert f"cannot reach Kafka at {nowhere}" in capsys.readouterr().err
    assert time.monotonic() - started < 10


def test_webhook_with_no_source_configured_refuses_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["connect", "webhook", "--port", "0"]) == 2
    assert "events.tokens" in capsys.readouterr().err


def test_connect_names_each_connector() -> None:
    assert {"webhook", "replay"} <= set(CONNECTORS)
    with pytest.raises(SystemExit):
        main(["connect", "nothing"])


def test_a_serving_webhook_is_a_scrape_target_until_it_stops(tmp_path: Path) -> None:
    """The local Prometheus finds it by the file it writes (file_sd, as workers do), under
    the connectors' job; SIGTERM removes the file. No broker: serving does not need one."""
    targets = tmp_path / "targets"
    targets.mkdir()
    port = free_port()
    target = targets / f"connector-webhook-{port}.json"
    argv = [sys.executable, "-m", "streams.cli", "connect", "webhook", "--port", str(port)]
    argv += ["--bootstrap", f"127.0.0.1:{free_port()}"]
    env = process_env(
        CAREWATCH_EVENTS_TOKENS=EVENTS_TOKEN,
        CAREWATCH_PROMETHEUS_SD_DIR=str(targets),
        CAREWATCH_KAFKA_ACK_TIMEOUT="1",  # the warm-up's connect gives up soon: a quick exit
    )
    output = tmp_path / "webhook.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: target.exists() or process.poll() is not None, 60, 0.1)
        assert process.poll() is None, output.read_text()
        assert orjson.loads(target.read_bytes()) == [
            {
                "targets": [f"127.0.0.1:{port}"],
                "labels": {"job": "carewatch-connectors", "component": "webhook"},
            }
        ]
        assert answers(port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert not target.exists()
    assert list(targets.iterdir()) == []


def test_a_scrape_target_only_with_a_prometheus_folder_and_only_while_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREWATCH_PROMETHEUS_SD_DIR", str(tmp_path))
    with _scrape_target("x", "0.0.0.0") as ready:
        assert list(tmp_path.iterdir()) == []  # nothing before the port is bound
        ready(6069)
        (target,) = tmp_path.iterdir()
        assert orjson.loads(target.read_bytes())[0]["targets"] == ["127.0.0.1:6069"]
    assert list(tmp_path.iterdir()) == []
    absent = tmp_path / "no-prometheus"
    monkeypatch.setenv("CAREWATCH_PROMETHEUS_SD_DIR", str(absent))
    with _scrape_target("webhook", "127.0.0.1") as ready:
        ready(6068)
    assert not absent.exists()
