"""Enrichment of customer messages: the language and topic a connector did not give.

:class:`Enricher` is what the processor calls for each new (not repeated) ``message``
event before counting it in ``carewatch_mentions_total``. A ``lang`` or ``topic`` the
event carries is kept as it is; a missing one is worked out from ``text``
(:mod:`streams.enrich.language`, :mod:`streams.enrich.topics`), and stays ``None``
(counted as ``other``) when there is no text or the detector is unsure. The topic
rules are told the language, given or detected, so they try that language's phrases.

Cost: one detection and one pass of the rules per message that lacks either label,
about 100 microseconds together on the demo machine (docs/enrichment.md); nothing
blocks. Events are not changed: the labels only feed the metric.
"""

from __future__ import annotations

from streams.enrich.language import LanguageDetector
from streams.enrich.topics import TopicClassifier, load_topic_rules
from streams.events import CareEvent, Kind

__all__ = ["Enricher", "LanguageDetector", "TopicClassifier", "build_enricher"]


class Enricher:
    """Fills in the ``lang`` and ``topic`` labels of a customer message."""

    def __init__(self, detector: LanguageDetector, classifier: TopicClassifier) -> None:
        self.detector = detector
        self.classifier = classifier

    def labels(self, event: CareEvent) -> tuple[str | None, str | None]:
        """``(lang, topic)`` for ``event``: its own where given, else detected from its text.

        Only ``message`` events are enriched; any other kind gets its own fields back.
        """
        lang, topic = event.lang, event.topic
        text = event.text
        if event.kind is not Kind.MESSAGE or not text or (lang and topic):
            return lang, topic
        if not lang:
            lang = self.detector.detect(text)
        if not topic:
            topic = self.classifier.classify(text, lang)
        return lang, topic


def build_enricher(languages: frozenset[str], topic_rules_file: str) -> Enricher:
    """The detector for ``languages`` and the rules of ``topic_rules_file``.

    Raises :class:`streams.errors.ConfigError` for an unknown language (naming
    ``CAREWATCH_LANGUAGES``) or a bad rules file (naming the field). Takes a few seconds:
    it loads the language models.
    """
    classifier = load_topic_rules(topic_rules_file)
    return Enricher(LanguageDetector(languages), classifier)
