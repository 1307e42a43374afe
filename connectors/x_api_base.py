"""Pointing tweepy at ``CAREWATCH_X_API_BASE`` (docs/x-connector.md, "Pointing tweepy at
another server").

tweepy 4.17 writes ``https://api.twitter.com`` into every URL (``BaseClient.request`` and
``StreamingClient._connect`` build it from a local string, so there is no attribute to
set). :class:`ApiBase` is a requests transport adapter mounted on tweepy's
``requests.Session`` for that prefix: it rewrites each request's URL to the configured
base and keeps the last response's headers (the stream's 429 carries
``x-rate-limit-reset`` only there). With the default base it changes nothing but that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.x_settings import X_API


class ApiBase(HTTPAdapter):
    """Mounted on a tweepy session for ``https://api.twitter.com/``: sends each request to
    ``base`` instead (unchanged when ``base`` is X itself) and keeps the headers of the
    last response, where the stream's 429 carries ``x-rate-limit-reset``."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self.last_headers: Mapping[str, str] = {}
        host = urlsplit(self.base).hostname or ""
        self._loopback = host in ("127.0.0.1", "localhost", "::1")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(X_API):
            request.url = self.base + url[len(X_API) :]
        if self._loopback:  # a proxy from the environment must not see a local fake
            proxies = {}
        response = super().send(request, stream, timeout, verify, cert, proxies)
        self.last_headers = response.headers
        return response


def mount_api_base(session: requests.Session, base: str) -> ApiBase:
    """Point ``session`` (tweepy's) at ``base``; returns the adapter, for its headers."""
    adapter = ApiBase(base)
    session.mount(X_API + "/", adapter)
    return adapter
