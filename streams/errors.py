"""The project's exceptions: one base class, and the few failures callers handle apart."""

from __future__ import annotations


class CarewatchError(Exception):
    """Base class of every error carewatch raises on purpose."""


class InvalidEvent(CarewatchError):
    """An input that breaks the event contract (CONTRACT.md section 2).

    ``reason`` is a short, bounded code (it becomes the ``reason`` label of
    ``carewatch_events_rejected_total`` and of the dead-letter record); ``field`` names
    the offending field, or is ``None`` when the message as a whole is at fault.
    """

    def __init__(self, reason: str, field: str | None, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class ConfigError(CarewatchError):
    """A setting or a configuration file that cannot be used; raised at start-up.

    ``field`` is the dotted path of the offending setting, e.g. ``policies[2].targets.first_reply``.
    """

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")
