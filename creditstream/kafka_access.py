"""Who may do what on Kafka: the ACLs of every principal, as plain data (no I/O), so the CLI, the
demo, the tests and the documentation use one table. ``kafka_admin.grant`` applies them.

Principals (docs/kafka-security.md); a service's is named ``<app id>-<service>``:

1. ``admin``: the broker's one super user, made when its log dir is formatted; creates topics,
   principals and ACLs, issues API keys. People and scripts that administer use it, nothing else.
2. ``worker``: reads the provider topics, writes the normalised, aggregate, dead-letter, consent,
   whitelist, repartition, masked and outbound public topics (reading the repartition and masked
   ones as well), folds the loan loop's
   topics into the accepted finance topic, owns its Faust group
   and the topics Faust makes (changelog, leader: all named ``<app id>-…``).
3. ``sink``: reads what it stores, writes the dead letters of what it cannot store.
4. ``api``: reads what it serves, writes audit records, reports, disputes, repair applications,
   webhooks, consents and repair records of enterprises, the loan loop's changes, and the gateway's provider records (the
   gateway checks each provider's topics itself: its API key lists them).
5. ``gateway``: ``creditstream gateway``, the provider push gateway alone: reads the API keys,
   writes provider records and its audit records.
6. ``operator``: reads the dead-letter topic. It is the only principal that may (the sink, which
   copies them into ClickHouse for operators, aside): rejected records keep their original bytes.
7. one ``provider-<id>`` per provider: writes its own topics and nothing else.
"""
from __future__ import annotations

from typing import NamedTuple

from creditstream.api.view import VIEW_GROUP_PREFIX, VIEW_TOPICS
from creditstream.province import REPLICATED_TOPICS, offset_syncs_topic
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    API_KEYS_TOPIC,
    AUDIT_TOPIC,
    CONSENT_STATE_TOPIC,
    DEAD_LETTER_TOPIC,
    DISPUTE_TOPIC,
    FINANCE_ACCEPTED_TOPIC,
    FINANCE_TOPICS,
    MASKED_TOPIC,
    NORMALIZED_TOPIC,
    OUTBOUND_PUBLIC_TOPIC,
    OUTBOUND_STATISTICS_TOPIC,
    PROVIDER_TOPICS,
    PUSHABLE_TOPICS,
    REPAIR_TOPIC,
    REPARTITION_TOPIC,
    REPORT_TOPIC,
    WEBHOOK_TOPIC,
    WHITELIST_TOPIC,
    replicated_topic,
)
from creditstream.sinks.rows import SINK_TOPICS

ADMIN = "admin"
SERVICES = ("worker", "sink", "api", "gateway", "operator")  # `creditstream kafka setup` makes these
PROVIDER_PREFIX = "provider-"
OPERATOR_GROUP_PREFIX = "creditstream-operator-"

WORKER_READS = (*PROVIDER_TOPICS, REPARTITION_TOPIC, MASKED_TOPIC, *FINANCE_TOPICS)
WORKER_WRITES = (NORMALIZED_TOPIC, AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, REPARTITION_TOPIC, MASKED_TOPIC,
                 CONSENT_STATE_TOPIC, WHITELIST_TOPIC, FINANCE_ACCEPTED_TOPIC, OUTBOUND_PUBLIC_TOPIC)
SINK_WRITES = (DEAD_LETTER_TOPIC,)
API_WRITES = (*PROVIDER_TOPICS, AUDIT_TOPIC, REPORT_TOPIC, DISPUTE_TOPIC, REPAIR_TOPIC, WEBHOOK_TOPIC,
              *FINANCE_TOPICS, OUTBOUND_STATISTICS_TOPIC)
GATEWAY_READS = (API_KEYS_TOPIC,)
GATEWAY_WRITES = (*PUSHABLE_TOPICS, AUDIT_TOPIC)  # not consent: only the API writes an enterprise's
OPERATOR_READS = (DEAD_LETTER_TOPIC,)


class Grant(NamedTuple):
    """One ALLOW ACL: ``operation`` on the ``resource`` (topic, group) named ``name``, literally
    or as a prefix. Kafka lets READ and WRITE imply DESCRIBE."""
    resource: str  # "topic" | "group"
    name: str
    pattern: str  # "literal" | "prefixed"
    operation: str  # "read" | "write" | "all" | "describe_configs"


def service_user(role: str, app_id: str) -> str:
    """A service's principal is named after its app, so deployments (app ids) sharing a cluster
    each have their own: ``creditstream-worker``, ``creditstream-sink``…"""
    return f"{app_id.rstrip('-')}-{role}"


def provider_user(provider_id: str) -> str:
    return PROVIDER_PREFIX + provider_id


def provider_grants(topics) -> list[Grant]:
    """A provider writes its own topics and nothing else (``providers add`` refuses the consent
    topic; the demo's and compose's simulator, which plays every provider and the platform, gets
    it)."""
    return on_topics("write", sorted(set(topics)))


def on_topics(operation: str, topics) -> list[Grant]:
    """``operation`` on each of ``topics`` (named literally, each once, in order)."""
    return [Grant("topic", t, "literal", operation) for t in dict.fromkeys(topics)]


def service_grants(role: str, app_id: str, app_id_prefix: bool = False, cities: tuple[str, ...] = ()) -> list[Grant]:
    """The ACLs of a platform service for the app ``app_id`` (the worker's Faust app id; the sink's
    group is ``<app_id>-sink``). ``app_id_prefix``: for every app id that begins with ``app_id``
    instead (blue/green deployments under new app ids; the tests' many apps). ``cities``: at the
    provincial node, the worker also reads each city's replicated outbound topic."""
    view_group = Grant("group", VIEW_GROUP_PREFIX, "prefixed", "read")  # the API's and gateway's key readers
    if role == "worker":
        own = [Grant("group", app_id, "prefixed", "read"), Grant("topic", app_id, "prefixed", "all")] \
            if app_id_prefix else [Grant("group", app_id, "literal", "read"),
                                   Grant("topic", f"{app_id}-", "prefixed", "all")]
        gathered = on_topics("read", [replicated_topic(city) for city in cities])
        return on_topics("read", WORKER_READS) + on_topics("write", WORKER_WRITES) + own + gathered
    if role == "sink":
        group = Grant("group", app_id, "prefixed", "read") if app_id_prefix \
            else Grant("group", f"{app_id}-sink", "literal", "read")
        return on_topics("read", SINK_TOPICS) + on_topics("write", SINK_WRITES) + [group]
    if role == "api":
        return on_topics("read", VIEW_TOPICS) + on_topics("write", API_WRITES) + [view_group]
    if role == "gateway":
        return on_topics("read", GATEWAY_READS) + on_topics("write", GATEWAY_WRITES) + [view_group]
    if role == "operator":
        return on_topics("read", OPERATOR_READS) + [Grant("group", OPERATOR_GROUP_PREFIX, "prefixed", "read")]
    raise ValueError(f"unknown service {role!r}; known: {', '.join(SERVICES)}")


def readers_of(topic: str, app_id: str) -> set[str]:
    """The services that may read ``topic`` (for the documentation and its test)."""
    return {role for role in SERVICES
            if any(g.resource == "topic" and g.name == topic and g.operation == "read"
                   for g in service_grants(role, app_id))}


def mirror_source_grants(target: str = "province") -> list[Grant]:
    """MirrorMaker 2 on the city: read what leaves the city (the outbound public topic and the
    whitelist changes) and nothing else, and their configuration (MM2 creates the provincial copies
    with the same partitions from it); write its offset-sync bookkeeping topic there."""
    return (on_topics("read", REPLICATED_TOPICS) + on_topics("describe_configs", REPLICATED_TOPICS)
            + [Grant("topic", offset_syncs_topic(target), "literal", "all")])


def mirror_target_grants(city: str) -> list[Grant]:
    """MirrorMaker 2 on the province for one city: topics and its Connect group under the city's
    prefix (``heihe.``), nothing else, so a city cannot write another city's topics."""
    return [Grant("topic", f"{city}.", "prefixed", "all"), Grant("group", f"{city}.", "prefixed", "all")]
