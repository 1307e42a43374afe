"""One language detector and the example topic rules, built once for the enrichment tests
(building the detector loads the language models: a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.enrich import Enricher, LanguageDetector, TopicClassifier
from streams.enrich.topics import load_topic_rules
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "topics.example.yaml"


@pytest.fixture(scope="session")
def detector() -> LanguageDetector:
    return LanguageDetector(Settings().language_set)


@pytest.fixture(scope="session")
def classifier() -> TopicClassifier:
    return load_topic_rules(RULES)


@pytest.fixture(scope="session")
def enricher(detector: LanguageDetector, classifier: TopicClassifier) -> Enricher:
    return Enricher(detector, classifier)
