"""Checks shared by the YAML configuration readers (policies, topic rules).

Each names the dotted path of the offending field in the ``ConfigError`` it raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streams.errors import ConfigError


def require_mapping(
    value: object, field: str, allowed: Iterable[str] | None
) -> Mapping[str, object]:
    """``value`` as a mapping whose keys are among ``allowed`` (any key when ``None``),
    else ``ConfigError``."""
    if not isinstance(value, Mapping):
        raise ConfigError(field, f"expected a mapping, got {type(value).__name__}")
    known = None if allowed is None else tuple(allowed)
    for key in value:
        if known is not None and key not in known:
            where = f"{field}.{key}" if field else str(key)
            raise ConfigError(where, f"unknown key; expected one of {', '.join(known)}")
    return value


def require_list(value: object, field: str) -> list[object]:
    """``value`` as a list (a YAML sequence), else ``ConfigError``."""
    if not isinstance(value, list):
        raise ConfigError(field, f"expected a list, got {type(value).__name__}")
    return value
