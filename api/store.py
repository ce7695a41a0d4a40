"""The API's ClickHouse queries (history and register records; keys, consents and aggregate rows
come from the in-memory view). Every value is a bound parameter; lists read FINAL, so only the
winning version of a row is visible. Called on executor threads, one client each."""
from __future__ import annotations

import datetime as dt
import json
from typing import Optional

from creditstream.schemas.topics import TAX_TYPES, UTILITIES

UTC = dt.timezone.utc
HISTORY_KINDS = (*UTILITIES, *(t.lower() for t in TAX_TYPES))  # /history/{kind}


def _utc(stamp: dt.datetime) -> dt.datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class Store:
    def __init__(self, clients):
        self.clients = clients

    def history(self, uscc: str, kind: str, first: Optional[str], last: Optional[str]) -> list[dict]:
        client = self.clients.get()
        params = {"uscc": uscc, "kind": kind, "first": first or "0000-01", "last": last or "9999-12"}
        if kind in UTILITIES:
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
        return [{k: _plain(v) for k, v in row.items()} for row in rows]

    def read_only(self, query: str, limit: int = 10_000) -> tuple[list[str], list[list]]:
        """An operator's query, read-only, at most ``limit`` rows and 30 s."""
        result = self.clients.get().query(query, settings={
            "readonly": 1, "max_result_rows": limit, "result_overflow_mode": "break", "max_execution_time": 30})
        return list(result.column_names), [[_plain(v) for v in row] for row in result.result_rows]

    def records(self, uscc: str, records: tuple[str, ...]) -> list[dict]:
        """The record in force per natural key of these registers (latest occurred_at, ties the
        greater event_id), with its source and received time. The keyed hash of an identity number
        is for verification queries, never shown."""
        rows = self.clients.get().query(
            "SELECT record, natural_key, occurred_at, event_id, provider_id, enterprise_name, fields_json, received_at "
            "FROM register_records FINAL WHERE uscc = {uscc:String} AND record IN {records:Array(String)} "
            "ORDER BY record, natural_key, occurred_at DESC, event_id DESC LIMIT 1 BY record, natural_key",
            parameters={"uscc": uscc, "records": list(records)}).named_results()
        items = []
        for row in rows:
            fields = json.loads(row.pop("fields_json"))
            fields.pop("legal_rep_id_hmac", None)
            row.pop("natural_key")
            items.append({**{k: _plain(v) for k, v in row.items()}, **fields})
        return items



def _plain(value):
    if isinstance(value, dt.datetime):  # ClickHouse gives UTC instants without a zone: say so
        return _utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value.__class__.__name__ == "Decimal":
        return str(value)
    return value
