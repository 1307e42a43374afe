"""Topic phrase rules: normalisation, where phrases match, first-match order, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.enrich import Enricher, TopicClassifier
from streams.enrich.topics import (
    FALLBACK,
    TopicRule,
    load_topic_rules,
    normalise,
    parse_topic_rules,
)
from streams.errors import ConfigError
from streams.events import AuthorType, CareEvent, Kind


def rules(*entries: tuple[str, dict[str, tuple[str, ...]]]) -> TopicClassifier:
    return TopicClassifier([TopicRule(topic, phrases) for topic, phrases in entries])


def test_normalise_folds_case_width_and_spaces() -> None:
    assert normalise("  NO\tSignal \n HERE ") == "no signal here"
    assert normalise("ＮＯ ＳＩＧＮＡＬ") == "no signal"  # full width (NFKC)
    assert normalise("Straße") == "strasse"  # casefold, not lower
    assert normalise("mất sóng") == normalise("mất sóng")  # decomposed input is composed


def test_phrases_match_where_a_word_starts_and_may_end_inside_it() -> None:
    c = rules(("network_quality", {"ru": ("интернет",), "en": ("bill",)}))
    assert c.classify("нет интернета второй день", "ru") == "network_quality"
    assert c.classify("Интернет пропал", "ru") == "network_quality"
    assert c.classify("тоже без интернету", "ru") == "network_quality"
    assert c.classify("мобильныйинтернет", "ru") == FALLBACK  # not where a word starts
    assert c.classify("my BILLS are wrong", "en") == "network_quality"
    assert c.classify("a rebill", "en") == FALLBACK


def test_chinese_and_arabic_phrases_match_anywhere() -> None:
    c = rules(("network_quality", {"zh": ("没信号",), "ar": ("انترنت",)}))
    assert c.classify("地铁里完全没信号了", "zh") == "network_quality"
    assert c.classify("والانترنت لا يعمل", "ar") == "network_quality"  # "and the" attached


def test_diacritics_count_as_written() -> None:
    c = rules(("network_quality", {"vi": ("mất sóng",)}))
    assert c.classify("MẤT SÓNG từ sáng", "vi") == "network_quality"
    assert c.classify("mat song tu sang", "vi") == FALLBACK


def test_the_first_topic_in_file_order_wins() -> None:
    first = rules(
        ("network_quality", {"en": ("no signal",)}), ("customer_care", {"en": ("hotline",)})
    )
    second = rules(
        ("customer_care", {"en": ("hotline",)}), ("network_quality", {"en": ("no signal",)})
    )
    text = "no signal and the hotline does not answer"
    assert first.classify(text, "en") == "network_quality"
    assert second.classify(text, "en") == "customer_care"


def test_the_language_selects_the_phrases_and_unknown_tries_all() -> None:
    c = rules(("billing", {"en": ("bill",), "any": ("sms",)}), ("customer_care", {"et": ("arve",)}))
    assert c.classify("arve on vale", "et") == "customer_care"
    assert c.classify("arve on vale", "en") == FALLBACK  # only English phrases and any
    assert c.classify("arve on vale", None) == "customer_care"
    assert c.classify("arve on vale", "fr") == "customer_care"  # no French rules: all
    assert c.classify("SMS again", "et") == "billing"  # any applies to every language
    assert c.classify("the bill", "en-GB") == "billing"  # the primary subtag counts


def test_labels_are_the_file_topics_and_other() -> None:
    c = rules(("billing", {"en": ("bill",)}))
    assert c.topics == ("billing", FALLBACK)
    assert c.classify("", "en") == FALLBACK
    assert c.classify("   ", None) == FALLBACK


def test_the_example_file_loads_with_the_five_topics(classifier: TopicClassifier) -> None:
    assert set(classifier.topics) == {
        "network_quality", "billing", "products_promotions", "customer_care", "other"
    }  # fmt: skip
    assert {"ar", "ru", "vi", "zh", "en", "et"} <= classifier.languages


def event(kind: Kind = Kind.MESSAGE, **fields: Any) -> CareEvent:
    return CareEvent("e1", kind, "x", "du", "t1", "c1", 1_790_000_000.0, **fields)


def test_the_enricher_keeps_given_labels_and_fills_missing_ones(enricher: Enricher) -> None:
    assert enricher.labels(event(text="второй день нет связи")) == ("ru", "network_quality")
    assert enricher.labels(event(text="нет связи", lang="ru", topic="billing")) == ("ru", "billing")
    assert enricher.labels(event(text="нет связи", lang="ru-RU")) == ("ru-RU", "network_quality")
    assert enricher.labels(event(text="второй день нет связи", topic="x")) == ("ru", "x")
    assert enricher.labels(event()) == (None, None)  # no text: counted as other
    assert enricher.labels(event(text="👍")) == (None, FALLBACK)
    reply = event(Kind.REPLY, text="второй день нет связи", author_type=AuthorType.HUMAN)
    assert enricher.labels(reply) == (None, None)  # only messages are enriched


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


GOOD = {"topic": "billing", "phrases": {"en": ["bill"]}}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "(document)"),
        ({"rules": []}, "rules"),
        ({}, "topics"),
        ({"topics": {}}, "topics"),
        ({"topics": []}, "topics"),
        ({"topics": ["billing"]}, "topics[0]"),
        ({"topics": [GOOD, {"phrases": {"en": ["x"]}}]}, "topics[1].topic"),
        ({"topics": [{"topic": "billing"}]}, "topics[0].phrases"),
        ({"topics": [{"topic": "Billing!", "phrases": {"en": ["x"]}}]}, "topics[0].topic"),
        ({"topics": [{"topic": "other", "phrases": {"en": ["x"]}}]}, "topics[0].topic"),
        ({"topics": [GOOD, GOOD]}, "topics[1].topic"),
        ({"topics": [{**GOOD, "match": "regex"}]}, "topics[0].match"),
        ({"topics": [{"topic": "billing", "phrases": ["bill"]}]}, "topics[0].phrases"),
        ({"topics": [{"topic": "billing", "phrases": {"EN": ["bill"]}}]}, "topics[0].phrases.EN"),
        ({"topics": [{"topic": "billing", "phrases": {"en": "bill"}}]}, "topics[0].phrases.en"),
        (
            {"topics": [GOOD, {"topic": "x", "phrases": {"ru": ["a", 3]}}]},
            "topics[1].phrases.ru[1]",
        ),
        (
            {"topics": [{"topic": "billing", "phrases": {"en": ["ok", "  "]}}]},
            "topics[0].phrases.en[1]",
        ),
        ({"topics": [{"topic": "billing", "phrases": {"en": []}}]}, "topics[0].phrases"),
    ],
)
def test_a_bad_file_fails_naming_the_field(tmp_path: Path, doc: object, field: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as error:
        load_topic_rules(path)
    assert error.value.field == field
    assert str(path) in error.value.detail


def test_unreadable_and_invalid_yaml_fail_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as error:
        load_topic_rules(missing)
    assert error.value.field == str(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("topics: [\n")
    with pytest.raises(ConfigError) as error:
        load_topic_rules(broken)
    assert error.value.field == str(broken)


def test_parse_normalises_phrases() -> None:
    [rule] = parse_topic_rules({"topics": [{"topic": "billing", "phrases": {"en": [" Top  UP "]}}]})
    assert rule.phrases == {"en": ("top up",)}
