"""The rows of the platform's ClickHouse tables (created by sinks/migrations). The sink writes
them and the API reads them, or the API writes them and operators read them: each row type is
the one definition of its table's columns (``columns()``), used for every insert."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import NamedTuple, Optional


class EnterpriseAggregatesRow(NamedTuple):
    TABLE = "enterprise_aggregates"
    uscc: str
    as_of_month: str
    row_json: str  # models.AggregateRow as the topic carries it
    updated_at: dt.datetime  # when the worker computed the row
    version: int  # the message offset: one partition per USCC, so the latest row wins


class UtilityStatementsRow(NamedTuple):
    TABLE = "utility_statements"
    uscc: str
    utility: str
    account_no: str
    billing_month: str
    revision: int
    account_name: str
    usage: Decimal
    amount_due: Decimal
    amount_paid: Decimal
    due_date: dt.date
    paid_date: Optional[dt.date]
    arrears_amount: Decimal
    event_id: str
    provider_id: str
    occurred_at: dt.datetime
    version: int  # higher revision wins; equal revisions: the earlier offset


class TaxPaymentsRow(NamedTuple):
    TABLE = "tax_payments"
    uscc: str
    tax_type: str
    period_start: dt.date
    period_end: dt.date
    revision: int
    amount_payable: Decimal
    amount_paid: Decimal
    due_date: dt.date
    paid_date: Optional[dt.date]
    event_id: str
    provider_id: str
    occurred_at: dt.datetime
    version: int


class ConsentGrantsRow(NamedTuple):
    TABLE = "consent_grants"
    uscc: str
    lender_id: str
    event_id: str
    scopes: list
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    occurred_at: dt.datetime
    version: int  # offset in credit.consent.accepted.v1: the last accepted grant per pair wins


class RegisterRecordsRow(NamedTuple):
    TABLE = "register_records"
    uscc: str
    record: str
    natural_key: str  # schemas.topics.register_key
    occurred_at: dt.datetime
    event_id: str
    provider_id: str
    enterprise_name: str
    fields_json: str  # the record's own fields in JSON form; identity numbers masked
    received_at: dt.datetime  # when the provider's message was produced


class StatementRecordsRow(NamedTuple):
    TABLE = "statement_records"
    uscc: str
    record: str  # a v1.2 statement record (schemas.topics.STATEMENT_SERIES)
    natural_key: str  # schemas.topics.register_key: account or customs code, month
    revision: int
    occurred_at: dt.datetime
    event_id: str
    provider_id: str
    enterprise_name: str
    fields_json: str  # the record's own fields in JSON form
    received_at: dt.datetime
    version: int  # higher revision wins; equal revisions: the earlier offset


class DeadLettersRow(NamedTuple):
    TABLE = "dead_letters"
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    message: str
    value_base64: Optional[str]
    received_at: dt.datetime
    uscc: str  # normalised, when the original bytes still name one ("" otherwise): the enterprise may see it


class ApiKeysRow(NamedTuple):
    TABLE = "api_keys"
    key_id: str
    key_hash: str
    principal_kind: str
    principal_id: str
    created_at: dt.datetime
    revoked: bool
    version: int  # the message offset: the latest event per key id wins


class LookupAuditRow(NamedTuple):
    TABLE = "lookup_audit"
    at: dt.datetime
    request_id: str
    principal_kind: str  # "lender" | "enterprise" | "anonymous"
    principal_id: str
    key_prefix: str  # the key id, never the key
    route: str
    uscc: str
    scope: str
    decision: str  # "allow" | "deny"
    reason: str
    consent_event_id: Optional[str]
    status: int  # HTTP status answered

    def to_bytes(self) -> bytes:
        """As credit.audit.v1 carries it (the API writes it before answering, the sink stores it)."""
        doc = self._asdict()
        doc["at"] = self.at.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "LookupAuditRow":
        doc = json.loads(data)
        if not isinstance(doc, dict) or set(doc) != set(cls._fields):
            raise ValueError(f"audit record: expected the fields {', '.join(cls._fields)}")
        doc["at"] = dt.datetime.fromisoformat(doc["at"].replace("Z", "+00:00"))
        return cls(**doc)


class DisputesRow(NamedTuple):
    TABLE = "disputes"
    dispute_id: str
    uscc: str
    topic: str
    record: str
    key_json: str
    provider_id: str
    statement: str
    state: str
    answer: str
    filed_at: dt.datetime
    due_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str
    version: int  # offset in credit.dispute.v1 (keyed by dispute id): the latest state wins


class RepairApplicationsRow(NamedTuple):
    TABLE = "repair_applications"
    application_id: str
    uscc: str
    decision_no: str
    pledge: str
    statement: str
    state: str
    note: str
    applied_at: dt.datetime
    due_on: dt.date
    updated_at: dt.datetime
    updated_by: str
    version: int  # offset in credit.repair.v1


class WhitelistChangesRow(NamedTuple):
    TABLE = "whitelist_changes"
    change_id: str
    uscc: str
    enterprise_name: str
    whitelisted: bool
    eval_grade: str
    failed: list
    at: dt.datetime
    version: int  # 2**62 - offset in credit.whitelist.v1: the earliest copy of a repeated change wins
    eval_model: str


class CreditReportsRow(NamedTuple):
    TABLE = "credit_reports"
    number: str
    uscc: str
    requester_kind: str
    requester_id: str
    issued_at: dt.datetime
    sha256: str
    content: str  # the canonical JSON the SHA-256 is over (the code's hash stays in Kafka)
    version: int  # offset in credit.reports.v1


class FinanceChangesRow(NamedTuple):
    TABLE = "finance_changes"
    event_id: str
    record: str  # LoanProduct, FinancingNeed, LoanApplication, LoanPerformance, CompensationClaim
    subject_id: str  # the product, need, application, "loan_no/month" or claim it changed
    owner: str  # its key: the USCC, or the lender id of a product
    occurred_at: dt.datetime
    actor: str
    change_json: str  # the change in JSON form, as accepted
    version: int  # offset in credit.finance.accepted.v1: a change forwarded twice is one row


class LoanApplicationsRow(NamedTuple):
    TABLE = "loan_applications"
    application_id: str
    uscc: str
    lender_id: str
    product_id: str
    product_kind: str
    state: str
    amount: Decimal
    term_months: int
    renews_loan_no: Optional[str]
    submitted_at: dt.datetime
    accepted_at: Optional[dt.datetime]
    decided_at: Optional[dt.datetime]
    reject_reason: Optional[str]
    approved_amount: Optional[Decimal]
    approved_rate: Optional[Decimal]
    loan_no: Optional[str]
    disbursed_amount: Optional[Decimal]
    disbursed_rate: Optional[Decimal]
    disbursed_on: Optional[dt.date]
    maturity_on: Optional[dt.date]
    whitelisted_at_disbursement: Optional[bool]
    first_loan: Optional[bool]
    change_json: str
    version: int  # offset in credit.finance.accepted.v1 (one partition per USCC): the latest state wins


class LoanReportsRow(NamedTuple):
    TABLE = "loan_reports"
    event_id: str
    loan_no: str
    uscc: str
    lender_id: str
    month: str
    status: str
    outstanding_principal: Decimal
    occurred_at: dt.datetime
    change_json: str
    version: int


class CompensationClaimsRow(NamedTuple):
    TABLE = "compensation_claims"
    claim_id: str
    loan_no: str
    uscc: str
    lender_id: str
    state: str
    filed_at: dt.datetime
    due_on: dt.date
    outstanding_principal: Decimal
    compensation_amount: Optional[Decimal]
    decided_at: Optional[dt.datetime]
    change_json: str
    version: int


class EvaluationHistoryRow(NamedTuple):
    """Never inserted by the platform: migration 008's materialised view copies it from every
    enterprise_aggregates insert (the last evaluation of each day, Asia/Shanghai)."""
    TABLE = "evaluation_history"
    uscc: str
    day: dt.date
    at: dt.datetime
    eval_model: str
    eval_score: Optional[int]
    eval_grade: str
    whitelisted: Optional[bool]


ROW_TYPES = (EnterpriseAggregatesRow, EvaluationHistoryRow, UtilityStatementsRow, TaxPaymentsRow, ConsentGrantsRow,
             RegisterRecordsRow, StatementRecordsRow, DeadLettersRow, ApiKeysRow, LookupAuditRow, DisputesRow,
             RepairApplicationsRow, WhitelistChangesRow, CreditReportsRow, FinanceChangesRow, LoanApplicationsRow, LoanReportsRow,
             CompensationClaimsRow)
TABLES: dict[str, type] = {row_type.TABLE: row_type for row_type in ROW_TYPES}


def columns(table: str) -> tuple[str, ...]:
    return TABLES[table]._fields
