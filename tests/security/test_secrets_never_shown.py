"""No token or secret ever shows: real components run with known secret values through
their normal paths and their failures (bad signatures, wrong tokens, refused
credentials, Kafka refusing the client, configuration errors), and every line they
print, every answer they give, every error message and every ``/metrics`` page is
scanned for those values."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from connectors.config import Secret
from deploy.localstack.processes import free_port, log_tail, wait_until
from streams.cli import main
from tests.conftest import Broker, make_topics
from tests.connectors import fake_x
from tests.connectors.fake_x import AMIRA_MENTION, FakeX
from tests.connectors.harness import meta_signature, read_topic, signed
from tests.e2e.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "connectors" / "payloads"

# One distinct, recognisable value per secret carewatch holds.
EVENTS_TOKEN = "sekret-events-token-7f3a91c2"
HMAC_SECRET = "sekret-events-hmac-2b8d44e0"
META_APP_SECRET = "sekret-meta-app-5c1e9a77"
META_VERIFY_TOKEN = "sekret-meta-verify-93d0b6f1"
CHATWOOT_TOKEN = "sekret-chatwoot-url-4e7c2a18"
CHATWOOT_SECRET = "sekret-chatwoot-sign-a0f5d3c9"
PSEUDONYMISE_KEY = "sekret-pseudonymise-61b7e2d4"
SASL_PASSWORD = "sekret-sasl-password-8c2f0e5a"
API_TOKEN = "sekret-api-token-3d9a7b1f5e"
X_BEARER = "sekret-x-bearer-AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid"
SECRETS = (
    EVENTS_TOKEN,
    HMAC_SECRET,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    CHATWOOT_TOKEN,
    CHATWOOT_SECRET,
    PSEUDONYMISE_KEY,
    SASL_PASSWORD,
    API_TOKEN,
    X_BEARER,
)


def assert_no_secret(where: str, text: str | bytes) -> None:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    assert shown, f"{where}: nothing captured, so nothing was scanned"
    leaked = [s for s in SECRETS if s in shown or s[:16] in shown]
    assert not leaked, f"{where} shows {leaked}"


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
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        head = "".join(f"{k}: {v}\n" for k, v in response.getheaders()).encode()
        return response.status, head + response.read()
    finally:
        connection.close()


class Process:
    """A ``carewatch`` subprocess whose whole output goes to one file."""

    def __init__(self, argv: list[str], env: dict[str, str], output: Path) -> None:
        self.output = output
        with output.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *argv],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def wait_serving(self, port: int) -> None:
        def answers() -> bool:
            try:
                return call(port, "GET", "/health")[0] == 200
            except OSError:
                return self.proc.poll() is not None

        assert wait_until(answers, 60, 0.1)
        assert self.proc.poll() is None, log_tail(self.output, 40)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return self.output.read_text(encoding="utf-8", errors="replace")


WEBHOOK_YAML = f"""
webhook: {{max_body: 65536}}
events: {{hmac_secret: {HMAC_SECRET}}}
meta:
  app_secret: {META_APP_SECRET}
  verify_token: {META_VERIFY_TOKEN}
  facebook_pages: {{"103249842441862": du}}
chatwoot:
  accounts: {{7: tele2}}
"""


def _webhook_requests(port: int) -> list[tuple[int, bytes]]:
    """Every route, with right and wrong credentials, and a body too large."""
    event = orjson.dumps(
        {
            "schema": "care.event/1",
            "event_id": "leak-1",
            "kind": "message",
            "platform": "telegram",
            "brand": "tele2",
            "thread_id": "chat-1",
            "customer_id": "cust-1",
            "occurred_at": "2026-11-21T09:13:20Z",
        }
    )
    meta = (PAYLOADS / "meta_messenger.json").read_bytes()
    chatwoot = (PAYLOADS / "chatwoot_message_incoming.json").read_bytes()
    stamp = str(int(time.time()))
    cw_signature = "sha256=" + Secret(CHATWOOT_SECRET).sign(stamp.encode() + b"." + chatwoot)
    cw_headers = {"X-Chatwoot-Signature": cw_signature, "X-Chatwoot-Timestamp": stamp}
    verify = f"/meta?hub.mode=subscribe&hub.challenge=4242&hub.verify_token={META_VERIFY_TOKEN}"
    stale = signed(event, HMAC_SECRET, time.time() - 3600)
    return [
        call(port, "POST", "/events", event, {"Authorization": f"Bearer {EVENTS_TOKEN}"}),
        call(port, "POST", "/events", event, {"Authorization": f"Bearer {EVENTS_TOKEN}x"}),
        call(port, "POST", "/events", event, {"Authorization": f"Bearer {EVENTS_TOKEN[:-1]}"}),
        call(port, "POST", "/events", event, signed(event, HMAC_SECRET)),
        call(port, "POST", "/events", event, signed(event, HMAC_SECRET + "x")),
        call(port, "POST", "/events", event, stale),
        call(port, "POST", "/events", b"{" * 70_000, {"Authorization": f"Bearer {EVENTS_TOKEN}"}),
        call(port, "POST", "/events", b"{not json", {"Authorization": f"Bearer {EVENTS_TOKEN}"}),
        call(port, "GET", verify),
        call(port, "GET", verify + "x"),
        call(port, "POST", "/meta", meta, meta_signature(meta, META_APP_SECRET)),
        call(port, "POST", "/meta", meta, meta_signature(meta, META_APP_SECRET + "x")),
        call(port, "POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", chatwoot, cw_headers),
        call(port, "POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}x", chatwoot, cw_headers),
        call(port, "POST", f"/chatwoot/7?token={CHATWOOT_TOKEN}", chatwoot + b" ", cw_headers),
        call(port, "POST", f"/chatwoot/9?token={CHATWOOT_TOKEN}", chatwoot, cw_headers),
        call(port, "GET", "/health"),
        call(port, "GET", "/metrics"),
    ]


@pytest.mark.kafka
@pytest.mark.parametrize("kafka", ["reachable", "refuses the client"])
def test_the_webhook_shows_no_secret(broker: Broker, tmp_path: Path, kafka: str) -> None:
    """Debug logging on; Kafka either takes the events or refuses the client (SASL
    offered to a broker that speaks none: every send fails, 503)."""
    topics = make_topics(broker)
    config = tmp_path / "connectors.yaml"
    config.write_text(WEBHOOK_YAML)
    port = free_port()
    env = process_env(
        CAREWATCH_EVENTS_TOKENS=f"{EVENTS_TOKEN},{EVENTS_TOKEN[::-1]}",
        CAREWATCH_CHATWOOT_TOKEN=CHATWOOT_TOKEN,
        CAREWATCH_CHATWOOT_WEBHOOK_SECRET=CHATWOOT_SECRET,
        CAREWATCH_PSEUDONYMISE_KEY=PSEUDONYMISE_KEY,
        CAREWATCH_EVENTS_TOPIC=topics.events,
        CAREWATCH_KAFKA_ACK_TIMEOUT="3",
        CAREWATCH_KAFKA_SASL_USERNAME="carewatch",
        CAREWATCH_KAFKA_SASL_PASSWORD=SASL_PASSWORD,
    )
    if kafka != "reachable":
        env["CAREWATCH_KAFKA_SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
    argv = ["connect", "webhook", "--config", str(config), "--port", str(port)]
    argv += ["--bootstrap", broker.bootstrap, "-l", "debug"]
    process = Process(argv, env, tmp_path / "webhook.out")
    try:
        process.wait_serving(port)
        answers = _webhook_requests(port)
    finally:
        printed = process.stop()
    statuses = [status for status, _ in answers]
    accepted = 200 if kafka == "reachable" else 503
    assert statuses == [
        accepted, 401, 401, accepted, 401, 401, 413, 400,
        200, 403, accepted, 401, accepted, 401, 401, 404, 200, 200,
    ], printed  # fmt: skip
    assert_no_secret("the webhook's output", printed)
    for n, (_, answer) in enumerate(answers):
        assert_no_secret(f"answer {n}", answer)
    if kafka == "reachable":
        records = read_topic(broker.bootstrap, topics.events)
        assert records
        for key, value in records:
            assert_no_secret("a Kafka record", key + value)


@pytest.mark.kafka
@pytest.mark.parametrize("token", ["accepted", "refused"])
def test_the_x_connector_shows_no_secret(broker: Broker, tmp_path: Path, token: str) -> None:
    """The token comes from a variable, or (the refused one) from the file's x: section."""
    topics = make_topics(broker)
    port = free_port()
    config = tmp_path / "connectors.yaml"
    in_file = X_BEARER if token == "refused" else "not-the-token"  # a variable wins
    config.write_text(f"x: {{bearer_token: {in_file}, brands: du=du_care}}\n")
    with FakeX(token=X_BEARER if token == "accepted" else "another-token") as fake:
        fake.load(fake_x.world())
        env = process_env(
            CAREWATCH_CONNECTOR_CONFIG=str(config),
            CAREWATCH_X_API_BASE=fake.base_url,
            CAREWATCH_X_METRICS_PORT=str(port),
            CAREWATCH_X_CHECKPOINT_FILE=str(tmp_path / "since.json"),
            CAREWATCH_EVENTS_TOPIC=topics.events,
            CAREWATCH_PSEUDONYMISE_KEY=PSEUDONYMISE_KEY,
            CAREWATCH_KAFKA_SASL_USERNAME="carewatch",
            CAREWATCH_KAFKA_SASL_PASSWORD=SASL_PASSWORD,
        )
        if token == "accepted":
            env["CAREWATCH_X_BEARER_TOKEN"] = X_BEARER
        argv = ["connect", "x", "--bootstrap", broker.bootstrap, "-l", "debug"]
        process = Process(argv, env, tmp_path / "x.out")
        try:
            if token == "accepted":
                process.wait_serving(port)
                fake.push(AMIRA_MENTION)
                assert wait_until(lambda: bool(read_topic(broker.bootstrap, topics.events)), 30)
                _, metrics = call(port, "GET", "/metrics")
                assert b"carewatch_connector_events_total" in metrics
                assert_no_secret("the X connector's /metrics", metrics)
            else:
                assert process.proc.wait(60) != 0  # a refused token stops the connector
        finally:
            printed = process.stop()
    assert_no_secret("the X connector's output", printed)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_worker_shows_no_secret(broker: Broker, tmp_path: Path) -> None:
    """The API token guards the case views; the SASL password is configured (PLAINTEXT
    here, so unused) and must not show in what the worker prints at start-up either."""
    topics = make_topics(broker)
    env = {
        "CAREWATCH_API_TOKEN": API_TOKEN,
        "CAREWATCH_KAFKA_SASL_USERNAME": "carewatch",
        "CAREWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
    }
    worker = WorkerProcess(topics, tmp_path, "leak-worker", mode="replay", env=env).start()
    answers: list[bytes] = []
    try:
        worker.wait_partitions()
        base = f"http://127.0.0.1:{worker.port}"
        for token in (API_TOKEN, API_TOKEN + "x", API_TOKEN[:-1], ""):
            request = urllib.request.Request(
                f"{base}/cases/waiting", headers={"Authorization": f"Bearer {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    answers.append(reply.read())
            except urllib.error.HTTPError as refused:
                answers.append(f"{refused.code} ".encode() + refused.read())
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as reply:
            answers.append(reply.read())
    finally:
        worker.stop()
    assert answers[0].startswith(b"{") or answers[0].startswith(b"[")
    assert [a[:3] for a in answers[1:4]] == [b"401", b"401", b"401"]
    for n, answer in enumerate(answers):
        assert_no_secret(f"the worker's answer {n}", answer)
    assert_no_secret("the worker's log", worker.log.read_text(errors="replace"))


CONFIG_ERRORS: dict[str, tuple[list[str], dict[str, str], str]] = {
    "a token with a space": (
        ["connect", "webhook"],
        {"CAREWATCH_EVENTS_TOKENS": f"{EVENTS_TOKEN} "},
        "CAREWATCH_EVENTS_TOKENS",
    ),
    "a key too short": (
        ["connect", "webhook"],
        {"CAREWATCH_EVENTS_TOKENS": EVENTS_TOKEN, "CAREWATCH_PSEUDONYMISE_KEY": "sekret-short"},
        "CAREWATCH_PSEUDONYMISE_KEY",
    ),
    "SASL without a user": (
        ["connect", "webhook"],
        {
            "CAREWATCH_EVENTS_TOKENS": EVENTS_TOKEN,
            "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CAREWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
        },
        "kafka.sasl_username",
    ),
    "a password with a space": (
        ["connect", "webhook"],
        {"CAREWATCH_EVENTS_TOKENS": EVENTS_TOKEN, "CAREWATCH_KAFKA_SASL_PASSWORD": f" {SASL_PASSWORD}"},
        "CAREWATCH_KAFKA_SASL_PASSWORD",
    ),
    "no webhook source": (
        ["connect", "webhook"],
        {"CAREWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD, "CAREWATCH_PSEUDONYMISE_KEY": PSEUDONYMISE_KEY},
        "events.tokens",
    ),
    "a worker's bad port": (
        ["worker"],
        {"CAREWATCH_API_TOKEN": API_TOKEN, "CAREWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD, "CAREWATCH_WEB_PORT": "70000"},
        "CAREWATCH_WEB_PORT",
    ),
    "a worker's SASL without a user": (
        ["worker"],
        {"CAREWATCH_API_TOKEN": API_TOKEN, "CAREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CAREWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD},
        "CAREWATCH_KAFKA_SASL_USERNAME",
    ),
    "X brands missing": (
        ["connect", "x"],
        {"CAREWATCH_X_BEARER_TOKEN": X_BEARER},
        "CAREWATCH_X_BRANDS",
    ),
    "X mode wrong": (
        ["connect", "x"],
        {"CAREWATCH_X_BEARER_TOKEN": X_BEARER, "CAREWATCH_X_BRANDS": "du=du_care", "CAREWATCH_X_MODE": "x"},
        "CAREWATCH_X_MODE",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_configuration_errors_name_the_setting_but_show_no_secret(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, env, named = CONFIG_ERRORS[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "sekret-short" not in err  # a refused secret is not echoed either
    assert_no_secret(case, err)


@pytest.mark.parametrize(
    ("x_section", "named"),
    [
        (f"{{bearer_token: {X_BEARER}, brands: du=du_care, mode: firehose}}", "x.mode"),
        (f"{{bearer_token: [{X_BEARER}], brands: du=du_care}}", "x.bearer_token"),
        (
            f"{{bearer_token: {X_BEARER}, brands: du=du_care, bot_accounts: [bot]}}",
            "x.bot_accounts",
        ),
    ],
)
def test_x_settings_from_the_file_name_the_setting_but_show_no_secret(
    x_section: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "connectors.yaml"
    config.write_text(f"x: {x_section}\n")
    assert main(["connect", "x", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"error: {named}: " in err
    assert_no_secret(f"an {named} error", err)


def test_a_broken_yaml_line_holding_a_secret_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "connectors.yaml"
    config.write_text(f"events:\n  hmac_secret: {HMAC_SECRET}: {EVENTS_TOKEN}\n  - [\n")
    assert main(["connect", "webhook", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML at line" in err
    assert_no_secret("a YAML error", err)
