"""Issuing and revoking API keys (``creditstream lenders|enterprises add|revoke``). The events
travel on credit.apikeys.v1 and the sink stores them, so key management works the same with
embedded ClickHouse (owned by the worker's sink service) or a server. Only hashes travel."""
from __future__ import annotations

import datetime as dt

from confluent_kafka import Producer

from creditstream.schemas.apikeys import key_hash, new_key
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import KeyEvent
from creditstream.schemas.topics import API_KEYS_TOPIC


def send_key_event(kafka: KafkaConnection, event: KeyEvent) -> None:
    producer = Producer(kafka.producer())
    errors = []
    producer.produce(API_KEYS_TOPIC, key=event.key_id.encode(), value=event.to_bytes(),
                     on_delivery=lambda err, msg: err and errors.append(err))
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not publish the key event to {API_KEYS_TOPIC}: {errors or 'timeout'}")


def issue(kafka: KafkaConnection, principal_kind: str, principal_id: str) -> tuple[str, str]:
    """Publish a new key for a principal; return (key id, key). The key is shown once."""
    key_id, key = new_key()
    send_key_event(kafka, KeyEvent(key_id, key_hash(key), principal_kind, principal_id,
                                   dt.datetime.now(dt.timezone.utc), False))
    return key_id, key


def revoke(kafka: KafkaConnection, key_id: str, principal_kind: str, principal_id: str) -> None:
    send_key_event(kafka, KeyEvent(key_id, "", principal_kind, principal_id, dt.datetime.now(dt.timezone.utc), True))
