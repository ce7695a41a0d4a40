"""Every route of the API and of the provider gateway, declared once: path, handler, who may call
it, and what its OpenAPI operation says. The app registers exactly these (api.app), the pipeline
enforces their kinds (api.http.pipeline), and /openapi.json is built from them (api.openapi): a
route cannot exist without its document, and a fast test checks all three agree.

Adding a route: its handler in its room (a plain ``async def (principal, request, audit)``), and
one ``Route`` line here."""
from __future__ import annotations

from typing import NamedTuple

from creditstream.api.http.pipeline import Route
from creditstream.api.openapi import (
    AGGREGATES_ANSWER,
    CURSOR,
    FILE_ANSWER,
    FILES_DOC,
    HEALTH_DOC,
    HISTORY_ANSWER,
    IDEMPOTENCY,
    MONTH,
    PAGE,
    PDF,
    PROVIDER_EVENTS_DOC,
    RECORDS_ANSWER,
    REPORT_VERIFY_DOC,
    TEXT,
    USCC_PARAM,
    VERIFY_BODY,
    path_param,
    query,
)
from creditstream.api.store import HISTORY_KINDS
from creditstream.schemas.models import SCOPES
from creditstream.schemas.topics import REGISTER_CATEGORIES

LENDERS, ENTERPRISES, OPERATORS, PROVIDERS = ("lender",), ("enterprise",), ("operator",), ("provider",)
ANY = ("lender", "enterprise", "operator", "provider")


class Rooms(NamedTuple):
    """The objects whose methods answer the routes (api.app builds them)."""
    lookups: object  # api.lookups.Lookups
    rights: object  # api.rights.Rights
    whitelist: object  # api.whitelist.Whitelist
    reports: object  # api.reports.Reports
    operator_sql: object  # api.operator.OperatorSql
    gateway: object  # api.gateway.Gateway
    health: object  # async (request) -> the health answer
    openapi: object  # async (request) -> the document
    whoami: object  # async (principal, request, audit) -> who the key is


def service_routes(r: Rooms) -> list[Route]:
    """The routes every process serving the API has: health and the document."""
    return [
        Route("GET", "/healthz", "healthz", r.health, keyed=False, doc=HEALTH_DOC,
              summary="Liveness and readiness: 200 once keys, consents and rows are loaded from Kafka"),
        Route("GET", "/openapi.json", "openapi", r.openapi, keyed=False, summary="This document",
              doc={"security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}),
    ]


def gateway_routes(r: Rooms) -> list[Route]:
    """The push gateway for providers that do not speak Kafka (api.gateway)."""
    return [
        Route("POST", "/v1/providers/events", "gateway", r.gateway.events, PROVIDERS, ok="202",
              summary="Push a batch of records (the HTTP gateway for providers)", doc=PROVIDER_EVENTS_DOC,
              body={"type": "object", "required": ["records"], "properties": {"records": {
                  "type": "array", "minItems": 1, "maxItems": 1000, "items": {
                      "type": "object", "required": ["topic", "value"], "properties": {
                          "topic": {"type": "string"}, "value": {"type": "object"}}}}}}),
        Route("POST", "/v1/providers/files", "gateway.files", r.gateway.files, PROVIDERS, ok="202",
              summary="Upload a provider export: CSV or JSON Lines (the HTTP gateway for providers)", doc=FILES_DOC,
              params=(query("topic", {"type": "string"}, "the topic of every record: required for CSV; for JSON "
                                                         "Lines, checked against each line's"),
                      query("format", {"type": "string", "enum": ["csv", "jsonl"]}, "default: from the Content-Type"))),
    ]


def lookup_routes(r: Rooms) -> list[Route]:
    """An enterprise's data, for lenders under consent and for the enterprise itself (api.lookups)."""
    who = ("lender", "enterprise")
    return [
        Route("GET", "/v1/enterprises/{uscc}/aggregates", "aggregates", r.lookups.aggregates, who,
              summary="Rolling 3/6/12-month aggregates of one enterprise", params=(USCC_PARAM,),
              answer=AGGREGATES_ANSWER,
              description="Public credit information (environmental rating, licences, penalties, enforcement, the "
                          "evaluation's grade, the whitelist flag) for every lender; the fields of a consent scope "
                          "(UTILITY: water_/electricity_/gas_; TAX: tax; REAL_ESTATE; RD; AGRI) only when the caller's "
                          "consent covers it; eval_score and eval_points only under UTILITY and TAX. `withheld` says, "
                          "per scope not shown, why. An enterprise key sees all of its own row."),
        Route("GET", "/v1/enterprises/{uscc}/records/{category}", "records", r.lookups.records, who,
              summary="The records in force of one register category (v1.1), with source and received time",
              params=(USCC_PARAM, path_param("category", {"enum": list(REGISTER_CATEGORIES)})),
              answer=RECORDS_ANSWER,
              description="environment, licences, penalties (with repair decisions) and enforcement are public credit "
                          "information for every lender; real_estate, rd and agri need the matching consent scope. Per "
                          "natural key the record in force is the latest by occurred_at (ties: the greater event_id). "
                          "Identity numbers are masked."),
        Route("GET", "/v1/enterprises/{uscc}/history/{kind}", "history", r.lookups.history, who,
              summary="Payment history for one utility or tax type", answer=HISTORY_ANSWER,
              params=(USCC_PARAM, path_param("kind", {"enum": list(HISTORY_KINDS)}), query("from", MONTH),
                      query("to", MONTH))),
        Route("POST", "/v1/enterprises/{uscc}/verify", "verify", r.lookups.verify, who, params=(USCC_PARAM,),
              summary="Verify claims without disclosure: MATCH, NO_MATCH or NO_DATA per claim, never the values",
              body=VERIFY_BODY,
              description="Claims (scope): real_estate_right {certificate_no} (REAL_ESTATE), unit_unencumbered "
                          "{unit_no} (REAL_ESTATE), vat_paid_12m_at_least {amount} (TAX), tax_grade_in {grades} (TAX), "
                          "no_tax_arrears {} (TAX), legal_representative_id {id_no} (any scope in force; 5 per "
                          "enterprise a day). A claim whose scope the lender's consent lacks is REFUSED without being "
                          "judged. Audited with the claims' types, not their values."),
        Route("POST", "/v1/enterprises/{uscc}/reports", "report.issue", r.reports.issue, who, ok="201",
              params=(USCC_PARAM, IDEMPOTENCY),
              summary="Issue a standardised credit report (public sections; the others under the matching consent; "
                      "everything for the enterprise itself)",
              description="The answer carries the report's number, the SHA-256 of its JSON content, its verification "
                          "code and links to its JSON, HTML and PDF forms. Idempotency-Key makes a retry return the "
                          "same report."),
    ]


def rights_routes(r: Rooms) -> list[Route]:
    """The enterprise's rights (/v1/me…), the providers' and operators' side, and the audit (api.rights)."""
    rights = r.rights
    return [
        Route("GET", "/v1/whoami", "whoami", r.whoami, ANY, summary="Who this key belongs to"),
        Route("GET", "/v1/lenders", "lenders", rights.lenders, ANY,
              summary="The connected institutions (to grant consent to)"),
        Route("GET", "/v1/me", "me", rights.me, ENTERPRISES,
              summary="Everything the platform holds about my enterprise, free"),
        Route("GET", "/v1/me/lookups", "me.lookups", rights.my_lookups, ENTERPRISES, params=PAGE,
              summary="Who looked my enterprise up (newest first)"),
        Route("GET", "/v1/me/consents", "me.consents", rights.my_consents, ENTERPRISES,
              summary="My consents in force, per lender"),
        Route("POST", "/v1/me/consents", "me.consent.grant", rights.grant, ENTERPRISES, ok="202",
              summary="Grant a lender consent (the platform publishes the ConsentGrant)",
              body={"type": "object", "required": ["lender_id", "scopes", "expires_at"], "properties": {
                  "lender_id": {"type": "string"}, "scopes": {"type": "array", "minItems": 1, "uniqueItems": True,
                                                              "items": {"enum": list(SCOPES)}},
                  "expires_at": {"type": "string", "format": "date-time"}}}),
        Route("DELETE", "/v1/me/consents/{lender_id}", "me.consent.revoke", rights.revoke, ENTERPRISES, ok="202",
              summary="Revoke a lender's consent", params=(path_param("lender_id"),)),
        Route("GET", "/v1/me/disputes", "me.disputes", rights.my_disputes, ENTERPRISES, summary="My disputes"),
        Route("POST", "/v1/me/disputes", "me.dispute.file", rights.file_dispute, ENTERPRISES, ok="201",
              summary="Object to one record (异议); answer due in 20 days",
              body={"type": "object", "required": ["topic", "key", "statement"], "properties": {
                  "topic": {"type": "string"}, "key": {"type": "object", "additionalProperties": {"type": "string"}},
                  "statement": TEXT}}),
        Route("POST", "/v1/me/disputes/{dispute_id}/withdraw", "me.dispute.withdraw", rights.withdraw, ENTERPRISES,
              summary="Withdraw my open dispute", params=(path_param("dispute_id"),)),
        Route("GET", "/v1/me/repairs", "me.repairs", rights.my_repairs, ENTERPRISES,
              summary="My credit repair applications"),
        Route("POST", "/v1/me/repairs", "me.repair.apply", rights.apply_repair, ENTERPRISES, ok="201",
              summary="Apply for credit repair (信用修复) of a penalty in publicity",
              body={"type": "object", "required": ["decision_no", "pledge", "statement"], "properties": {
                  "decision_no": {"type": "string", "minLength": 1}, "pledge": TEXT, "statement": TEXT}}),
        Route("GET", "/v1/me/reports", "me.reports", r.reports.mine, ENTERPRISES,
              summary="Every report issued about my enterprise, and who asked"),
        Route("GET", "/v1/disputes", "disputes", rights.disputes, ("provider", "operator"),
              summary="Disputes on my records (provider) or all (operator), by due time",
              params=(query("state", {"enum": ["OPEN", "CORRECTED", "UPHELD", "WITHDRAWN"]}),)),
        Route("POST", "/v1/disputes/{dispute_id}/answer", "dispute.answer", rights.answer, ("provider", "operator"),
              summary="Answer a dispute: CORRECTED (after sending the correction through the record's topic) or UPHELD",
              description="The provider of the disputed record, or an operator.", params=(path_param("dispute_id"),),
              body={"type": "object", "required": ["outcome", "note"], "properties": {
                  "outcome": {"enum": ["CORRECTED", "UPHELD"]}, "note": TEXT}}),
        Route("GET", "/v1/repairs", "repairs", rights.repairs, OPERATORS, summary="Repair applications, by due day",
              params=(query("state", {"enum": ["APPLIED", "APPROVED", "REJECTED"]}),)),
        Route("POST", "/v1/repairs/{application_id}/decide", "repair.decide", rights.decide, OPERATORS,
              summary="Decide a repair application; the decision is a CreditRepair record on credit.admin.repair.v1",
              params=(path_param("application_id"),),
              body={"type": "object", "required": ["outcome", "note"], "properties": {
                  "outcome": {"enum": ["APPROVED", "REJECTED"]}, "note": TEXT}}),
        Route("GET", "/v1/audit", "audit", rights.audit_search, OPERATORS, summary="The audit, filtered, newest first",
              params=(*(query(name, {"type": "string"}) for name in ("uscc", "principal_id", "route", "decision")),
                      *PAGE)),
        Route("POST", "/v1/sql", "sql", r.operator_sql.query, OPERATORS,
              summary="One read-only SELECT over the platform's tables (docs/operator-sql.md)",
              body={"type": "object", "required": ["query"], "properties": {"query": {"type": "string",
                                                                                      "minLength": 1}}}),
    ]


def whitelist_routes(r: Rooms) -> list[Route]:
    """The whitelist, its change feed and the lenders' webhooks (api.whitelist)."""
    w, limit = r.whitelist, query("limit", {"type": "integer", "minimum": 1, "maximum": 500})
    return [
        Route("GET", "/v1/whitelist", "whitelist", w.current, ("lender", "operator"),
              summary="The whitelist now (白名单): members by USCC with their current grade",
              params=(query("grade", {"enum": ["AAA", "AA", "A", "B", "C"]}),
                      query("after", {"type": "string"}, "next_after of the previous page"), limit)),
        Route("GET", "/v1/whitelist/changes", "whitelist.changes", w.changes, ("lender", "operator"),
              summary="Whitelist joins and leaves in order after a cursor",
              params=(CURSOR, limit, query("recent", {"type": "integer", "minimum": 1, "maximum": 500},
                                           "instead of a page after a cursor: the newest N changes, newest first")),
              description="Each change: change_id (stable: drop repeats by it), uscc, enterprise_name, whitelisted, "
                          "eval_grade, failed (condition ids W1-W8, on leaving), at, cursor. Reconnect with "
                          "next_cursor: no change is missed or repeated."),
        Route("GET", "/v1/webhooks", "webhooks", w.list_webhooks, LENDERS,
              summary="My webhooks, with their state, delivered cursor and backlog"),
        Route("POST", "/v1/webhooks", "webhook.register", w.register, LENDERS, ok="201",
              summary="Register a webhook for whitelist changes; the answer carries its secret, once",
              body={"type": "object", "required": ["url"], "properties": {
                  "url": {"type": "string", "minLength": 1, "maxLength": 2000},
                  "after": {"type": "string", "maxLength": 40}}},
              description="An https URL whose host resolves to public addresses only (checked at registration and "
                          "every delivery); at most 5 a lender. Each change is POSTed as JSON with "
                          "X-Creditstream-Timestamp (Unix seconds), X-Creditstream-Signature: "
                          "v1=hex(HMAC-SHA256(secret, timestamp + '.' + body)) and X-Creditstream-Change-Id; retried "
                          "with exponential back-off until a 2xx; paused after repeated failure (resume it)."),
        Route("POST", "/v1/webhooks/{webhook_id}/resume", "webhook.resume", w.resume, LENDERS,
              summary="Resume a paused webhook", params=(path_param("webhook_id"),)),
        Route("DELETE", "/v1/webhooks/{webhook_id}", "webhook.delete", w.delete, LENDERS, summary="Delete a webhook",
              params=(path_param("webhook_id"),)),
    ]


def report_routes(r: Rooms) -> list[Route]:
    """Standardised credit reports (api.reports); their verification needs no key."""
    reports, number = r.reports, path_param("number")
    readers = ("lender", "enterprise", "operator")
    who = "The requester, the enterprise it is about, or an operator."
    return [
        Route("GET", "/v1/reports", "reports", reports.issued_by_me, ("lender", "enterprise"),
              summary="The reports I asked for, newest first"),
        Route("GET", "/v1/reports/{number}", "report", reports.json, readers, params=(number,), description=who,
              summary="A report's JSON content (its SHA-256 in X-Content-SHA256)"),
        Route("GET", "/v1/reports/{number}/html", "report.html", reports.html, readers, params=(number,),
              description=who, summary="The report as a printable page (A4)", doc=FILE_ANSWER),
        Route("GET", "/v1/reports/{number}/pdf", "report.pdf", reports.pdf, readers, params=(number,), description=who,
              summary="The report as PDF, printed from the page by headless Chromium", doc=PDF),
        Route("GET", "/v1/reports/{number}/verify", "report.verify", reports.verify, keyed=False, doc=REPORT_VERIFY_DOC,
              summary="Is this report genuine? No key needed: the number and the verification code printed on it",
              params=(number, query("code", {"type": "string", "maxLength": 64}))),
    ]


def api_routes(rooms: Rooms) -> list[Route]:
    """The lender API's routes (``creditstream api``; the gateway's included)."""
    return [*service_routes(rooms), *lookup_routes(rooms), *rights_routes(rooms), *whitelist_routes(rooms),
            *report_routes(rooms), *gateway_routes(rooms)]


def gateway_only_routes(rooms: Rooms) -> list[Route]:
    """``creditstream gateway``: the provider gateway alone."""
    return [*service_routes(rooms), *gateway_routes(rooms)]
