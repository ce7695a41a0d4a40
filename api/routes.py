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
from creditstream.schemas.finance import (
    APPLICATION_STATES,
    COLLATERALS,
    LOAN_STATUSES,
    PRODUCT_KINDS,
    REJECT_REASONS,
    REPAYMENTS,
)
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
    finance: object = None  # api.finance.Finance


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
              summary="Payment history for one utility or tax type, or the credit evaluation over time",
              answer=HISTORY_ANSWER,
              description="evaluation: one item per day the worker recorded the evaluation (the last that day, "
                          "Asia/Shanghai): day, at, eval_model, eval_grade and whitelisted for every lender (public), "
                          "eval_score only under both UTILITY and TAX (else `withheld` says why).",
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
              body={"type": "object", "required": ["outcome"], "properties": {
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
        Route("GET", "/v1/whitelist/summary", "whitelist.summary", w.figures, ("lender", "operator"),
              summary="The whitelist in figures: members per current grade; joins, leaves and members at each of "
                      "the last 12 months' end (Asia/Shanghai)"),
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


MONEY = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$", "description": "CNY, a decimal string (numbers "
                                                                            "are read too)"}
RATE = {"type": "string", "pattern": "^[0-9]{1,2}(\\.[0-9]{1,2})?$", "description": "annual rate, percent"}
MONTHS = {"type": "integer", "minimum": 1, "maximum": 600}
PRODUCT_BODY = {"type": "object", "required": ["name", "kind", "amount_min", "amount_max", "term_min_months",
                                               "term_max_months", "rate_min", "rate_max", "repayment", "scopes",
                                               "collateral"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200}, "kind": {"enum": list(PRODUCT_KINDS)},
    "amount_min": MONEY, "amount_max": MONEY, "term_min_months": MONTHS, "term_max_months": MONTHS,
    "rate_min": RATE, "rate_max": RATE, "repayment": {"enum": list(REPAYMENTS)},
    "scopes": {"type": "array", "uniqueItems": True, "items": {"enum": list(SCOPES)}},
    "min_grade": {"enum": ["AAA", "AA", "A", "B", "C", None]}, "whitelist_only": {"type": "boolean"},
    "collateral": {"enum": list(COLLATERALS)}, "description": {"type": "string", "maxLength": 2000}}}
PURPOSE = {"type": "string", "minLength": 1, "maxLength": 500}


def finance_routes(r: Rooms) -> list[Route]:
    """The loan loop (api.finance; docs/financing.md)."""
    f, product, application = r.finance, path_param("product_id"), path_param("application_id")
    need, loan, claim = path_param("need_id"), path_param("loan_no"), path_param("claim_id")
    parties = ("lender", "enterprise", "operator")
    return [
        Route("GET", "/v1/products", "products", f.products, ANY, summary="Every loan product (public)",
              params=(query("status", {"enum": ["ACTIVE", "SUSPENDED", "WITHDRAWN"]}), query("lender_id", {"type": "string"}),
                      query("kind", {"enum": list(PRODUCT_KINDS)}))),
        Route("POST", "/v1/products", "product.publish", f.publish_product, LENDERS, ok="201", params=(IDEMPOTENCY,),
              summary="Publish a loan product (金融产品)", body=PRODUCT_BODY),
        Route("GET", "/v1/products/{product_id}", "product", f.get_product, ANY, params=(product,),
              summary="One product"),
        Route("PUT", "/v1/products/{product_id}", "product.revise", f.revise_product, LENDERS, params=(product,),
              summary="Revise my product (every term again)", body=PRODUCT_BODY),
        Route("POST", "/v1/products/{product_id}/withdraw", "product.withdraw", f.withdraw_product, LENDERS,
              params=(product,), summary="Withdraw my product"),
        Route("POST", "/v1/products/{product_id}/suspend", "product.suspend", f.suspend_product, OPERATORS,
              params=(product,), summary="Suspend a product, with the reason shown to everyone",
              body={"type": "object", "required": ["reason"], "properties": {"reason": TEXT}}),
        Route("POST", "/v1/products/{product_id}/reinstate", "product.reinstate", f.reinstate_product, OPERATORS,
              params=(product,), summary="Lift a suspension"),
        Route("GET", "/v1/me/products", "me.products", f.my_products, ENTERPRISES,
              summary="Active products: those my current row matches, and the others with the conditions I fail"),
        Route("POST", "/v1/me/applications", "me.application.apply", f.apply, ENTERPRISES, ok="201",
              params=(IDEMPOTENCY,), summary="Apply for a product; grants its lender the product's scopes",
              description="Applying publishes a ConsentGrant to the product's lender for the product's scopes "
                          "(merged with a consent in force), which ends 30 days after the application's final state. "
                          "renews_loan_no names a loan of mine this application renews (续贷).",
              body={"type": "object", "required": ["product_id", "amount", "term_months", "purpose"], "properties": {
                  "product_id": {"type": "string"}, "amount": MONEY, "term_months": MONTHS, "purpose": PURPOSE,
                  "renews_loan_no": {"type": "string"}}}),
        Route("GET", "/v1/me/applications", "me.applications", f.my_applications, ENTERPRISES,
              summary="My applications, with their deadlines"),
        Route("POST", "/v1/me/applications/{application_id}/withdraw", "me.application.withdraw",
              f.withdraw_application, ENTERPRISES, params=(application,),
              summary="Withdraw my application (before it is APPROVED)",
              body={"type": "object", "properties": {"note": TEXT}}),
        Route("GET", "/v1/applications", "applications", f.applications, ("lender", "operator"),
              summary="Applications to me (lender) or all (operator), oldest first, with due days",
              params=(query("state", {"enum": list(APPLICATION_STATES)}), query("overdue", {"enum": ["true"]}))),
        Route("GET", "/v1/applications/{application_id}", "application", f.get_application, parties,
              params=(application,), summary="One application (its enterprise, its lender, operators)"),
        Route("POST", "/v1/applications/{application_id}/{action}", "application.decide", f.transition, LENDERS,
              params=(application, path_param("action", {"enum": ["accept", "approve", "reject", "disburse", "accepted",
                                                                    "approved", "rejected", "disbursed"]})),
              summary="The lender's step: accept (受理), approve (授信), reject, disburse (放款)",
              description="approve: {annual_rate, amount?, term_months?} (default: as applied for); reject: {reason, "
                          "note?}; disburse: {loan_no?, amount?, annual_rate?, disbursed_on?, maturity_on?} (default: "
                          "the application id, the approval's amount and rate, today, today + the approved term). "
                          "Any other transition than the contract's "
                          "is 409 naming the current state; repeating a step answers the state reached. The state's "
                          "name works as its step (/accepted …); term, rate, loan_number, disbursed_date and "
                          "maturity_date are read as term_months, annual_rate, loan_no, disbursed_on, maturity_on.",
              body={"type": "object", "properties": {
                  "amount": MONEY, "term_months": MONTHS, "annual_rate": RATE, "reason": {"enum": list(REJECT_REASONS)},
                  "note": TEXT, "loan_no": {"type": "string", "minLength": 1, "maxLength": 64},
                  "disbursed_on": {"type": "string", "format": "date"},
                  "maturity_on": {"type": "string", "format": "date"}}}),
        Route("POST", "/v1/me/needs", "me.need.publish", f.publish_need, ENTERPRISES, ok="201", params=(IDEMPOTENCY,),
              summary="Publish a financing need (融资需求) that matching lenders see",
              body={"type": "object", "required": ["amount", "term_months", "purpose", "kinds"], "properties": {
                  "amount": MONEY, "term_months": MONTHS, "purpose": PURPOSE, "enterprise_name": {"type": "string"},
                  "kinds": {"type": "array", "minItems": 1, "items": {"enum": list(PRODUCT_KINDS)}}}}),
        Route("GET", "/v1/me/needs", "me.needs", f.my_needs, ENTERPRISES, summary="My financing needs and their offers"),
        Route("POST", "/v1/me/needs/{need_id}/accept", "me.need.accept", f.accept_offer, ENTERPRISES, ok="201",
              params=(need, IDEMPOTENCY), summary="Accept a lender's take-up: an application to its chosen product",
              body={"type": "object", "required": ["lender_id"], "properties": {"lender_id": {"type": "string"}}}),
        Route("POST", "/v1/me/needs/{need_id}/withdraw", "me.need.withdraw", f.withdraw_need, ENTERPRISES,
              params=(need,), summary="Withdraw my open need"),
        Route("GET", "/v1/needs", "needs", f.needs, LENDERS,
              summary="Open needs my active products match (no consented data)"),
        Route("POST", "/v1/needs/{need_id}/take-up", "need.take_up", f.take_up, LENDERS, params=(need,),
              summary="Take a need up (对接) with one of my matching products",
              body={"type": "object", "required": ["product_id"], "properties": {"product_id": {"type": "string"}}}),
        Route("GET", "/v1/me/loans", "me.loans", f.my_loans, ENTERPRISES, summary="My loans and their monthly status"),
        Route("GET", "/v1/loans", "loans", f.loans, ("lender", "operator"),
              summary="My loans (lender; never another lender's) or all (operator)"),
        Route("POST", "/v1/loans/{loan_no}/performance", "loan.report", f.report, LENDERS, ok="201", params=(loan,),
              summary="Report a loan's status for a month (贷后); the latest report per month wins",
              description="month defaults to the current one (Asia/Shanghai); outstanding_principal to 0.00 when "
                          "REPAID, else the loan's last reported one, else the amount disbursed.",
              body={"type": "object", "required": ["status"], "properties": {
                  "month": MONTH, "status": {"enum": list(LOAN_STATUSES)}, "outstanding_principal": MONEY}}),
        Route("POST", "/v1/loans/{loan_no}/claims", "claim.file", f.file_claim, LENDERS, ok="201",
              params=(loan, IDEMPOTENCY), summary="File a risk-compensation claim (风险分担补偿) for a loan of mine",
              body={"type": "object", "properties": {"note": TEXT}}),
        Route("GET", "/v1/claims", "claims", f.claims, ("lender", "operator"),
              summary="My claims (lender) or all (operator), with due days",
              params=(query("state", {"enum": ["FILED", "APPROVED", "REJECTED"]}),)),
        Route("POST", "/v1/claims/{claim_id}/decide", "claim.decide", f.decide_claim, OPERATORS, params=(claim,),
              summary="Approve or reject a claim (due within 10 working days)",
              body={"type": "object", "required": ["outcome"], "properties": {
                  "outcome": {"enum": ["APPROVED", "REJECTED"]}, "note": TEXT}}),
        Route("GET", "/v1/finance/overdue", "finance.overdue", f.overdue_queue, OPERATORS,
              summary="The centre's queue: applications and claims past their deadline"),
        Route("GET", "/v1/finance/maturing", "finance.maturing", f.maturing, OPERATORS,
              summary="Loans maturing in the next 60 days with no renewal application"),
        Route("GET", "/v1/finance/subsidies", "finance.subsidies", f.subsidies, OPERATORS,
              summary="The month's loans eligible for an interest subsidy (贷款贴息); format=csv for the file",
              params=(query("month", MONTH), query("format", {"enum": ["json", "csv"]}))),
        Route("GET", "/v1/finance/statistics", "finance.statistics", f.statistics, ANY,
              summary="The platform's figures per month and lender: operators in full, everyone else public (<3)",
              params=(query("from", MONTH), query("to", MONTH), query("lender_id", {"type": "string"},
                                                                     "a lender's rows; empty: the all-lender rows"))),
    ]


def api_routes(rooms: Rooms) -> list[Route]:
    """The lender API's routes (``creditstream api``; the gateway's included)."""
    return [*service_routes(rooms), *lookup_routes(rooms), *rights_routes(rooms), *whitelist_routes(rooms),
            *report_routes(rooms), *finance_routes(rooms), *gateway_routes(rooms)]


def gateway_only_routes(rooms: Rooms) -> list[Route]:
    """``creditstream gateway``: the provider gateway alone."""
    return [*service_routes(rooms), *gateway_routes(rooms)]
