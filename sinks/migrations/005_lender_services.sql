-- 005: lender services. Whitelist changes (one row per change id: a change the worker sent twice
-- after a crash collapses to one) and standardised credit reports as issued.
CREATE TABLE IF NOT EXISTS whitelist_changes (
    change_id String,
    uscc String,
    enterprise_name String,
    whitelisted Bool,
    eval_grade LowCardinality(String),
    failed Array(String),
    at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY change_id;

CREATE TABLE IF NOT EXISTS credit_reports (
    number String,
    uscc String,
    requester_kind LowCardinality(String),
    requester_id String,
    issued_at DateTime64(3, 'UTC'),
    sha256 String,
    content String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY number;
