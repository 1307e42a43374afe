"""Who may post: bearer tokens, signed bodies, Meta's signature and verify token, URL tokens.

Every comparison with a secret is constant-time (``hmac.compare_digest`` through
:meth:`Secret.matches`), and a check against several tokens compares with all of them,
so the time taken tells nothing about which token, or how much of one, was right.
Refusals carry a short reason for the sender and never echo what was sent.

- ``POST /events``: ``Authorization: Bearer <token>`` (any of ``events.tokens``), or
  ``X-Carewatch-Signature: sha256=<hex>`` with ``X-Carewatch-Timestamp: <epoch seconds>``,
  the hex HMAC-SHA256 under ``events.hmac_secret`` of ``"{timestamp}.{body}"``; the
  timestamp may be at most ``webhook.signature_window`` seconds from the receiver's
  clock either way. Within the window a captured request can be posted again: it
  carries the same ``event_id``s, which the stream deduplicates.
- Meta: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body under the app
  secret; the subscription check (``GET``) compares ``hub.verify_token``.
- Chatwoot: the token in the webhook URL's query (``?token=...``; Chatwoot sends no
  custom headers) or in an ``X-Carewatch-Token`` header, and/or Chatwoot's own signature
  (versions that sign webhooks): ``X-Chatwoot-Signature: sha256=<hex>`` with
  ``X-Chatwoot-Timestamp: <epoch seconds>``, the HMAC-SHA256 under
  ``chatwoot.webhook_secret`` of ``"{timestamp}.{body}"``, in the same window.

Meta signs no timestamp, so its deliveries have no replay window; a replayed delivery
carries the same message and comment ids, so the same ``event_id``s, which the stream
deduplicates.

Refusals have a bounded reason (:data:`UNAUTHENTICATED`, or :data:`STALE_TIMESTAMP` for a
correct signature of a timestamp outside the window: a clock to fix, or a replay), used
both in the error body and in ``carewatch_connector_errors_total{reason}``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Final

from connectors.config import Secret
from streams.errors import CarewatchError

SIGNATURE_HEADER: Final = "X-Carewatch-Signature"
TIMESTAMP_HEADER: Final = "X-Carewatch-Timestamp"
CHATWOOT_SIGNATURE_HEADER: Final = "X-Chatwoot-Signature"
CHATWOOT_TIMESTAMP_HEADER: Final = "X-Chatwoot-Timestamp"
UNAUTHENTICATED: Final = "unauthenticated"
STALE_TIMESTAMP: Final = "stale_timestamp"
META_SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
TOKEN_HEADER: Final = "X-Carewatch-Token"
_MAX_CHALLENGE: Final = 256


class Unauthenticated(CarewatchError):
    """401 (no or wrong credentials) or 403 (a subscription check that does not match)."""

    def __init__(self, detail: str, status: int = 401, reason: str = UNAUTHENTICATED) -> None:
        self.detail = detail
        self.status = status
        self.reason = reason
        super().__init__(detail)


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def any_token(candidate: str | None, tokens: Sequence[Secret]) -> bool:
    """True when ``candidate`` equals one of ``tokens``; compares with every one of them."""
    if candidate is None:
        return False
    given = _raw(candidate)
    results = [token.matches(given) for token in tokens]
    return any(results)


def check_bearer(authorization: str, tokens: Sequence[Secret]) -> None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not any_token(credentials.strip(), tokens):
        raise Unauthenticated("invalid bearer token")


def _signature_matches(header: str | None, secret: Secret, message: bytes) -> bool:
    expected = _raw("sha256=" + secret.sign(message))
    given = _raw((header or "").strip().lower())
    return hmac.compare_digest(expected, given)


def check_signed(
    headers: Mapping[str, str], body: bytes, secret: Secret | None, window: float, now: float
) -> None:
    """The ``X-Carewatch-Signature`` scheme (module docstring)."""
    _check_stamped(headers, body, secret, window, now, SIGNATURE_HEADER, TIMESTAMP_HEADER)


def check_chatwoot_signature(
    headers: Mapping[str, str], body: bytes, secret: Secret, window: float, now: float
) -> None:
    """Chatwoot's ``X-Chatwoot-Signature`` (module docstring)."""
    _check_stamped(
        headers, body, secret, window, now, CHATWOOT_SIGNATURE_HEADER, CHATWOOT_TIMESTAMP_HEADER
    )


def _check_stamped(
    headers: Mapping[str, str],
    body: bytes,
    secret: Secret | None,
    window: float,
    now: float,
    signature_header: str,
    timestamp_header: str,
) -> None:
    """``sha256=<hex HMAC of "{timestamp}.{body}">`` with the timestamp within ``window``
    seconds of ``now`` either way. The signature is checked first, so only a sender who
    holds the secret ever learns that a timestamp was stale."""
    signature = headers.get(signature_header)
    stamp = headers.get(timestamp_header, "").strip()
    if secret is None or signature is None:
        raise Unauthenticated(f"missing credentials: no {signature_header}")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Unauthenticated(f"{timestamp_header}: expected epoch seconds")
    if not _signature_matches(signature, secret, _raw(stamp) + b"." + body):
        raise Unauthenticated("signature does not match")
    if abs(now - int(stamp)) > window:
        raise Unauthenticated(
            f"stale timestamp: more than {window:g} s from the server's clock",
            reason=STALE_TIMESTAMP,
        )


def check_meta_signature(headers: Mapping[str, str], body: bytes, app_secret: Secret) -> None:
    if not _signature_matches(headers.get(META_SIGNATURE_HEADER), app_secret, body):
        raise Unauthenticated(f"{META_SIGNATURE_HEADER} does not match")


def meta_challenge(query: Mapping[str, str], verify_token: Secret) -> str:
    """The ``hub.challenge`` to echo when the subscription check matches; 403 otherwise."""
    challenge = query.get("hub.challenge", "")
    if query.get("hub.mode") != "subscribe" or not any_token(
        query.get("hub.verify_token"), [verify_token]
    ):
        raise Unauthenticated("subscription check does not match", status=403)
    if not challenge or len(challenge) > _MAX_CHALLENGE or not challenge.isprintable():
        raise Unauthenticated("hub.challenge: missing or unusable", status=403)
    return challenge


def check_url_token(query: Mapping[str, str], headers: Mapping[str, str], token: Secret) -> None:
    if not any_token(headers.get(TOKEN_HEADER, query.get("token")), [token]):
        raise Unauthenticated("invalid token")
