-- 004: the enterprise's rights. Disputes and repair applications in their latest state; dead
-- letters say which enterprise they name, so the enterprise can see its rejected submissions.
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id String,
    uscc String,
    topic LowCardinality(String),
    record LowCardinality(String),
    key_json String,
    provider_id String,
    statement String,
    state LowCardinality(String),
    answer String,
    filed_at DateTime64(3, 'UTC'),
    due_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    updated_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY dispute_id;

CREATE TABLE IF NOT EXISTS repair_applications (
    application_id String,
    uscc String,
    decision_no String,
    pledge String,
    statement String,
    state LowCardinality(String),
    note String,
    applied_at DateTime64(3, 'UTC'),
    due_on Date,
    updated_at DateTime64(3, 'UTC'),
    updated_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY application_id;

ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS uscc String DEFAULT '';
