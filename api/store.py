"""The API's ClickHouse queries (history and register records; keys, consents and aggregate rows
come from the in-memory view). Every value is a bound parameter; lists read FINAL, so only the
winning version of a row is visible. Called on executor threads, one client each."""
from __future__ import annotations

import json
import time
from typing import Optional

from creditstream.schemas.services import KEYED_FACTS
from creditstream.schemas.topics import STATEMENT_SERIES, TAX_TYPES, UTILITIES, UTILITY_KINDS
from creditstream.sinks.clickhouse import json_value  # the declared seam: the sink's ClickHouse access

EVALUATION = "evaluation"  # the credit evaluation over time: one item per day it was recorded
HISTORY_KINDS = (*UTILITIES, *(t.lower() for t in TAX_TYPES), EVALUATION)  # /history/{kind}


class Store:
    def __init__(self, clients):
        self.clients = clients

    def finance_facts(self, expected_changes: int, wait_seconds: float) -> tuple[list, list, list, bool]:
        """The loan loop's facts for the statistics: applications and claims as they stand, the
        monthly report in force per (loan, month) (latest occurred_at, ties the greater event
        id). Waits up to ``wait_seconds`` for ClickHouse to hold ``expected_changes`` accepted
        changes (what the asking API has folded), so an answer right after a write includes it;
        the last item says whether it did."""
        client = self.clients.get()
        deadline = time.monotonic() + wait_seconds
        while True:
            held = client.query("SELECT uniqExact(event_id) FROM finance_changes").result_rows[0][0]
            if held >= expected_changes or time.monotonic() > deadline:
                break
            time.sleep(0.1)

        def docs(sql: str) -> list[dict]:
            return [json.loads(row[0]) for row in client.query(sql).result_rows]
        applications = docs("SELECT change_json FROM loan_applications FINAL")
        reports = docs("SELECT argMax(change_json, (occurred_at, event_id)) FROM loan_reports FINAL "
                       "GROUP BY uscc, loan_no, month")
        claims = docs("SELECT change_json FROM compensation_claims FINAL")
        return applications, reports, claims, held >= expected_changes

    def history(self, uscc: str, kind: str, first: Optional[str], last: Optional[str]) -> list[dict]:
        client = self.clients.get()
        params = {"uscc": uscc, "kind": kind, "first": first or "0000-01", "last": last or "9999-12"}
        if kind == EVALUATION:
            rows = client.query(
                "SELECT day, at, eval_model, eval_score, eval_grade, whitelisted FROM evaluation_history FINAL "
                "WHERE uscc = {uscc:String} AND formatDateTime(day, '%Y-%m') BETWEEN {first:String} AND {last:String} "
                "ORDER BY day", parameters=params).named_results()
        elif kind in UTILITIES:
            rows = client.query(
                "SELECT account_no, account_name, billing_month, usage, amount_due, amount_paid, due_date, paid_date, "
                "arrears_amount, revision, provider_id, event_id FROM utility_statements FINAL "
                "WHERE uscc = {uscc:String} AND utility = {kind:String} "
                "AND billing_month BETWEEN {first:String} AND {last:String} ORDER BY billing_month, account_no",
                parameters=params).named_results()
        else:
            params["kind"] = kind.upper()
            rows = client.query(
                "SELECT tax_type, period_start, period_end, amount_payable, amount_paid, due_date, paid_date, revision, "
                "provider_id, event_id FROM tax_payments FINAL WHERE uscc = {uscc:String} AND tax_type = {kind:String} "
                "AND formatDateTime(period_end, '%Y-%m') BETWEEN {first:String} AND {last:String} "
                "ORDER BY period_start, period_end",
                parameters=params).named_results()
        return [{k: json_value(v) for k, v in row.items()} for row in rows]

    def records(self, uscc: str, records: tuple[str, ...]) -> list[dict]:
        """The record in force per natural key of these registers (latest occurred_at, ties the
        greater event_id) or v1.2 statements (highest revision), with its source and received
        time. The keyed hash of an identity number is for verification queries, never shown."""
        client = self.clients.get()
        registers = [r for r in records if r not in STATEMENT_SERIES]
        statements = [r for r in records if r in STATEMENT_SERIES]
        rows = []
        if registers:
            rows += client.query(
                "SELECT record, natural_key, occurred_at, event_id, provider_id, fields_json, received_at "
                "FROM register_records FINAL WHERE uscc = {uscc:String} AND record IN {records:Array(String)} "
                "ORDER BY record, natural_key, occurred_at DESC, event_id DESC LIMIT 1 BY record, natural_key",
                parameters={"uscc": uscc, "records": registers}).named_results()
        if statements:
            rows += client.query(
                "SELECT record, natural_key, occurred_at, event_id, provider_id, fields_json, received_at "
                "FROM statement_records FINAL WHERE uscc = {uscc:String} AND record IN {records:Array(String)} "
                "ORDER BY record, natural_key", parameters={"uscc": uscc, "records": statements}).named_results()
        return [shown_record(row) for row in rows]


def shown_record(row: dict) -> dict:
    """A stored record as the API shows it: source columns and its own fields; the keyed hash of
    an identity number (for verification only) left out."""
    fields = json.loads(row.pop("fields_json"))
    fields.pop("legal_rep_id_hmac", None)
    row.pop("natural_key")
    return {**{k: json_value(v) for k, v in row.items()}, **fields}



# the enterprise's own data (self-query), the audit, and the records disputes and repairs name

def statements(store: "Store", uscc: str) -> dict:
    """Every winning utility statement and tax payment of the enterprise, by kind."""
    return {kind: store.history(uscc, kind, None, None) for kind in HISTORY_KINDS}


class RightsStore:
    def __init__(self, clients):
        self.clients = clients

    def _rows(self, sql: str, **parameters) -> list[dict]:
        rows = self.clients.get().query(sql, parameters=parameters).named_results()
        return [{k: json_value(v) for k, v in row.items()} for row in rows]

    def all_records(self, uscc: str) -> list[dict]:
        """Every record in force per natural key, of every register, keyed fact and v1.2 statement."""
        rows = self._rows(
            "SELECT record, natural_key, occurred_at, event_id, provider_id, enterprise_name, fields_json, received_at "
            "FROM register_records FINAL WHERE uscc = {uscc:String} "
            "ORDER BY record, natural_key, occurred_at DESC, event_id DESC LIMIT 1 BY record, natural_key", uscc=uscc)
        rows += self._rows(
            "SELECT record, natural_key, occurred_at, event_id, provider_id, enterprise_name, fields_json, received_at "
            "FROM statement_records FINAL WHERE uscc = {uscc:String} ORDER BY record, natural_key", uscc=uscc)
        return [shown_record(row) for row in rows]


    def dead_letters(self, uscc: str) -> list[dict]:
        return self._rows("SELECT source_topic, source_partition, source_offset, reason, message, received_at "
                          "FROM dead_letters FINAL WHERE uscc = {uscc:String} ORDER BY received_at", uscc=uscc)

    def audit(self, filters: dict, limit: int, offset: int) -> list[dict]:
        """Audit rows, newest first; ``filters``: column → value (uscc, principal_id, route, decision)."""
        where = " AND ".join(f"{name} = {{{name}:String}}" for name in filters) or "1"
        return self._rows(
            "SELECT at, request_id, principal_kind, principal_id, route, uscc, scope, decision, reason, status "
            f"FROM lookup_audit FINAL WHERE {where} ORDER BY at DESC, request_id LIMIT {{limit:UInt32}} "
            "OFFSET {offset:UInt32}", **filters, limit=limit, offset=offset)

    def disputed_record(self, uscc: str, record: str, key: dict) -> Optional[dict]:
        """The winning record a dispute names (its provider and event), or None."""
        if record in UTILITY_KINDS:
            rows = self._rows(
                "SELECT provider_id, event_id FROM utility_statements FINAL WHERE uscc = {uscc:String} AND "
                "utility = {utility:String} AND account_no = {account:String} AND billing_month = {month:String} "
                "ORDER BY version DESC LIMIT 1", uscc=uscc, utility=UTILITY_KINDS[record], account=key["account_no"],
                month=key["billing_month"])
        elif record in STATEMENT_SERIES:
            rows = self._rows(
                "SELECT provider_id, event_id FROM statement_records FINAL WHERE uscc = {uscc:String} AND "
                "record = {record:String} AND natural_key = {key:String} LIMIT 1", uscc=uscc, record=record,
                key="\x1f".join(key.values()))
        elif record == "TaxPayment":
            rows = self._rows(
                "SELECT provider_id, event_id FROM tax_payments FINAL WHERE uscc = {uscc:String} AND "
                "tax_type = {tax:String} AND toString(period_start) = {start:String} AND "
                "toString(period_end) = {end:String} ORDER BY version DESC LIMIT 1", uscc=uscc, tax=key["tax_type"],
                start=key["period_start"], end=key["period_end"])
        else:
            rows = self._rows(
                "SELECT provider_id, event_id FROM register_records FINAL WHERE uscc = {uscc:String} AND "
                "record = {record:String} AND natural_key = {key:String} ORDER BY occurred_at DESC, event_id DESC "
                "LIMIT 1", uscc=uscc, record=record, key="\x1f".join(key.values()))
        return rows[0] if rows else None

    def verification_facts(self, uscc: str, records: tuple[str, ...]) -> tuple[dict[str, list[dict]], bool, frozenset]:
        """(record type → records in force, fields in JSON form plus occurred_at and event_id; whether
        any tax record is held; the v1.2 statement records held). The identity-number hash stays in:
        verification compares it."""
        found: dict[str, list[dict]] = {}
        for row in self._rows(
                "SELECT record, occurred_at, event_id, fields_json FROM register_records FINAL "
                "WHERE uscc = {uscc:String} AND record IN {records:Array(String)} "
                "ORDER BY record, natural_key, occurred_at DESC, event_id DESC LIMIT 1 BY record, natural_key",
                uscc=uscc, records=list(records)):
            found.setdefault(row["record"], []).append(
                {**json.loads(row["fields_json"]), "occurred_at": row["occurred_at"], "event_id": row["event_id"]})
        taxed = self._rows(
            "SELECT (SELECT count() FROM tax_payments WHERE uscc = {uscc:String}) + (SELECT count() FROM "
            "register_records WHERE uscc = {uscc:String} AND record IN {facts:Array(String)}) AS n",
            uscc=uscc, facts=list(KEYED_FACTS))
        held = self._rows("SELECT DISTINCT record FROM statement_records WHERE uscc = {uscc:String}", uscc=uscc)
        return found, bool(taxed and taxed[0]["n"]), frozenset(row["record"] for row in held)

    def penalty(self, uscc: str, decision_no: str) -> tuple[Optional[dict], Optional[dict]]:
        """(the AdminPenalty in force with this decision number, the CreditRepair in force for it)."""
        found = {}
        for record in ("AdminPenalty", "CreditRepair"):
            rows = self._rows(
                "SELECT fields_json FROM register_records FINAL WHERE uscc = {uscc:String} AND record = {record:String} "
                "AND natural_key = {key:String} ORDER BY occurred_at DESC, event_id DESC LIMIT 1",
                uscc=uscc, record=record, key=decision_no)
            found[record] = json.loads(rows[0]["fields_json"]) if rows else None
        return found["AdminPenalty"], found["CreditRepair"]
