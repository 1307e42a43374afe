"""Topic classification by phrase rules, read from a YAML file (docs/enrichment.md).

The file lists topics in order, each with phrases per language::

    topics:
      - topic: network_quality
        phrases:
          en: ["no signal", "internet is down"]
          zh: ["没信号", "网速"]
          any: ["lte"]            # tried whatever the message's language

**Matching.** Text and phrases are normalised alike (:func:`normalise`: Unicode NFKC,
case folded, runs of white space made one space), so "NO SIGNAL", "No  signal" and
full-width "ＮＯ ＳＩＧＮＡＬ" all match "no signal"; accents and diacritics are kept as
written ("mất sóng" is not "mat song"; Arabic harakat are not stripped). A phrase matches
where a word starts, and may end inside a word, so a phrase is a stem: "интернет"
matches "интернета", "arve" matches "arvel". In the languages of
:data:`SUBSTRING_LANGUAGES` a phrase matches anywhere: Chinese and Thai write no spaces,
and Arabic attaches "و", "ال", "بال" to the word ("والانترنت").

**Order.** The first topic in file order with a matching phrase wins, so put the most
specific topics first. For a message whose language is known (given or detected), its
language's phrases and the ``any`` phrases are tried; when it is unknown, or has no
phrases at all, every language's phrases are. No match: :data:`FALLBACK` (``other``).
So the topic label takes only the file's topics and ``other``: it stays bounded.

A file that breaks these rules fails at start-up with :class:`ConfigError` naming the
field (``topics[2].phrases.ru[3]``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import yaml

from streams.config_checks import require_list, require_mapping
from streams.errors import ConfigError

FALLBACK: Final = "other"
ANY: Final = "any"
SUBSTRING_LANGUAGES: Final = frozenset({"zh", "ja", "th", "lo", "km", "my", "ar"})
"""Languages whose phrases match anywhere in the text, not only where a word starts."""

_TOPIC = re.compile(r"[a-z0-9_]{1,32}")  # the contract's topic token
_LANG_KEY = re.compile(r"[a-z]{2,3}")  # an ISO 639 primary language subtag
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case folded, white space collapsed to single spaces and trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True, slots=True)
class TopicRule:
    """One topic and its phrases by language (already normalised)."""

    topic: str
    phrases: Mapping[str, tuple[str, ...]]


def _pattern(lang: str, phrases: Sequence[str]) -> str:
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    if lang in SUBSTRING_LANGUAGES:
        return f"(?:{alternatives})"
    return rf"(?<!\w)(?:{alternatives})"


def _compile(rule: TopicRule, langs: Sequence[str]) -> re.Pattern[str] | None:
    parts = [_pattern(lang, rule.phrases[lang]) for lang in langs if rule.phrases.get(lang)]
    return re.compile("|".join(parts)) if parts else None


class TopicClassifier:
    """Classifies a text into one of the rules' topics or ``other`` (module docstring)."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self.rules = tuple(rules)
        self.topics: tuple[str, ...] = (*(r.topic for r in self.rules), FALLBACK)
        every = sorted({lang for r in self.rules for lang in r.phrases})
        self.languages = frozenset(every) - {ANY}
        self._unknown = self._ordered(every)
        self._by_lang = {lang: self._ordered([lang, ANY]) for lang in self.languages}

    def _ordered(self, langs: Sequence[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
        compiled = ((rule.topic, _compile(rule, langs)) for rule in self.rules)
        return tuple((topic, pattern) for topic, pattern in compiled if pattern is not None)

    def classify(self, text: str, lang: str | None = None) -> str:
        """The first topic (in file order) with a phrase in ``text``, else ``other``.

        ``lang`` is a BCP 47 tag (its primary subtag is used) or None when unknown.
        """
        normal = normalise(text)
        if not normal:
            return FALLBACK
        primary = lang.split("-", 1)[0].lower() if lang else None
        ordered = self._by_lang.get(primary, self._unknown) if primary else self._unknown
        for topic, pattern in ordered:
            if pattern.search(normal) is not None:
                return topic
        return FALLBACK


def load_topic_rules(path: str | os.PathLike[str]) -> TopicClassifier:
    """Read and check a rules file; ``ConfigError`` naming the field on any fault."""
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(str(path), f"cannot read: {error.strerror}") from error
    except (yaml.YAMLError, ValueError) as error:
        raise ConfigError(str(path), f"invalid YAML: {error}") from error
    try:
        return TopicClassifier(parse_topic_rules(data))
    except ConfigError as error:
        raise ConfigError(error.field, f"{error.detail} (in {path})") from error


def parse_topic_rules(data: object) -> list[TopicRule]:
    """The rules of a parsed YAML document, checked field by field."""
    if not isinstance(data, Mapping):
        raise ConfigError("(document)", f"expected a mapping, got {type(data).__name__}")
    document = require_mapping(data, "", ("topics",))
    if "topics" not in document:
        raise ConfigError("topics", "required: the list of topics and their phrases")
    rules: list[TopicRule] = []
    seen: set[str] = set()
    for index, item in enumerate(require_list(document["topics"], "topics")):
        rule = _rule(item, f"topics[{index}]")
        if rule.topic in seen:
            raise ConfigError(f"topics[{index}].topic", f"{rule.topic!r} is listed twice")
        seen.add(rule.topic)
        rules.append(rule)
    if not rules:
        raise ConfigError("topics", "no topic listed")
    return rules


def _rule(item: object, path: str) -> TopicRule:
    entry = require_mapping(item, path, ("topic", "phrases"))
    for required in ("topic", "phrases"):
        if required not in entry:
            raise ConfigError(f"{path}.{required}", "required")
    topic = entry["topic"]
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ConfigError(f"{path}.topic", f"a topic must match [a-z0-9_]{{1,32}}, got {topic!r}")
    if topic == FALLBACK:
        raise ConfigError(f"{path}.topic", f"{FALLBACK!r} is what no rule matches; it has no rule")
    phrases: dict[str, tuple[str, ...]] = {}
    for lang, listed in require_mapping(entry["phrases"], f"{path}.phrases", None).items():
        where = f"{path}.phrases.{lang}"
        if not isinstance(lang, str) or not (lang == ANY or _LANG_KEY.fullmatch(lang)):
            raise ConfigError(where, "a key must be a lower-case ISO 639 code (en, zh) or 'any'")
        items = enumerate(require_list(listed, where))
        phrases[lang] = tuple(_phrase(phrase, f"{where}[{i}]") for i, phrase in items)
    if not any(phrases.values()):
        raise ConfigError(f"{path}.phrases", "no phrase given")
    return TopicRule(topic, phrases)


def _phrase(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {type(value).__name__}")
    phrase = normalise(value)
    if not phrase:
        raise ConfigError(path, "an empty phrase would match every text")
    return phrase
