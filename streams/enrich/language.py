"""Language detection for messages that arrive without ``lang``.

:class:`LanguageDetector` wraps lingua, restricted to the configured languages
(``CAREWATCH_LANGUAGES``), so it only ever answers one of them, as the BCP 47 primary
tag (``ar``, ``ru``, ...), or ``None`` when it is unsure. Unsure means one of:

- the text has fewer than :data:`MIN_LETTERS` letters (emoji, numbers, a lone "x");
- lingua's relative confidence in its best language is below :data:`MIN_CONFIDENCE`,
  or, for a short text (fewer than :data:`SHORT_LETTERS` letters: "ok", "tere",
  "super", "lol"), below :data:`SHORT_MIN_CONFIDENCE`. Both were measured on
  ``tests/data/messages.jsonl`` (docs/enrichment.md): every wrong answer there was a
  one-word Latin text at a confidence of 0.41-0.86, and every text of 10 letters or
  more was right at 0.79 or above.

The confidences are relative among the configured languages (they add up to 1), so a
text in a script only one of them uses (Arabic, Han) is certain, and two short Latin
words ("ok", "super") usually are not. Building the detector loads the models of the
configured languages into memory (about 2.5 s and a few hundred MB for the six
defaults); detection then costs tens of microseconds and never blocks on I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from streams.errors import ConfigError

MIN_CONFIDENCE: Final = 0.60
"""Below this relative confidence the detector answers None (measured; docs/enrichment.md)."""
SHORT_LETTERS: Final = 10
"""A text with fewer letters than this is short, and needs :data:`SHORT_MIN_CONFIDENCE`."""
SHORT_MIN_CONFIDENCE: Final = 0.90
MIN_LETTERS: Final = 2
"""Texts with fewer letters than this have no language."""
MAX_CHARS: Final = 1000
"""Only the first characters are looked at: enough for a language, and bounds the cost."""


def _language(tag: str, setting: str) -> Language:
    try:
        code = IsoCode639_1.from_str(tag)
        return Language.from_iso_code_639_1(code)
    except ValueError:
        raise ConfigError(
            setting, f"{tag!r} is not an ISO 639-1 language the detector knows"
        ) from None


class LanguageDetector:
    """Detects one of ``languages`` (ISO 639-1 codes) in a text, or says it cannot.

    Thread-safe for reading; build it once per process (it is expensive to build).
    An unknown language code raises :class:`ConfigError` naming ``setting``.
    """

    def __init__(
        self,
        languages: Iterable[str],
        *,
        min_confidence: float = MIN_CONFIDENCE,
        short_min_confidence: float = SHORT_MIN_CONFIDENCE,
        setting: str = "CAREWATCH_LANGUAGES",
    ) -> None:
        tags = sorted({tag.strip().lower() for tag in languages if tag.strip()})
        if not tags:
            raise ConfigError(setting, "no language configured")
        self.languages: frozenset[str] = frozenset(tags)
        self.min_confidence = min_confidence
        self.short_min_confidence = short_min_confidence
        wanted = [_language(tag, setting) for tag in tags]
        self._tags = {language: language.iso_code_639_1.name.lower() for language in wanted}
        if len(wanted) == 1:  # lingua needs two; one configured language is always the answer
            self._only: str | None = tags[0]
            return
        self._only = None
        self._detector = (
            LanguageDetectorBuilder.from_languages(*wanted).with_preloaded_language_models().build()
        )

    def detect(self, text: str) -> str | None:
        """The text's language as a configured BCP 47 primary tag, or None when unsure."""
        sample = text[:MAX_CHARS]
        letters = sum(1 for ch in sample if ch.isalpha())
        if letters < MIN_LETTERS:
            return None
        if self._only is not None:
            return self._only
        confidences = self._detector.compute_language_confidence_values(sample)
        if not confidences:
            return None
        best = confidences[0]
        short = letters < SHORT_LETTERS
        if best.value < (self.short_min_confidence if short else self.min_confidence):
            return None
        return self._tags[best.language]

    def confidence(self, text: str) -> tuple[str | None, float]:
        """The best configured language and lingua's relative confidence in it (for tuning)."""
        if self._only is not None:
            return self._only, 1.0
        confidences = self._detector.compute_language_confidence_values(text[:MAX_CHARS])
        if not confidences:
            return None, 0.0
        return self._tags[confidences[0].language], confidences[0].value
