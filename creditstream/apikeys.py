"""API keys for lenders and enterprises. A key is ``cs_<key id>_<secret>``; only its SHA-256 is
stored. Issue and revoke events travel on credit.apikeys.v1 and the sink stores them, so key
management works the same with embedded ClickHouse (owned by the worker process) or a server."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import NamedTuple, Optional

from confluent_kafka import Producer

from creditstream.contract import API_KEYS_TOPIC
from creditstream.records import to_json
from creditstream.settings import Settings

ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


class KeyEvent(NamedTuple):
    key_id: str
    key_hash: str
    principal_kind: str  # "lender" | "enterprise"
    principal_id: str
    created_at: dt.datetime
    revoked: bool


def new_key() -> tuple[str, str]:
    key_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(10))
    return key_id, f"cs_{key_id}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> Optional[str]:
    parts = key.split("_", 2)  # the secret itself may contain "_"
    return parts[1] if len(parts) == 3 and parts[0] == "cs" and parts[1] and parts[2] else None


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)


def send_key_event(settings: Settings, event: KeyEvent) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    errors = []
    producer.produce(API_KEYS_TOPIC, key=event.key_id.encode(),
                     value=json.dumps(to_json(event._asdict())).encode(),
                     on_delivery=lambda err, msg: err and errors.append(err))
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not publish the key event to {API_KEYS_TOPIC}: {errors or 'timeout'}")


def issue(settings: Settings, principal_kind: str, principal_id: str) -> tuple[str, str]:
    """Publish a new key for a principal; return (key id, key). The key is shown once."""
    key_id, key = new_key()
    send_key_event(settings, KeyEvent(key_id, key_hash(key), principal_kind, principal_id,
                                      dt.datetime.now(dt.timezone.utc), False))
    return key_id, key


def revoke(settings: Settings, key_id: str, principal_kind: str, principal_id: str) -> None:
    send_key_event(settings, KeyEvent(key_id, "", principal_kind, principal_id,
                                      dt.datetime.now(dt.timezone.utc), True))
