"""Issuing, listing and revoking API keys (``creditstream lenders|enterprises add|add-key|revoke|
list``). The events travel on credit.apikeys.v1: the API reads them into memory (a key works as
soon as its event is read) and the sink stores them, so key management works the same with
embedded ClickHouse (owned by the worker's sink service) or a server. Only hashes travel.

The commands read the current keys first, so they can refuse what would silently do nothing or
harm: a full key given where a key id is expected (it would have travelled in clear), an unknown
key id, another kind's key, an empty lender name, a lender name that exists (its new key would
inherit every consent given to that lender: a second key is ``add-key LENDER_ID``, on purpose).
Operators (``creditstream operators add NAME``) work the same way as lenders.
"""
from __future__ import annotations

import datetime as dt
import secrets

from confluent_kafka import Producer

from creditstream.api.view import ServingView, load_once
from creditstream.schemas.apikeys import ID_ALPHABET, key_hash, key_id_of, new_key
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import KeyEvent
from creditstream.schemas.topics import API_KEYS_TOPIC

NAME_LIMIT = 200


class KeyRefused(ValueError):
    """A key command that must not be carried out; the message says why and what to do instead."""


def send_key_event(kafka: KafkaConnection, event: KeyEvent) -> None:
    producer = Producer(kafka.producer())
    errors = []
    producer.produce(API_KEYS_TOPIC, key=event.key_id.encode(), value=event.to_bytes(),
                     on_delivery=lambda err, msg: err and errors.append(err))
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not publish the key event to {API_KEYS_TOPIC}: {errors or 'timeout'}")


def issue(kafka: KafkaConnection, principal_kind: str, principal_id: str, name: str = "",
          topics: tuple[str, ...] = ()) -> tuple[str, str]:
    """Publish a new key for a principal; return (key id, key). The key is shown once."""
    key_id, key = new_key()
    send_key_event(kafka, KeyEvent(key_id, key_hash(key), principal_kind, principal_id,
                                   dt.datetime.now(dt.timezone.utc), False, name, tuple(topics)))
    return key_id, key


def revoke(kafka: KafkaConnection, key_id: str, principal_kind: str, principal_id: str, name: str = "") -> None:
    send_key_event(kafka, KeyEvent(key_id, "", principal_kind, principal_id, dt.datetime.now(dt.timezone.utc), True,
                                   name))


def current_keys(kafka: KafkaConnection) -> dict[str, KeyEvent]:
    return load_once(kafka, ServingView(), (API_KEYS_TOPIC,)).keys


def add_named(kafka: KafkaConnection, kind: str, name: str) -> tuple[str, str, str]:
    """A new lender or operator with its first key: (its id, key id, key). Names are unique."""
    shown = " ".join(name.split())
    if not shown:
        raise KeyRefused(f"a {kind} needs a name, e.g. `creditstream {kind}s add \"Heihe Rural Commercial Bank\"`")
    if len(shown) > NAME_LIMIT or not shown.isprintable():
        raise KeyRefused(f"a {kind} name is printable text of at most {NAME_LIMIT} characters")
    for event in current_keys(kafka).values():
        if event.principal_kind == kind and event.name.casefold() == shown.casefold():
            raise KeyRefused(f"{kind} {shown!r} exists with id {event.principal_id}; to give it another key, run "
                             f"`creditstream {kind}s add-key {event.principal_id}`")
    principal_id = f"{kind}-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(8))
    key_id, key = issue(kafka, kind, principal_id, shown)
    return principal_id, key_id, key


def add_provider(kafka: KafkaConnection, provider_id: str, topics: tuple[str, ...] = ()) -> tuple[str, str]:
    """A data provider's first key; it is named by the provider_id its records carry, and may push
    to ``topics`` (its own categories) through the HTTP gateway."""
    from creditstream.schemas.topics import CONSENT_RECORD, PROVIDER_TOPICS, PUSHABLE_TOPICS, TOPIC_OF
    shown = provider_id.strip()
    if not shown or len(shown) > NAME_LIMIT or not shown.isprintable() or " " in shown:
        raise KeyRefused("a provider is named by its provider_id as its records carry it, e.g. heihe-water")
    unknown = [t for t in topics if t not in PROVIDER_TOPICS]
    if unknown:
        raise KeyRefused(f"unknown topics {', '.join(unknown)}; provider topics: {', '.join(PUSHABLE_TOPICS)}")
    if TOPIC_OF[CONSENT_RECORD] in topics:
        raise KeyRefused(f"no provider may write {TOPIC_OF[CONSENT_RECORD]}: consents are the enterprises' own, "
                         "given through the platform (/v1/me/consents)")
    if any(e.principal_kind == "provider" and e.principal_id == shown for e in current_keys(kafka).values()):
        raise KeyRefused(f"provider {shown} has a key; another one is `creditstream providers add-key {shown}`")
    return issue(kafka, "provider", shown, shown, tuple(topics))


def wait_until_live(settings, key: str, timeout: float = 2.0) -> str:
    """Ask the running API who the new key is until it answers (it reads keys from Kafka within
    ~0.1 s); say what happened."""
    import json
    import time
    import urllib.error
    import urllib.request

    url = f"http://{settings.api_host}:{settings.api_port}/v1/whoami"
    deadline, answer = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=1) as response:
                answer = json.loads(response.read())
                return f"live: the API at {url.rsplit('/v1', 1)[0]} accepts it (as {answer['kind']} {answer['id']})"
        except urllib.error.HTTPError:
            answer = "refused"  # the API runs but has not read the key yet
        except OSError:
            answer = None
        time.sleep(0.1)
    if answer is None:
        return (f"no API answers at {url.rsplit('/v1', 1)[0]}: the key works as soon as a running API has read it "
                "(within a second of its start)")
    return f"not live after {timeout:.0f} s: is the API behind on credit.apikeys.v1? Check its /healthz"


def add_key(kafka: KafkaConnection, principal_kind: str, principal_id: str) -> tuple[str, str]:
    """Another key for a lender that exists (an explicit choice: it shares the lender's consents)."""
    known = [e for e in current_keys(kafka).values() if e.principal_kind == principal_kind and e.principal_id == principal_id]
    if not known:
        raise KeyRefused(f"no {principal_kind} with id {principal_id!r}; `creditstream {principal_kind}s list` shows them")
    return issue(kafka, principal_kind, principal_id, known[0].name, known[0].topics)


def revoke_key(kafka: KafkaConnection, principal_kind: str, key_id: str) -> KeyEvent:
    """Revoke one key by its id; refuse anything else, saying why."""
    if key_id_of(key_id) is not None or key_id.startswith("cs_"):
        raise KeyRefused("that is a whole API key, not a key id: nothing was sent (a key must never travel or be "
                         "stored in clear). The key id is the part between `cs_` and the next `_`.")
    event = current_keys(kafka).get(key_id)
    if event is None:
        raise KeyRefused(f"no key with id {key_id!r}; `creditstream {principal_kind}s list` shows the key ids")
    if event.principal_kind != principal_kind:
        raise KeyRefused(f"key {key_id} belongs to {event.principal_kind} {event.principal_id}; use "
                         f"`creditstream {event.principal_kind}s revoke {key_id}`")
    if event.revoked:
        raise KeyRefused(f"key {key_id} of {principal_kind} {event.principal_id} is revoked already")
    revoke(kafka, key_id, principal_kind, event.principal_id, event.name)
    return event


def revoke_provider(kafka: KafkaConnection, provider_id: str) -> list[str]:
    """Revoke every active key of a provider; return their ids (none is not an error: the
    provider's Kafka credential may still need removing)."""
    active = [e for e in current_keys(kafka).values()
              if e.principal_kind == "provider" and e.principal_id == provider_id and not e.revoked]
    for event in active:
        revoke(kafka, event.key_id, "provider", provider_id, event.name)
    return [e.key_id for e in active]


def list_keys(kafka: KafkaConnection, principal_kind: str) -> list[KeyEvent]:
    return sorted((e for e in current_keys(kafka).values() if e.principal_kind == principal_kind),
                  key=lambda e: (e.principal_id, e.created_at))
