"""API key format: ``cs_<key id>_<secret>``. Only the key's SHA-256 is ever stored or sent."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional

ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_key() -> tuple[str, str]:
    """(key id, key): the key is shown once to whoever asked for it."""
    key_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(10))
    return key_id, f"cs_{key_id}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> Optional[str]:
    parts = key.split("_", 2)  # the secret itself may contain "_"
    return parts[1] if len(parts) == 3 and parts[0] == "cs" and parts[1] and parts[2] else None


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)
