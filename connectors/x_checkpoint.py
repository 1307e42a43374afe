"""Polling checkpoints: the newest X post id seen per brand, account and timeline.

One small JSON file, ``{"version": 1, "since_id": {"du/1234/mentions": "17..."}}``,
rewritten atomically (a temporary file in the same folder, fsync, rename, fsync of the
folder), so a crash leaves the old or the new file, never half of one. The poller saves a
timeline's ``since_id`` only after the sink acknowledged every event of that poll: a
crash in between polls the same posts again, and they repeat with the same event ids.

A checkpoint never moves backwards (X post ids grow with time); a file that cannot be
read is an error naming it, not silently a fresh start.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from streams.errors import ConfigError

VERSION: Final = 1


def timeline_key(brand: str, account_id: str, timeline: str) -> str:
    """``{brand}/{account id}/{timeline}``; ``timeline`` is ``mentions`` or ``tweets``."""
    return f"{brand}/{account_id}/{timeline}"


class SinceIds:
    """The ``since_id`` of every polled timeline, loaded once and saved on every update."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids = self._load()

    def get(self, key: str) -> str | None:
        return self._ids.get(key)

    def snapshot(self) -> dict[str, str]:
        return dict(self._ids)

    def advance(self, updates: Mapping[str, str]) -> None:
        """Move each key to the newer of its current and the given id, then save."""
        changed = False
        for key, post_id in updates.items():
            current = self._ids.get(key)
            if current is None or int(post_id) > int(current):
                self._ids[key] = post_id
                changed = True
        if changed:
            self._save()

    def _load(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            ids = doc["since_id"]
            if doc.get("version") != VERSION or not isinstance(ids, dict):
                raise ValueError(f"expected version {VERSION} with a since_id object")
            if not all(isinstance(v, str) and v.isdigit() for v in ids.values()):
                raise ValueError("since_id values must be X post ids (digit strings)")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                "CAREWATCH_X_CHECKPOINT_FILE", f"{self.path}: unreadable checkpoint file: {exc}"
            ) from None
        return {str(k): v for k, v in ids.items()}

    def _save(self) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"version": VERSION, "since_id": self._ids}, indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
