-- v1.1 registers: every valid register event, with its own fields as JSON (identity numbers
-- masked: the validator replaced them before anything left it). Identical re-deliveries collapse
-- (ReplacingMergeTree over the full key); the record in force per natural key is chosen when read,
-- by the contract's rule: latest occurred_at, ties the greater event_id (api/store.py).
CREATE TABLE IF NOT EXISTS register_records (
    uscc String,
    record LowCardinality(String),
    natural_key String,
    occurred_at DateTime64(3, 'UTC'),
    event_id String,
    provider_id String,
    enterprise_name String,
    fields_json String,
    received_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (uscc, record, natural_key, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
