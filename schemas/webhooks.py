"""Signing whitelist webhook deliveries (platform-services.md, Whitelist). Pure functions: the API
signs with them, and a receiver can verify with ``verify`` (or the same three lines of its own).

A delivery carries ``X-Creditstream-Timestamp`` (Unix seconds) and ``X-Creditstream-Signature:
v1=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under the webhook's secret. A receiver
refuses a signature that does not match, and a timestamp further than ``tolerance`` from its
clock (a replayed delivery); it drops a change whose ``change_id`` it has seen (deliveries are
at least once)."""
from __future__ import annotations

import hashlib
import hmac

from creditstream.schemas.keys import WEBHOOK_SECRET, purpose_key

TIMESTAMP_HEADER = "X-Creditstream-Timestamp"
SIGNATURE_HEADER = "X-Creditstream-Signature"
CHANGE_ID_HEADER = "X-Creditstream-Change-Id"
DEFAULT_TOLERANCE = 300  # seconds


def webhook_secret(platform_key: bytes, webhook_id: str, version: int = 2) -> str:
    """The webhook's signing secret, derived from the platform's secret (never stored: shown once
    when the webhook is registered, recomputed to sign). ``version``: the webhook's
    (schemas.keys; 1 for webhooks registered before the per-purpose keys)."""
    key = purpose_key(platform_key, WEBHOOK_SECRET, version)
    return hmac.new(key, b"creditstream webhook secret\x00" + webhook_id.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, now: float,
           tolerance: int = DEFAULT_TOLERANCE) -> tuple[bool, str]:
    """(True, "") for a genuine, recent delivery; otherwise (False, why)."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False, f"{TIMESTAMP_HEADER} is not a Unix time"
    if abs(now - timestamp) > tolerance:
        return False, f"{TIMESTAMP_HEADER} is {abs(now - timestamp):.0f} s away from now (replayed?)"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature_header or ""):
        return False, "signature does not match the body"
    return True, ""
