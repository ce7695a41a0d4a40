-- Latest aggregates per enterprise. version = offset on the aggregates topic (one partition per
-- USCC), so the newest row wins; the row is the contract's JSON object, byte for byte.
CREATE TABLE IF NOT EXISTS enterprise_aggregates (
    uscc String,
    as_of_month String,
    row_json String,
    updated_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY uscc
SETTINGS non_replicated_deduplication_window = 10000;

-- Utility statements, one row per (account, month): highest revision, then earliest offset, wins.
CREATE TABLE IF NOT EXISTS utility_statements (
    uscc String,
    utility LowCardinality(String),
    account_no String,
    billing_month String,
    revision Int32,
    account_name String,
    usage Decimal(18, 3),
    amount_due Decimal(18, 2),
    amount_paid Decimal(18, 2),
    due_date Date32,
    paid_date Nullable(Date32),
    arrears_amount Decimal(18, 2),
    event_id String,
    provider_id String,
    occurred_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (uscc, utility, account_no, billing_month)
SETTINGS non_replicated_deduplication_window = 10000;

-- Tax payments, one row per (tax type, period): same winning rule as statements.
CREATE TABLE IF NOT EXISTS tax_payments (
    uscc String,
    tax_type LowCardinality(String),
    period_start Date32,
    period_end Date32,
    revision Int32,
    amount_payable Decimal(18, 2),
    amount_paid Decimal(18, 2),
    due_date Date32,
    paid_date Nullable(Date32),
    event_id String,
    provider_id String,
    occurred_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (uscc, tax_type, period_start, period_end)
SETTINGS non_replicated_deduplication_window = 10000;

-- Consent: the latest grant event (by occurred_at) per (enterprise, lender) is in force.
CREATE TABLE IF NOT EXISTS consent_grants (
    uscc String,
    lender_id String,
    event_id String,
    scopes Array(LowCardinality(String)),
    granted_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    revoked Bool,
    occurred_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (uscc, lender_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Dead letters, once per source position.
CREATE TABLE IF NOT EXISTS dead_letters (
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    reason LowCardinality(String),
    message String,
    value_base64 Nullable(String),
    received_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 10000;

-- API keys (from credit.apikeys.v1), stored only as SHA-256 of the key. The key id is the public
-- part of a key; principal: a lender id or an enterprise USCC. A revocation is a newer version.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id String,
    key_hash String,
    principal_kind LowCardinality(String),
    principal_id String,
    created_at DateTime64(3, 'UTC'),
    revoked Bool,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;

-- Every look-up, allowed or refused.
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
) ENGINE = MergeTree
ORDER BY at;
