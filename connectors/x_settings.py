"""Settings of the X connector (docs/x-connector.md, "Settings").

:class:`XSettings` reads the ``x:`` section of the connector YAML, then the
``CAREWATCH_X_*`` variables (a variable wins over the file), and checks them at
start-up: a value that cannot be used raises :class:`~streams.errors.ConfigError` naming
the setting as it was given (``x.mode`` from the file, ``CAREWATCH_X_MODE`` from the
environment), so ``carewatch connect x`` stops with exit code 2 before it connects
anywhere. The bearer token is never echoed in an error.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from streams.errors import ConfigError

X_API: Final = "https://api.twitter.com"  # what tweepy 4.17 addresses
SECTION: Final = "x"  # of the connector YAML (connectors/config.py reads the file)
_LISTS: Final = frozenset({"bot_accounts", "automation_sources"})  # a YAML list, or the text
_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_BRAND = re.compile(r"[a-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class XSettings:
    """The ``x:`` section's keys; the variables are ``CAREWATCH_X_`` + the key in upper
    case (docs/x-connector.md)."""

    bearer_token: str = field(default="", repr=False)
    brands: str = ""  # "du=du_care,du_bot;tele2=tele2_ru"
    bot_accounts: str = ""  # handles or id:NNN of the brands' bot accounts
    automation_sources: str = ""  # posting apps ("source") whose replies are automation
    mode: str = "stream"  # stream | poll
    api_base: str = X_API
    read_timeout: float = 21.0  # X's heartbeat is every 20 s
    backfill_minutes: int = 0  # 1-5 where the access level allows it
    poll_interval: float = 60.0
    poll_lookback: float = 3600.0  # a timeline without checkpoint starts this far back
    checkpoint_file: str = ".carewatch/x/since_ids.json"
    metrics_host: str = "127.0.0.1"  # /health and /metrics of `carewatch connect x`
    metrics_port: int = 6069

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> XSettings:
        """The variables only (no file); see :meth:`load`."""
        return cls.load({}, env, **overrides)

    @classmethod
    def load(
        cls,
        section: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> XSettings:
        """Defaults, then ``section`` (the YAML's ``x:`` mapping, its keys already checked
        by :class:`~connectors.config.ConnectorConfig`), then the variables, then non-None
        ``overrides``. An error names ``x.<key>`` when the file gave the value."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        from_file: set[str] = set()
        for f in fields(cls):
            var = f"CAREWATCH_X_{f.name.upper()}"
            if var in env:
                values[f.name] = _parse(var, env[var], str(f.type))
            elif section.get(f.name) is not None:
                values[f.name] = _from_yaml(f.name, section[f.name], str(f.type))
                from_file.add(f.name)
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        settings = cls(**values)
        try:
            settings.validate()
        except ConfigError as exc:  # rules name the variable; say where the value came from
            name = exc.field.removeprefix("CAREWATCH_X_").lower()
            if name not in from_file - given.keys():
                raise
            raise ConfigError(f"{SECTION}.{name}", exc.detail) from None
        return settings

    def validate(self) -> None:
        if not self.bearer_token.strip():
            raise ConfigError(
                "CAREWATCH_X_BEARER_TOKEN",
                f"required (the app's bearer token; or {SECTION}.bearer_token in the file)",
            )
        self.brand_handles()
        self.bot_handles()
        if self.mode not in ("stream", "poll"):
            raise ConfigError("CAREWATCH_X_MODE", f"expected stream or poll, got {self.mode!r}")
        if not re.fullmatch(r"https?://[^/\s]+", self.api_base):
            raise ConfigError(
                "CAREWATCH_X_API_BASE", f"expected scheme://host[:port], got {self.api_base!r}"
            )
        for name in ("read_timeout", "poll_interval"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(
                    f"CAREWATCH_X_{name.upper()}", "must be a positive number of seconds"
                )
        if not 0 <= self.poll_lookback < math.inf:
            raise ConfigError("CAREWATCH_X_POLL_LOOKBACK", "must be 0 or more seconds")
        if not 0 <= self.backfill_minutes <= 5:
            raise ConfigError("CAREWATCH_X_BACKFILL_MINUTES", "must be 0 (off) to 5")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError("CAREWATCH_X_METRICS_PORT", "must be a port 0-65535 (0: any)")

    def brand_handles(self) -> dict[str, tuple[str, ...]]:
        """``{brand: handles}``; a handle belongs to one brand."""
        var = "CAREWATCH_X_BRANDS"
        result: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in self.brands.split(";"))):
            brand, sep, listed = part.partition("=")
            handles = [h.strip() for h in listed.split(",") if h.strip()]
            if not sep or not _BRAND.fullmatch(brand.strip()) or not handles:
                raise ConfigError(var, f"expected brand=handle[,handle...][;...], got {part!r}")
            brand = brand.strip()
            for handle in handles:
                match = _HANDLE.fullmatch(handle)
                if match is None:
                    raise ConfigError(var, f"not an X handle: {handle!r}")
                if owner.setdefault(match.group(1).lower(), brand) != brand:
                    raise ConfigError(var, f"handle {handle!r} is given for two brands")
            result[brand] = tuple(_HANDLE.fullmatch(h).group(1) for h in handles)  # type: ignore[union-attr]
        if not result:
            raise ConfigError(var, "name at least one brand and its handles")
        return result

    def bot_handles(self) -> tuple[frozenset[str], frozenset[str]]:
        """``(handles, ids)`` of the bot accounts; each handle must be a brand's handle."""
        known = {h.lower() for hs in self.brand_handles().values() for h in hs}
        handles: set[str] = set()
        ids: set[str] = set()
        for item in filter(None, (i.strip() for i in self.bot_accounts.split(","))):
            if item.startswith("id:") and item[3:].isdigit():
                ids.add(item[3:])
            elif (m := _HANDLE.fullmatch(item)) and m.group(1).lower() in known:
                handles.add(m.group(1).lower())
            else:
                raise ConfigError(
                    "CAREWATCH_X_BOT_ACCOUNTS",
                    f"{item!r}: not one of the brands' handles, nor id:NNN",
                )
        return frozenset(handles), frozenset(ids)


def _parse(var: str, raw: str, kind: str) -> Any:
    try:
        return int(raw) if kind == "int" else float(raw) if kind == "float" else raw
    except ValueError:
        raise ConfigError(var, f"not a number: {raw!r}") from None


def _from_yaml(name: str, value: Any, kind: str) -> Any:
    """A file value as the field's type. ``brands`` may be a mapping of brand to handle
    or handles, ``bot_accounts`` and ``automation_sources`` lists: they become the
    variables' text, which :meth:`XSettings.validate` then checks."""
    where = f"{SECTION}.{name}"
    if kind in ("int", "float"):
        numeric = int if kind == "int" else int | float
        if isinstance(value, bool) or not isinstance(value, numeric):
            raise ConfigError(
                where, f"expected {'an integer' if kind == 'int' else 'a number'}, got {value!r}"
            )
        return value if kind == "int" else float(value)
    if name == "bearer_token" and not isinstance(value, str):
        raise ConfigError(where, "expected a string")  # never echo the value
    if name == "brands" and isinstance(value, dict):
        return ";".join(
            f"{_item(where, brand)}={','.join(_items(where, handles))}"
            for brand, handles in value.items()
        )
    if name in _LISTS and isinstance(value, list):
        return ",".join(_items(where, value))
    if not isinstance(value, str):
        raise ConfigError(where, f"expected a string, got {value!r}")
    return value


def _items(where: str, value: Any) -> list[str]:
    return [_item(where, v) for v in value] if isinstance(value, list) else [_item(where, value)]


def _item(where: str, value: Any) -> str:
    """One brand, handle or name of a list: text (an unquoted number is read as text)
    without the separators of the variables' form."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or any(c in value for c in ",;="):
        raise ConfigError(where, f"expected a name without , ; or =, got {value!r}")
    return value
