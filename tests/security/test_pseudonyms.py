"""Customer ids pseudonymised with a keyed hash before they reach Kafka: the pseudonym's
properties, and the real webhook and replay connectors on the real broker, where no raw
id is left in any key or value and a customer's case key stays the same."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.config import ConnectorConfig, KafkaOptions, Secret
from connectors.producer import EventProducer
from connectors.pseudonym import Pseudonymiser
from connectors.replay import load
from connectors.x import serve
from connectors.x_settings import XSettings
from streams.clocks import CaseState
from streams.errors import ConfigError
from streams.events import CareEvent, Kind, decode_event, encode_event
from streams.metrics import ConnectorMetrics
from streams.views import conversation_link
from tests.conftest import Broker, make_topics
from tests.connectors import fake_x
from tests.connectors.fake_x import FakeX
from tests.connectors.harness import RunningWebhook, read_topic, webhook_config

KEY = "pseudonymise-key-0f3b9c1e7a5d"
PAYLOADS = Path(__file__).parents[1] / "connectors" / "payloads"
MESSENGER_CUSTOMER = "25139087341012345"  # the PSID in meta_messenger.json
CHATWOOT_CONTACT = "4821"  # the contact in chatwoot_message_incoming.json


def _event(customer: str, thread: str, platform: str = "x", n: int = 1) -> CareEvent:
    return CareEvent(
        f"pseudo-{n}",
        Kind.MESSAGE,
        platform=platform,
        brand="du",
        thread_id=thread,
        customer_id=customer,
        occurred_at=1795252400.0 + n,
    )


def test_the_same_id_gets_the_same_pseudonym_and_another_key_another() -> None:
    one, same, other = (
        Pseudonymiser(Secret(KEY)),
        Pseudonymiser(Secret(KEY)),
        Pseudonymiser(Secret(KEY + "x")),
    )
    assert one.customer("x", "1234") == same.customer("x", "1234")
    assert one.customer("x", "1234") != other.customer("x", "1234")
    assert one.customer("x", "1234") != one.customer("facebook", "1234")  # per platform
    assert one.customer("x", "1234") != one.customer("x", "1235")
    pseudonym = one.customer("x", "1234")
    assert pseudonym.startswith("p-")
    assert len(pseudonym) == 34
    assert ":" not in pseudonym
    assert KEY not in repr(one)


def test_the_event_fits_the_contract_its_case_is_stable_and_links_still_work() -> None:
    p = Pseudonymiser(Secret(KEY))
    mention = p.event(_event("98765", "1790000000000000001"))
    again = p.event(_event("98765", "1790000000000000001", n=2))
    assert decode_event(encode_event(mention)) == mention  # within the field rules
    assert mention.case_key == again.case_key  # one case for one customer
    assert mention.thread_id == "1790000000000000001"  # the thread is kept ...
    assert conversation_link(CaseState(mention.case_key)) == (
        "https://x.com/i/web/status/1790000000000000001"
    )  # ... so the conversation's link is still built from the case key
    direct = p.event(_event(MESSENGER_CUSTOMER, MESSENGER_CUSTOMER, "facebook"))
    assert direct.thread_id == direct.customer_id != MESSENGER_CUSTOMER  # thread = customer


def test_the_key_comes_from_a_variable_or_a_file_and_is_never_echoed(tmp_path: Path) -> None:
    from_env = ConnectorConfig.load(env={"CAREWATCH_PSEUDONYMISE_KEY": KEY})
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    from_file = ConnectorConfig.load(env={"CAREWATCH_PSEUDONYMISE_KEY_FILE": str(key_file)})
    for config in (from_env, from_file):
        assert config.kafka.pseudonymise_key is not None
        assert config.kafka.pseudonymise_key.reveal() == KEY
        assert KEY not in repr(config)
    short = tmp_path / "short"
    short.write_text("tiny-secret")
    errors = []
    for env in (
        {"CAREWATCH_PSEUDONYMISE_KEY": "tiny-secret"},
        {"CAREWATCH_PSEUDONYMISE_KEY_FILE": str(short)},
        {"CAREWATCH_PSEUDONYMISE_KEY_FILE": str(tmp_path / "missing")},
        {"CAREWATCH_PSEUDONYMISE_KEY": KEY, "CAREWATCH_PSEUDONYMISE_KEY_FILE": str(key_file)},
    ):
        with pytest.raises(ConfigError) as caught:
            ConnectorConfig.load(env=env)
        errors.append(str(caught.value))
    assert errors[0].startswith("CAREWATCH_PSEUDONYMISE_KEY: unusable secret")
    assert all("tiny-secret" not in e and KEY not in e for e in errors), errors


def _no_raw_ids(records: list[tuple[bytes, bytes]], raw: list[str]) -> None:
    """No raw id anywhere in a key or value (ids long enough not to occur by chance in a
    timestamp or a pseudonym), nor as any part of a case key."""
    for key, value in records:
        for ident in raw:
            if len(ident) >= 7:
                assert ident.encode() not in key + value, f"raw id {ident} reached Kafka"
            assert ident not in key.decode().split(":"), f"raw id {ident} in a case key"


@pytest.mark.kafka
def test_no_raw_customer_id_reaches_the_topic_from_the_webhook(broker: Broker) -> None:
    topics = make_topics(broker)
    config = webhook_config(broker.bootstrap, topics.events)
    kafka = dataclasses.replace(config.kafka, pseudonymise_key=Secret(KEY))
    posted = [_event("cust-77", "chat-3", "telegram", n) for n in (1, 2)]
    with RunningWebhook(dataclasses.replace(config, kafka=kafka)) as service:
        body = b"".join(encode_event(e) + b"\n" for e in posted)
        assert service.post_events(body).status == 200
        messenger = (PAYLOADS / "meta_messenger.json").read_bytes()
        assert service.post_meta(messenger).status == 200
        chatwoot = (PAYLOADS / "chatwoot_message_incoming.json").read_bytes()
        token = {"X-Carewatch-Token": config.chatwoot.token.reveal()}  # type: ignore[union-attr]
        assert service.request("POST", "/chatwoot/7", chatwoot, token).status == 200
    records = read_topic(broker.bootstrap, topics.events)
    _no_raw_ids(records, ["cust-77", MESSENGER_CUSTOMER, CHATWOOT_CONTACT])
    p = Pseudonymiser(Secret(KEY))
    keys = {orjson.loads(v)["event_id"]: k.decode() for k, v in records}
    assert (
        keys["pseudo-1"]
        == keys["pseudo-2"]
        == f"telegram:du:chat-3:{p.customer('telegram', 'cust-77')}"
    )
    for key, value in records:
        event = decode_event(value)
        assert key.decode() == event.case_key  # keyed by the pseudonymised case
        assert event.customer_id.startswith("p-")
    assert p.customer("facebook", MESSENGER_CUSTOMER) in {
        decode_event(v).customer_id for _, v in records
    }


@pytest.mark.kafka
def test_no_raw_customer_id_reaches_the_topic_from_a_replayed_log(
    broker: Broker, tmp_path: Path
) -> None:
    topics = make_topics(broker)
    log = tmp_path / "log.jsonl"
    events = [_event(f"raw-customer-{n % 3}", f"thread-{n % 2}", "telegram", n) for n in range(12)]
    log.write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
    options = KafkaOptions(broker.bootstrap, topics.events, pseudonymise_key=Secret(KEY))
    producer = EventProducer(options, ConnectorMetrics(CollectorRegistry(), "replay"))
    try:
        report = load(log, producer, progress=False)
    finally:
        producer.close()
    assert report.acked == 12
    records = read_topic(broker.bootstrap, topics.events)
    _no_raw_ids(records, [f"raw-customer-{n}" for n in range(3)])
    p = Pseudonymiser(Secret(KEY))
    expected = sorted(p.event(e).case_key for e in events)
    assert sorted(k.decode() for k, _ in records) == expected


@pytest.mark.kafka
def test_no_raw_customer_id_reaches_the_topic_from_the_x_connector(broker: Broker) -> None:
    """Customers' X user ids are pseudonymised; the thread (the conversation id) is kept,
    so the brand's reply still lands in the case of the customer it answers."""
    topics = make_topics(broker)
    kafka = KafkaOptions(broker.bootstrap, topics.events, pseudonymise_key=Secret(KEY))
    registry = CollectorRegistry()
    mentions = (fake_x.AMIRA_MENTION, fake_x.BORIS_MENTION)
    replies = (fake_x.BOT_TO_AMIRA, fake_x.REPLY_TO_BORIS)
    with FakeX() as fake:
        fake.load(fake_x.world())
        fake.script_stream([fake_x.post(p) for p in (*mentions, *replies)])
        settings = XSettings(
            bearer_token=fake.token,
            brands="du=du_care,du_bot",
            bot_accounts="du_bot",
            api_base=fake.base_url,
            metrics_port=0,
        )

        async def scenario() -> None:
            stop = asyncio.Event()
            service = asyncio.create_task(serve(settings, kafka, stop, registry=registry))
            try:
                await fake_x.until(
                    lambda: (
                        registry.get_sample_value(
                            "carewatch_connector_events_total", {"connector": "x", "platform": "x"}
                        )
                        == 4.0
                    ),
                    within=30,
                    what="four events acknowledged by Kafka",
                )
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(service, 30)

        asyncio.run(scenario())
    records = read_topic(broker.bootstrap, topics.events)
    _no_raw_ids(records, [fake_x.AMIRA, fake_x.BORIS])
    p = Pseudonymiser(Secret(KEY))
    keys = {decode_event(v).event_id: k.decode() for k, v in records}
    amira = f"x:du:{fake_x.ROOT}:{p.customer('x', fake_x.AMIRA)}"
    boris = f"x:du:{fake_x.ROOT}:{p.customer('x', fake_x.BORIS)}"
    assert keys == {
        f"x:{fake_x.AMIRA_MENTION}": amira,
        f"x:{fake_x.BOT_TO_AMIRA}": amira,
        f"x:{fake_x.BORIS_MENTION}": boris,
        f"x:{fake_x.REPLY_TO_BORIS}": boris,
    }
