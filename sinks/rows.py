"""Kafka messages → ClickHouse rows (schemas.tables). Pure functions: no I/O.

Versions make ReplacingMergeTree keep exactly the row the contract says wins, whatever order or
how often a batch is inserted: statements and payments by (revision, earliest offset), consent
by latest offset in the accepted-consent topic (topic order), aggregates by latest offset (one
partition per USCC). Audit records are deduplicated by their request id.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from typing import NamedTuple, Optional

from creditstream.schemas.codec import Codec, default_codec
from creditstream.schemas.models import (
    AggregateRow,
    ConsentState,
    DeadLetter,
    DisputeState,
    IssuedReport,
    KeyEvent,
    RepairState,
    WhitelistChange,
)
from creditstream.schemas.records import to_json
from creditstream.schemas.services import KEYED_FACTS, record_key
from creditstream.schemas.tables import (
    ApiKeysRow,
    CompensationClaimsRow,
    ConsentGrantsRow,
    CreditReportsRow,
    DeadLettersRow,
    DisputesRow,
    EnterpriseAggregatesRow,
    FinanceChangesRow,
    LoanApplicationsRow,
    LoanReportsRow,
    LookupAuditRow,
    RegisterRecordsRow,
    RepairApplicationsRow,
    StatementRecordsRow,
    TaxPaymentsRow,
    UtilityStatementsRow,
    WhitelistChangesRow,
)
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    API_KEYS_TOPIC,
    AUDIT_TOPIC,
    COMMON_FIELDS,
    CONSENT_STATE_TOPIC,
    DEAD_LETTER_TOPIC,
    DISPUTE_TOPIC,
    FINANCE_ACCEPTED_TOPIC,
    NORMALIZED_TOPIC,
    REGISTERS,
    REPAIR_TOPIC,
    REPORT_TOPIC,
    STATEMENT_SERIES,
    UTILITY_KINDS,
    WHITELIST_TOPIC,
)
from creditstream.schemas.uscc import normalise_uscc

UTC = dt.timezone.utc
OFFSET_BITS = 40
SINK_TOPICS = (AGGREGATES_TOPIC, NORMALIZED_TOPIC, DEAD_LETTER_TOPIC, API_KEYS_TOPIC, CONSENT_STATE_TOPIC, AUDIT_TOPIC,
               DISPUTE_TOPIC, REPAIR_TOPIC, WHITELIST_TOPIC, REPORT_TOPIC, FINANCE_ACCEPTED_TOPIC)
_KEYED_FACTS = frozenset(KEYED_FACTS)
_REGISTERS = frozenset(REGISTERS)


def revision_version(revision: int, offset: int) -> int:
    """Higher revision wins; among equal revisions the earlier offset wins (contract: later ignored)."""
    return ((revision + 2**23) << OFFSET_BITS) | ((1 << OFFSET_BITS) - 1 - offset)


def message_time(timestamp_ms: Optional[int]) -> dt.datetime:
    if timestamp_ms is None or timestamp_ms <= 0:
        return dt.datetime.now(UTC)
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, UTC)


@functools.lru_cache(maxsize=1)
def _codec() -> Codec:
    return default_codec()


def to_rows(topic: str, offset: int, timestamp_ms: Optional[int], value: bytes) -> list[NamedTuple]:
    """The rows a message becomes: one; several for a group of audit records; none for records
    kept only in the aggregates. Raises (DecodeError, ModelError, …) when the message does not fit
    its topic's model."""
    if topic == AUDIT_TOPIC:  # one message per group commit of the API (api.audit), a record per line
        return [LookupAuditRow.from_bytes(line) for line in value.split(b"\n")]
    if topic == FINANCE_ACCEPTED_TOPIC:
        record, typed = _codec().decode(value)
        return finance_rows(record, typed, offset)
    row = to_row(topic, offset, timestamp_ms, value)
    return [] if row is None else [row]


def to_row(topic: str, offset: int, timestamp_ms: Optional[int], value: bytes) -> Optional[NamedTuple]:
    """The row a message of a single-row topic becomes, or None (see to_rows)."""
    if topic == NORMALIZED_TOPIC:  # single-object Avro, validated and normalised by the worker
        record, typed = _codec().decode(value)
        return normalized_row(record, typed, offset, timestamp_ms)
    if topic == AGGREGATES_TOPIC:
        row = AggregateRow.decode(value)
        # updated_at: when the worker computed the row (the message timestamp), so a re-delivered
        # message yields the identical row
        return EnterpriseAggregatesRow(row.uscc, row.as_of_month, value.decode(), message_time(timestamp_ms), offset)
    if topic == DEAD_LETTER_TOPIC:
        letter = DeadLetter.from_bytes(value)
        return DeadLettersRow(letter.source_topic, letter.source_partition, letter.source_offset, letter.reason,
                              letter.message, letter.value_base64, message_time(timestamp_ms), named_uscc(letter))
    if topic == DISPUTE_TOPIC:
        d = DisputeState.from_bytes(value)
        return DisputesRow(d.dispute_id, d.uscc, d.topic, d.record, json.dumps(d.key, ensure_ascii=False), d.provider_id,
                           d.statement, d.state, d.answer, d.filed_at, d.due_at, d.updated_at, d.updated_by, offset)
    if topic == REPAIR_TOPIC:
        r = RepairState.from_bytes(value)
        return RepairApplicationsRow(r.application_id, r.uscc, r.decision_no, r.pledge, r.statement, r.state, r.note,
                                     r.applied_at, r.due_on, r.updated_at, r.updated_by, offset)
    if topic == WHITELIST_TOPIC:
        w = WhitelistChange.from_bytes(value)
        return WhitelistChangesRow(w.change_id, w.uscc, w.enterprise_name, w.whitelisted, w.eval_grade, list(w.failed),
                                   w.at, (1 << 62) - offset, w.eval_model)  # the earliest copy of a change wins
    if topic == REPORT_TOPIC:
        r = IssuedReport.from_bytes(value)
        return CreditReportsRow(r.number, r.uscc, r.requester_kind, r.requester_id, r.issued_at, r.sha256, r.content,
                                offset)
    if topic == API_KEYS_TOPIC:
        event = KeyEvent.from_bytes(value)
        return ApiKeysRow(event.key_id, event.key_hash, event.principal_kind, event.principal_id, event.created_at,
                          event.revoked, offset)
    if topic == CONSENT_STATE_TOPIC:
        c = ConsentState.from_bytes(value)
        return ConsentGrantsRow(c.uscc, c.lender_id, c.event_id, list(c.scopes), c.granted_at, c.expires_at, c.revoked,
                                c.occurred_at, offset)
    raise ValueError(f"the sink does not read {topic}")


FINANCE_SUBJECT = {"LoanProduct": "product_id", "FinancingNeed": "need_id", "LoanApplication": "application_id",
                   "CompensationClaim": "claim_id"}


def finance_rows(record: str, v: dict, offset: int) -> list[NamedTuple]:
    """An accepted change of the loan loop: its history row, and the typed row of what it changed
    (applications and claims as they stand, every loan report)."""
    change = json.dumps(to_json(v), ensure_ascii=False, separators=(",", ":"))
    subject = f"{v['loan_no']}/{v['month']}" if record == "LoanPerformance" else v[FINANCE_SUBJECT[record]]
    owner = v["lender_id"] if record == "LoanProduct" else v["uscc"]
    rows: list[NamedTuple] = [FinanceChangesRow(v["event_id"], record, subject, owner, v["occurred_at"], v["actor"],
                                                change, offset)]
    if record == "LoanApplication":
        rows.append(LoanApplicationsRow(
            v["application_id"], v["uscc"], v["lender_id"], v["product_id"], v["product_kind"], v["state"], v["amount"],
            v["term_months"], v["renews_loan_no"], v["submitted_at"], v["accepted_at"], v["decided_at"],
            v["reject_reason"], v["approved_amount"], v["approved_rate"], v["loan_no"], v["disbursed_amount"],
            v["disbursed_rate"], v["disbursed_on"], v["maturity_on"], v["whitelisted_at_disbursement"], v["first_loan"],
            change, offset))
    elif record == "LoanPerformance":
        rows.append(LoanReportsRow(v["event_id"], v["loan_no"], v["uscc"], v["lender_id"], v["month"], v["status"],
                                   v["outstanding_principal"], v["occurred_at"], change, offset))
    elif record == "CompensationClaim":
        rows.append(CompensationClaimsRow(v["claim_id"], v["loan_no"], v["uscc"], v["lender_id"], v["state"],
                                          v["filed_at"], v["due_on"], v["outstanding_principal"],
                                          v["compensation_amount"], v["decided_at"], change, offset))
    return rows


def named_uscc(letter: DeadLetter) -> str:
    """The normalised USCC a dead-lettered record names, when its bytes still decode ("" if not)."""
    if not letter.value_base64:
        return ""
    try:
        _record, value = _codec().decode(base64.b64decode(letter.value_base64))
        uscc = normalise_uscc(value["uscc"])
    except Exception:  # undecodable is what many dead letters are
        return ""
    return uscc if len(uscc) == 18 else ""


def own_fields(v: dict) -> str:
    """A record's own fields (all but the common ones) as JSON text."""
    own = {name: value for name, value in v.items() if name not in COMMON_FIELDS}
    return json.dumps(to_json(own), ensure_ascii=False, separators=(",", ":"))


def normalized_row(record: str, v: dict, offset: int, timestamp_ms: Optional[int] = None) -> Optional[NamedTuple]:
    """The history row of one valid event (typed values, as decoded from Avro)."""
    if record in _REGISTERS or record in _KEYED_FACTS:
        return RegisterRecordsRow(v["uscc"], record, record_key(record, v), v["occurred_at"], v["event_id"],
                                  v["provider_id"], v["enterprise_name"], own_fields(v), message_time(timestamp_ms))
    if record in STATEMENT_SERIES:
        return StatementRecordsRow(v["uscc"], record, record_key(record, v), v["revision"], v["occurred_at"],
                                   v["event_id"], v["provider_id"], v["enterprise_name"], own_fields(v),
                                   message_time(timestamp_ms), revision_version(v["revision"], offset))
    if record in UTILITY_KINDS:
        return UtilityStatementsRow(
            v["uscc"], UTILITY_KINDS[record], v["account_no"], v["billing_month"], v["revision"], v["account_name"],
            v["usage"], v["amount_due"], v["amount_paid"], v["due_date"], v["paid_date"], v["arrears_amount"],
            v["event_id"], v["provider_id"], v["occurred_at"], revision_version(v["revision"], offset))
    if record == "TaxPayment":
        return TaxPaymentsRow(
            v["uscc"], v["tax_type"], v["period_start"], v["period_end"], v["revision"], v["amount_payable"],
            v["amount_paid"], v["due_date"], v["paid_date"], v["event_id"], v["provider_id"], v["occurred_at"],
            revision_version(v["revision"], offset))
    return None  # consent: from the accepted-consent topic
