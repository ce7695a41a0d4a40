-- 003: the consent in force is the last accepted grant in the consent topic's order (it was the
-- latest occurred_at, which a grant stamped years ahead could win for ever), and the look-up audit
-- arrives through credit.audit.v1 (written by the API before it answers), so a re-delivered batch
-- must not count a look-up twice. Earlier tables are kept under a new name, never dropped.
RENAME TABLE consent_grants TO consent_grants_before_003;

CREATE TABLE IF NOT EXISTS consent_grants (
    uscc String,
    lender_id String,
    event_id String,
    scopes Array(LowCardinality(String)),
    granted_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    revoked Bool,
    occurred_at DateTime64(3, 'UTC'),
    version UInt64  -- offset in credit.consent.accepted.v1 (one partition per pair): the last wins
) ENGINE = ReplacingMergeTree(version)
ORDER BY (uscc, lender_id)
SETTINGS non_replicated_deduplication_window = 10000;

RENAME TABLE lookup_audit TO lookup_audit_before_003;

CREATE TABLE IF NOT EXISTS lookup_audit (
    at DateTime64(3, 'UTC'),
    request_id String,
    principal_kind LowCardinality(String),
    principal_id String,
    key_prefix String,
    route LowCardinality(String),
    uscc String,
    scope LowCardinality(String),
    decision LowCardinality(String),
    reason String,
    consent_event_id Nullable(String),
    status UInt16
) ENGINE = ReplacingMergeTree
ORDER BY (uscc, at, request_id)
SETTINGS non_replicated_deduplication_window = 10000;
