"""Language detection restricted to the configured languages, None when unsure."""

from __future__ import annotations

import pytest

from streams.enrich import LanguageDetector
from streams.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("no internet at home since last night", "en"),
        ("второй день нет связи", "ru"),
        ("mạng yếu quá không xem được video", "vi"),
        ("家里信号一格都没有", "zh"),
        ("الشبكة ضعيفة جدا في البيت", "ar"),
        ("kodus pole üldse levi", "et"),
        ("谢谢", "zh"),  # short, but a script only one configured language writes
        ("شكرا", "ar"),
        ("спасибо", "ru"),
        ("thanks!", "en"),
    ],
)
def test_detects_the_configured_languages(detector: LanguageDetector, text: str, lang: str) -> None:
    assert detector.detect(text) == lang


@pytest.mark.parametrize(
    "text", ["", "   ", "👍👍", "12345", "!!!", "x", "ok", "super", "tere", "lol"]
)
def test_no_language_for_texts_without_enough_letters_or_confidence(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.detect(text) is None


def test_the_short_text_rule_is_stricter_than_the_long_one(detector: LanguageDetector) -> None:
    lang, confidence = detector.confidence("tere")
    assert lang == "en"  # lingua's best guess for the Estonian greeting
    assert detector.min_confidence <= confidence < detector.short_min_confidence
    assert detector.detect("tere") is None


def test_answers_only_configured_languages() -> None:
    detector = LanguageDetector(["en", "ru"])
    assert detector.languages == {"en", "ru"}
    assert detector.detect("mạng yếu quá không xem được video hôm nay") in {"en", "ru", None}
    assert detector.detect("家里信号一格都没有") in {"en", "ru", None}
    assert detector.detect("второй день нет связи") == "ru"


def test_one_configured_language_is_the_answer_for_any_text_with_letters() -> None:
    detector = LanguageDetector(["et"])
    assert detector.detect("anything at all") == "et"
    assert detector.detect("👍") is None


@pytest.mark.parametrize("languages", [["en", "xx"], [], ["  "]])
def test_unknown_or_no_languages_fail_naming_the_setting(languages: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        LanguageDetector(languages)
    assert error.value.field == "CAREWATCH_LANGUAGES"


def test_a_long_text_is_cut_before_detection(detector: LanguageDetector) -> None:
    assert detector.detect("нет связи " * 5000) == "ru"
