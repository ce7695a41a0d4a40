-- 007: the loan loop (financing-services.md). Every change the worker accepted, once
-- (finance_changes, by event id), and the facts the statistics are computed from, typed:
-- applications as they stand (the latest change in credit.finance.accepted.v1, one partition per
-- USCC, wins), every monthly loan report (the one in force per loan and month is the argMax by
-- (occurred_at, event_id)), and compensation claims as they stand.
CREATE TABLE IF NOT EXISTS finance_changes (
    event_id String,
    record LowCardinality(String),
    subject_id String,
    owner String,
    occurred_at DateTime64(3, 'UTC'),
    actor String,
    change_json String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS loan_applications (
    application_id String,
    uscc String,
    lender_id String,
    product_id String,
    product_kind LowCardinality(String),
    state LowCardinality(String),
    amount Decimal(18, 2),
    term_months Int32,
    renews_loan_no Nullable(String),
    submitted_at DateTime64(3, 'UTC'),
    accepted_at Nullable(DateTime64(3, 'UTC')),
    decided_at Nullable(DateTime64(3, 'UTC')),
    reject_reason Nullable(String),
    approved_amount Nullable(Decimal(18, 2)),
    approved_rate Nullable(Decimal(6, 2)),
    loan_no Nullable(String),
    disbursed_amount Nullable(Decimal(18, 2)),
    disbursed_rate Nullable(Decimal(6, 2)),
    disbursed_on Nullable(Date32),
    maturity_on Nullable(Date32),
    whitelisted_at_disbursement Nullable(Bool),
    first_loan Nullable(Bool),
    change_json String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY application_id;

CREATE TABLE IF NOT EXISTS loan_reports (
    event_id String,
    loan_no String,
    uscc String,
    lender_id String,
    month String,
    status LowCardinality(String),
    outstanding_principal Decimal(18, 2),
    occurred_at DateTime64(3, 'UTC'),
    change_json String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS compensation_claims (
    claim_id String,
    loan_no String,
    uscc String,
    lender_id String,
    state LowCardinality(String),
    filed_at DateTime64(3, 'UTC'),
    due_on Date32,
    outstanding_principal Decimal(18, 2),
    compensation_amount Nullable(Decimal(18, 2)),
    decided_at Nullable(DateTime64(3, 'UTC')),
    change_json String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY claim_id;
