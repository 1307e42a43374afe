"""Accuracy of the enrichment on the labelled sample set, per language and per topic.

``python -m tests.enrich.accuracy`` prints the tables that docs/enrichment.md quotes;
``test_accuracy.py`` bounds the same figures from below.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streams.enrich import Enricher, LanguageDetector, build_enricher
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "messages.jsonl"
RULES = ROOT / "deploy" / "topics.example.yaml"
_WORD = re.compile(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+")


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    lang: str
    topic: str

    @property
    def words(self) -> int:
        """Words separated by spaces; a Chinese character counts as one word."""
        return len(_WORD.findall(self.text))


def load_samples(path: Path = SAMPLES) -> list[Sample]:
    with path.open(encoding="utf-8") as lines:
        return [Sample(**json.loads(line)) for line in lines if line.strip()]


def simulator_samples() -> list[Sample]:
    """The simulator's sentences (connectors/simulator_phrases.py), labelled by their place."""
    from connectors.simulator_phrases import MESSAGES

    return [
        Sample(text, lang, topic)
        for lang, topics in MESSAGES.items()
        for topic, texts in topics.items()
        for text in texts
    ]


@dataclass
class Tally:
    right: int = 0
    unsure: int = 0  # the detector said None
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0

    @property
    def wrong(self) -> int:
        return self.total - self.right - self.unsure


@dataclass
class Report:
    lang_all: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    lang_long: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    topic_given_lang: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    topic_detected: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))


def _add(tally: Tally, got: str | None, want: str) -> None:
    tally.total += 1
    tally.right += got == want
    tally.unsure += got is None


def measure(samples: Iterable[Sample], enricher: Enricher, long_words: int = 4) -> Report:
    report = Report()
    detector, classifier = enricher.detector, enricher.classifier
    for s in samples:
        lang = detector.detect(s.text)
        _add(report.lang_all[s.lang], lang, s.lang)
        if s.words >= long_words:
            _add(report.lang_long[s.lang], lang, s.lang)
        _add(report.topic_given_lang[s.topic], classifier.classify(s.text, s.lang), s.topic)
        _add(report.topic_detected[s.topic], classifier.classify(s.text, lang), s.topic)
    return report


def overall(tallies: dict[str, Tally]) -> Tally:
    total = Tally()
    for t in tallies.values():
        total.right += t.right
        total.unsure += t.unsure
        total.total += t.total
    return total


def lines(report: Report) -> Iterator[str]:
    yield "language | all messages (unsure, wrong) | messages of 4+ words"
    for lang in sorted(report.lang_all):
        a, b = report.lang_all[lang], report.lang_long[lang]
        yield f"{lang} | {a.accuracy:.3f} of {a.total} ({a.unsure}, {a.wrong}) | {b.accuracy:.3f} of {b.total}"
    a, b = overall(report.lang_all), overall(report.lang_long)
    yield f"all | {a.accuracy:.3f} of {a.total} ({a.unsure}, {a.wrong}) | {b.accuracy:.3f} of {b.total}"
    yield ""
    yield "topic | language given | language detected"
    for topic in sorted(report.topic_given_lang):
        a, b = report.topic_given_lang[topic], report.topic_detected[topic]
        yield f"{topic} | {a.accuracy:.3f} of {a.total} | {b.accuracy:.3f} of {b.total}"
    a, b = overall(report.topic_given_lang), overall(report.topic_detected)
    yield f"all | {a.accuracy:.3f} of {a.total} | {b.accuracy:.3f} of {b.total}"


def cost_per_event(enricher: Enricher, samples: list[Sample], rounds: int = 20) -> float:
    """Microseconds per message to fill in both labels (detection and rules): the best
    of ``rounds`` passes over the samples, so other work on the machine counts least."""
    from streams.events import CareEvent, Kind

    events = [
        CareEvent(f"e{i}", Kind.MESSAGE, "x", "du", "t", "c", 0.0, text=s.text)
        for i, s in enumerate(samples)
    ]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for event in events:
            enricher.labels(event)
        best = min(best, time.perf_counter() - started)
    return best / len(events) * 1e6


def main() -> None:
    settings = Settings.from_env()
    started = time.perf_counter()
    enricher = build_enricher(settings.language_set, str(RULES))
    print(f"detector and rules built in {time.perf_counter() - started:.1f} s")
    if not isinstance(enricher.detector, LanguageDetector):
        raise SystemExit("unexpected detector")
    samples = load_samples()
    print(f"\n## {SAMPLES.relative_to(ROOT)}: {len(samples)} messages\n")
    print("\n".join(lines(measure(samples, enricher))))
    held = simulator_samples()
    print(f"\n## connectors/simulator_phrases.py: {len(held)} messages\n")
    print("\n".join(lines(measure(held, enricher))))
    micros = cost_per_event(enricher, samples)
    detect = _best_micros(lambda: [enricher.detector.detect(s.text) for s in samples], len(samples))
    rules = _best_micros(
        lambda: [enricher.classifier.classify(s.text, s.lang) for s in samples], len(samples)
    )
    print(f"\nenrichment cost: {micros:.0f} µs per message (both labels, {len(samples)} texts):")
    print(f"  language detection {detect:.0f} µs, topic rules {rules:.0f} µs (best of 20 passes)")


def _best_micros(work: Callable[[], object], count: int, rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


if __name__ == "__main__":
    main()
