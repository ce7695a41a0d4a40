-- 006: contract v1.2. The three v1.2 statement records (social insurance, housing fund, customs
-- trade) in one table, as register_records holds the registers: per natural key the highest
-- revision wins, among equal revisions the earliest offset (sinks.rows.revision_version). The
-- whitelist changes say which evaluation model decided them.
CREATE TABLE IF NOT EXISTS statement_records (
    uscc String,
    record LowCardinality(String),
    natural_key String,
    revision Int32,
    occurred_at DateTime64(3, 'UTC'),
    event_id String,
    provider_id String,
    enterprise_name String,
    fields_json String,
    received_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (uscc, record, natural_key);

ALTER TABLE whitelist_changes ADD COLUMN IF NOT EXISTS eval_model LowCardinality(String) DEFAULT 'cs-eval-1';
