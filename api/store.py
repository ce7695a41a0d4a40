"""The API's ClickHouse queries. Every value is a bound parameter. Only the winning version of a
row is visible: point look-ups take the highest version (ORDER BY version DESC LIMIT 1, measured
fastest, docs/sink-design.md), lists read FINAL. Called on executor threads, one client each."""
from __future__ import annotations

import datetime as dt
import json
from typing import Optional

from creditstream.schemas.models import AggregateRow
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import TAX_TYPES, UTILITIES

UTC = dt.timezone.utc
HISTORY_KINDS = (*UTILITIES, *(t.lower() for t in TAX_TYPES))  # /history/{kind}


def _utc(stamp: dt.datetime) -> dt.datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class Store:
    def __init__(self, clients):
        self.clients = clients

    def key(self, key_id: str) -> Optional[dict]:
        rows = self.clients.get().query(
            "SELECT key_hash, principal_kind, principal_id, revoked FROM api_keys WHERE key_id = {id:String} "
            "ORDER BY version DESC LIMIT 1",
            parameters={"id": key_id}).named_results()
        return next(iter(rows), None)

    def consent(self, uscc: str, lender_id: str) -> Optional[dict]:
        rows = list(self.clients.get().query(
            "SELECT event_id, scopes, granted_at, expires_at, revoked FROM consent_grants "
            "WHERE uscc = {uscc:String} AND lender_id = {lender:String} ORDER BY version DESC LIMIT 1",
            parameters={"uscc": uscc, "lender": lender_id}).named_results())
        if not rows:
            return None
        row = rows[0]
        return {**row, "granted_at": _utc(row["granted_at"]), "expires_at": _utc(row["expires_at"]),
                "scopes": list(row["scopes"])}

    def aggregates(self, uscc: str) -> Optional[tuple[AggregateRow, dt.datetime]]:
        rows = self.clients.get().query(
            "SELECT row_json, updated_at FROM enterprise_aggregates WHERE uscc = {uscc:String} "
            "ORDER BY version DESC LIMIT 1",
            parameters={"uscc": uscc}).result_rows
        if not rows:
            return None
        return AggregateRow.decode(rows[0][0]), _utc(rows[0][1])

    def known(self, uscc: str) -> bool:
        """The platform holds a row of this enterprise (without reading or decoding it)."""
        return bool(self.clients.get().query(
            "SELECT 1 FROM enterprise_aggregates WHERE uscc = {uscc:String} LIMIT 1",
            parameters={"uscc": uscc}).result_rows)

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

    def audit(self, row: LookupAuditRow) -> None:
        self.clients.get().insert(row.TABLE, [row], column_names=row._fields)


def _plain(value):
    if isinstance(value, dt.datetime):  # ClickHouse gives UTC instants without a zone: say so
        return _utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value.__class__.__name__ == "Decimal":
        return str(value)
    return value
