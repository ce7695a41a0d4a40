-- 008: the credit evaluation over time. One row per enterprise and day (Asia/Shanghai): the last
-- evaluation the worker published that day. A materialised view copies it from every aggregate
-- row the sink inserts, so the history has no writer of its own and cannot disagree with the rows.
-- The rows held when the migration runs seed it (a deployment's history starts there).
CREATE TABLE IF NOT EXISTS evaluation_history (
    uscc String,
    day Date,
    at DateTime64(3, 'UTC'),
    eval_model LowCardinality(String),
    eval_score Nullable(Int32),
    eval_grade LowCardinality(String),
    whitelisted Nullable(Bool)
) ENGINE = ReplacingMergeTree(at)
ORDER BY (uscc, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS evaluation_history_from_rows TO evaluation_history AS
SELECT uscc, toDate(updated_at, 'Asia/Shanghai') AS day, updated_at AS at,
       JSONExtractString(row_json, 'eval_model') AS eval_model,
       JSONExtract(row_json, 'eval_score', 'Nullable(Int32)') AS eval_score,
       JSONExtractString(row_json, 'eval_grade') AS eval_grade,
       JSONExtract(row_json, 'whitelisted', 'Nullable(Bool)') AS whitelisted
FROM enterprise_aggregates;

INSERT INTO evaluation_history
SELECT uscc, toDate(updated_at, 'Asia/Shanghai') AS day, updated_at AS at,
       JSONExtractString(row_json, 'eval_model') AS eval_model,
       JSONExtract(row_json, 'eval_score', 'Nullable(Int32)') AS eval_score,
       JSONExtractString(row_json, 'eval_grade') AS eval_grade,
       JSONExtract(row_json, 'whitelisted', 'Nullable(Bool)') AS whitelisted
FROM enterprise_aggregates FINAL;
