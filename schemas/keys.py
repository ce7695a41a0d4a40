"""One secret, one key per purpose. The platform has one secret (CREDITSTREAM_PERSONAL_DATA_KEY);
each use gets a key of its own, derived with HKDF-SHA256 (RFC 5869, built on the standard
library's hmac) under a label naming the purpose, so what one use reveals (a webhook's secret is
handed to a lender) says nothing about the keys of the others. docs/keys.md lists each use and
how to rotate.

- ``identity``: the keyed hash of an identity number. Its key is the secret itself (every hash
  stored so far was made with it, and the clear numbers are gone from the broker after the
  dead-letter window, so they could not be hashed again).
- ``report-code``: a report's verification code; only the code's hash is stored.
- ``webhook-secret``: a webhook's signing secret; never stored.

Reports issued and webhooks registered before the derivation existed (version 1) keep the code
and secret made from the secret itself; new ones use the derived keys (version 2).
"""
from __future__ import annotations

import hashlib
import hmac

IDENTITY, REPORT_CODE, WEBHOOK_SECRET = "identity", "report-code", "webhook-secret"
PURPOSES = (IDENTITY, REPORT_CODE, WEBHOOK_SECRET)
SALT = b"creditstream key derivation v2"


def hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with SALT, expand with ``info``."""
    prk = hmac.new(SALT, secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def purpose_key(secret: bytes, purpose: str, version: int = 2) -> bytes:
    """The key of ``purpose``: the secret itself for identity hashes and for what was made before
    the derivation (version 1), HKDF under the purpose's label otherwise."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    if purpose == IDENTITY or version == 1:
        return secret
    return hkdf(secret, f"creditstream/{purpose}".encode())
