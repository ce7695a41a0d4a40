"""OpenAPI 3.1 description of the lender API, served at /openapi.json."""
from creditstream.api.store import HISTORY_KINDS
from creditstream.schemas.models import AGGREGATE_FIELDS, SCOPES
from creditstream.schemas.topics import REGISTER_CATEGORIES
from creditstream.schemas.verification import CLAIMS

_ERROR = {"type": "object", "required": ["error", "reason"],
          "properties": {"error": {"type": "string"}, "reason": {"type": "string"}}}


INTEGER, BOOLEAN = {"type": "integer"}, {"type": "boolean"}
DECIMAL = {"type": "string", "description": "decimal string, 2 places"}
V1_1_FIELDS = {
    "env_grade": {"type": ["string", "null"], "enum": ["GREEN", "BLUE", "YELLOW", "RED", "BLACK", None]},
    "env_score": {"type": ["string", "null"], "description": "decimal string, 1 place"},
    "env_rated_on": {"type": ["string", "null"], "format": "date"},
    "licences_valid": INTEGER, "penalties_in_publicity": INTEGER, "serious_penalty_in_publicity": BOOLEAN,
    "penalty_fines_12m": DECIMAL, "enforcements_12m": INTEGER, "real_estate_rights_active": INTEGER,
    "real_estate_area_m2": DECIMAL, "mortgages_active": INTEGER, "high_tech_enterprise": BOOLEAN,
    "science_projects_3y": INTEGER, "key_lab": BOOLEAN,
    "agri_operator_category": {"type": ["string", "null"]}, "rural_land_rights_active": INTEGER,
    "rural_land_area_mu": DECIMAL, "housing_rights_active": INTEGER,
    "eval_model": {"type": "string", "const": "cs-eval-1"},
    "eval_score": {"type": "integer", "minimum": 0, "maximum": 100, "description": "only under UTILITY and TAX consent"},
    "eval_grade": {"enum": ["AAA", "AA", "A", "B", "C"]},
    "eval_points": {"type": "object", "additionalProperties": {"type": "integer"},
                    "description": "points per indicator; only under UTILITY and TAX consent"},
    "whitelisted": BOOLEAN,
}


def _field_schema(name: str) -> dict:
    if name in V1_1_FIELDS:
        return V1_1_FIELDS[name]
    if "_months_" in name or name == "tax_normal_streak_months":
        return {"type": "integer"}
    if name.endswith(("_in_arrears", "taxpayer_abnormal")):
        return {"type": "boolean"}
    if name == "tax_rating_year":
        return {"type": ["integer", "null"]}
    if name == "tax_rating_grade":
        return {"type": ["string", "null"], "enum": ["A", "B", "M", "C", "D", None]}
    if name == "tax_last_normal_payment_date":
        return {"type": ["string", "null"], "format": "date"}
    if "_avg_" in name:
        return {"type": ["string", "null"], "description": "decimal string, half-up rounded"}
    return {"type": "string", "description": "decimal string, yuan"}


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
REQUEST_ID = {"X-Request-Id": {"description": "the id of the look-up's audit record", "schema": {"type": "string"}}}


def _responses(ok: dict) -> dict:
    errors = (("400", "invalid USCC (length, characters, check character) or parameter"),
              ("401", "missing, malformed, unknown or revoked API key"),
              ("403", "no consent covering this lender, scope and time"), ("404", "no data for this enterprise"),
              ("414", "request target longer than 2,048 bytes"), ("429", "the key's request rate is exceeded"),
              ("431", "a header field longer than 8,192 bytes"),
              ("503", "the API is loading, or the look-up could not be audited: try again"))
    return {
        "200": {"description": "OK", "headers": REQUEST_ID, "content": {"application/json": {"schema": ok}}},
        **{code: {"description": text, "headers": {**REQUEST_ID, **(RETRY_AFTER if code in ("429", "503") else {})},
                  "content": {"application/json": {"schema": _ERROR}}} for code, text in errors},
    }


# the USCC alphabet (GB 32100: digits and capitals without I, O, S, V, Z) in either case; the check
# character is verified by the server (400)
USCC_PATTERN = "^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{18}$"
USCC_PARAM = {"name": "uscc", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 18, "maxLength": 18, "pattern": USCC_PATTERN},
              "example": "91350100M000100Y43",
              "description": "18-character unified social credit code (lower case is accepted)"}
MONTH = {"type": "string", "pattern": "^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "creditstream lender API", "version": "1",
             "description": "Enterprise credit aggregates and payment history, shown only under the "
                            "enterprise's consent; every look-up is audited."},
    "components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer cs_<key id>_<secret>"},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                         "description": "the same key in X-API-Key, for clients that cannot set Authorization"}}},
    "security": [{"bearer": []}, {"apiKeyHeader": []}],
    "paths": {
        "/v1/enterprises/{uscc}/aggregates": {"get": {
            "summary": "Rolling 3/6/12-month aggregates of one enterprise",
            "description": "Public credit information (environmental rating, licences, penalties, enforcement, "
                           "the evaluation's grade, the whitelist flag) for every lender; the fields of a consent "
                           "scope (UTILITY: water_/electricity_/gas_; TAX: tax; REAL_ESTATE; RD; AGRI) only when the "
                           "caller's consent covers it; eval_score and eval_points only under UTILITY and TAX. "
                           "`withheld` says, per scope not shown, why. An enterprise key sees all of its own row.",
            "parameters": [USCC_PARAM],
            "responses": _responses({"type": "object", "properties": {
                "uscc": {"type": "string"}, "as_of_month": {"type": "string"},
                "as_of_date": {"type": "string", "format": "date",
                               "description": "reference date R of the register fields"},
                "withheld": {"type": "object", "additionalProperties": {"type": "string"}},
                "updated_at": {"type": "string", "format": "date-time"},
                "consented_scopes": {"type": "array", "items": {"enum": list(SCOPES)}},
                **{name: _field_schema(name) for name in AGGREGATE_FIELDS}}}),
        }},
        "/v1/enterprises/{uscc}/records/{category}": {"get": {
            "summary": "The records in force of one register category (v1.1), with source and received time",
            "description": "environment, licences, penalties (with repair decisions) and enforcement are public "
                           "credit information for every lender; real_estate, rd and agri need the matching "
                           "consent scope. Per natural key the record in force is the latest by occurred_at (ties: "
                           "the greater event_id). Identity numbers are masked.",
            "parameters": [USCC_PARAM, {"name": "category", "in": "path", "required": True,
                                        "schema": {"enum": list(REGISTER_CATEGORIES)}}],
            "responses": _responses({"type": "object", "properties": {
                "uscc": {"type": "string"}, "category": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "record": {"type": "string"}, "occurred_at": {"type": "string", "format": "date-time"},
                    "event_id": {"type": "string"}, "provider_id": {"type": "string"},
                    "received_at": {"type": "string", "format": "date-time"},
                    "legal_rep_id_no": {"type": ["string", "null"], "description": "masked: first 4 and last 4"}}}}}}),
        }},
        "/healthz": {"get": {
            "summary": "Liveness and readiness: 200 once keys, consents and rows are loaded from Kafka",
            "security": [],
            "responses": {
                "200": {"description": "serving", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"], "properties": {
                        "status": {"const": "ok"}, "enterprises": {"type": "integer", "minimum": 0}}}}}},
                "503": {"description": "still loading", "headers": RETRY_AFTER,
                        "content": {"application/json": {"schema": {"type": "object", "required": ["status"]}}}}},
        }},
        "/v1/enterprises/{uscc}/history/{kind}": {"get": {
            "summary": "Payment history for one utility or tax type",
            "parameters": [USCC_PARAM,
                           {"name": "kind", "in": "path", "required": True,
                            "schema": {"enum": list(HISTORY_KINDS)}},
                           {"name": "from", "in": "query", "schema": MONTH},
                           {"name": "to", "in": "query", "schema": MONTH}],
            "responses": _responses({"type": "object", "properties": {
                "uscc": {"type": "string"}, "kind": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object"}}}}),
        }},
    },
}


# -- the enterprise's rights, and the providers' and operators' side (api/rights.py) ---------------
_OBJECT = {"type": "object"}
_RIGHTS_ERRORS = (("400", "a field is missing or wrong: `field` names it"), ("401", "missing or unknown API key"),
                  ("403", "this key's principal may not do this"), ("404", "no such dispute, application or consent"),
                  ("409", "the dispute or application is no longer open"),
                  ("422", "not eligible (credit repair): the reason names the earliest eligible date"),
                  ("429", "the key's request rate is exceeded"),
                  ("503", "Kafka cannot take the change now; nothing was changed: try again"))
_RIGHTS_ERROR = {"type": "object", "required": ["error", "reason"], "properties": {
    "error": {"type": "string"}, "reason": {"type": "string"}, "field": {"type": "string"}}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "repeat a write with the same key to get its first answer (24 h; after an API "
                              "restart a dispute or application keeps the id derived from it)"}


def _rights(summary: str, who: str, ok: str = "200", body: dict | None = None, params: list | None = None) -> dict:
    operation = {
        "summary": summary, "description": f"For {who} keys. Audited.",
        "parameters": [*(params or []), *([IDEMPOTENCY] if body is not None else [])],
        "responses": {
            ok: {"description": "OK", "headers": REQUEST_ID, "content": {"application/json": {"schema": _OBJECT}}},
            **{code: {"description": text, "headers": {**REQUEST_ID, **(RETRY_AFTER if code in ("429", "503") else {})},
                      "content": {"application/json": {"schema": _RIGHTS_ERROR}}} for code, text in _RIGHTS_ERRORS},
            "414": {"description": "request target too long", "content": {"application/json": {"schema": _ERROR}}},
            "431": {"description": "header too large", "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


_PAGE = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
         {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}]
_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
OPENAPI["paths"].update({
    "/v1/whoami": {"get": _rights("Who this key belongs to", "any")},
    "/v1/me": {"get": _rights("Everything the platform holds about my enterprise, free", "enterprise")},
    "/v1/me/lookups": {"get": _rights("Who looked my enterprise up (newest first)", "enterprise", params=_PAGE)},
    "/v1/me/consents": {
        "get": _rights("My consents in force, per lender", "enterprise"),
        "post": _rights("Grant a lender consent (the platform publishes the ConsentGrant)", "enterprise", "202", {
            "type": "object", "required": ["lender_id", "scopes", "expires_at"], "properties": {
                "lender_id": {"type": "string"}, "scopes": {"type": "array", "minItems": 1, "uniqueItems": True,
                                                            "items": {"enum": list(SCOPES)}},
                "expires_at": {"type": "string", "format": "date-time"}}})},
    "/v1/me/consents/{lender_id}": {"delete": _rights("Revoke a lender's consent", "enterprise", "202",
                                                      params=[_path("lender_id")])},
    "/v1/me/disputes": {
        "get": _rights("My disputes", "enterprise"),
        "post": _rights("Object to one record (异议); answer due in 20 days", "enterprise", "201", {
            "type": "object", "required": ["topic", "key", "statement"], "properties": {
                "topic": {"type": "string"}, "key": {"type": "object", "additionalProperties": {"type": "string"}},
                "statement": _TEXT}})},
    "/v1/me/disputes/{dispute_id}/withdraw": {"post": _rights("Withdraw my open dispute", "enterprise",
                                                              params=[_path("dispute_id")])},
    "/v1/me/repairs": {
        "get": _rights("My credit repair applications", "enterprise"),
        "post": _rights("Apply for credit repair (信用修复) of a penalty in publicity", "enterprise", "201", {
            "type": "object", "required": ["decision_no", "pledge", "statement"], "properties": {
                "decision_no": {"type": "string", "minLength": 1}, "pledge": _TEXT, "statement": _TEXT}})},
    "/v1/disputes": {"get": _rights("Disputes on my records (provider) or all (operator), by due time",
                                    "provider or operator",
                                    params=[{"name": "state", "in": "query", "schema": {"enum": [
                                        "OPEN", "CORRECTED", "UPHELD", "WITHDRAWN"]}}])},
    "/v1/disputes/{dispute_id}/answer": {"post": _rights(
        "Answer a dispute: CORRECTED (after sending the correction through the record's topic) or UPHELD",
        "the provider of the disputed record, or operator", "200",
        {"type": "object", "required": ["outcome", "note"], "properties": {
            "outcome": {"enum": ["CORRECTED", "UPHELD"]}, "note": _TEXT}}, [_path("dispute_id")])},
    "/v1/repairs": {"get": _rights("Repair applications, by due day", "operator", params=[
        {"name": "state", "in": "query", "schema": {"enum": ["APPLIED", "APPROVED", "REJECTED"]}}])},
    "/v1/repairs/{application_id}/decide": {"post": _rights(
        "Decide a repair application; the decision is a CreditRepair record on credit.admin.repair.v1", "operator",
        "200", {"type": "object", "required": ["outcome", "note"], "properties": {
            "outcome": {"enum": ["APPROVED", "REJECTED"]}, "note": _TEXT}}, [_path("application_id")])},
    "/v1/audit": {"get": _rights("The audit, filtered, newest first", "operator", params=[
        *({"name": n, "in": "query", "schema": {"type": "string"}} for n in ("uscc", "principal_id", "route",
                                                                            "decision")), *_PAGE])},
    "/v1/enterprises/{uscc}/verify": {"post": {**_rights(
        "Verify claims without disclosure: MATCH, NO_MATCH or NO_DATA per claim, never the values", "lender",
        "200", {"type": "object", "required": ["claims"], "properties": {"claims": {
            "type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "required": ["type"],
                                                                     "properties": {"type": {"enum": list(CLAIMS)}}}}}},
        [USCC_PARAM]), "description": "Claims (scope): real_estate_right {certificate_no} (REAL_ESTATE), "
                                      "unit_unencumbered {unit_no} (REAL_ESTATE), vat_paid_12m_at_least {amount} (TAX), "
                                      "tax_grade_in {grades} (TAX), no_tax_arrears {} (TAX), legal_representative_id "
                                      "{id_no} (any scope in force). A claim whose scope the lender's consent lacks is "
                                      "REFUSED without being judged. Audited with the claims' types, not their values."}},
    "/v1/sql": {"post": _rights("One read-only SQL query on the platform's ClickHouse", "operator", "200", {
        "type": "object", "required": ["query"], "properties": {"query": {"type": "string", "minLength": 1}}})},
})

_CURSOR = {"name": "after", "in": "query", "schema": {"type": "string", "maxLength": 40},
           "description": "next_cursor of an earlier answer (opaque); without it the feed starts at the first change"}
OPENAPI["paths"].update({
    "/v1/whitelist": {"get": _rights("The whitelist now (白名单): members by USCC with their current grade", "lender or operator",
                                     params=[{"name": "grade", "in": "query", "schema": {"enum": ["AAA", "AA", "A", "B", "C"]}},
                                             {"name": "after", "in": "query", "schema": {"type": "string"},
                                              "description": "next_after of the previous page"},
                                             {"name": "limit", "in": "query",
                                              "schema": {"type": "integer", "minimum": 1, "maximum": 500}}])},
    "/v1/whitelist/changes": {"get": {**_rights(
        "Whitelist joins and leaves in order after a cursor", "lender or operator", params=[
            _CURSOR, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            {"name": "recent", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500},
             "description": "instead of a page after a cursor: the newest N changes, newest first"}]),
        "description": "Each change: change_id (stable: drop repeats by it), uscc, enterprise_name, whitelisted, "
                       "eval_grade, failed (condition ids W1-W8, on leaving), at, cursor. Reconnect with next_cursor: "
                       "no change is missed or repeated."}},
    "/v1/webhooks": {
        "get": _rights("My webhooks, with their state, delivered cursor and backlog", "lender"),
        "post": {**_rights("Register a webhook for whitelist changes; the answer carries its secret, once", "lender",
                           "201", {"type": "object", "required": ["url"], "properties": {
                               "url": {"type": "string", "minLength": 1, "maxLength": 2000},
                               "after": {"type": "string", "maxLength": 40}}}),
                 "description": "Each change is POSTed as JSON with X-Creditstream-Timestamp (Unix seconds), "
                                "X-Creditstream-Signature: v1=hex(HMAC-SHA256(secret, timestamp + '.' + body)) and "
                                "X-Creditstream-Change-Id; retried with exponential back-off until a 2xx; paused after "
                                "repeated failure (resume it)."}},
    "/v1/webhooks/{webhook_id}/resume": {"post": _rights("Resume a paused webhook", "lender",
                                                         params=[_path("webhook_id")])},
    "/v1/webhooks/{webhook_id}": {"delete": _rights("Delete a webhook", "lender", params=[_path("webhook_id")])},
})

_NUMBER = _path("number")
_FILE = {"description": "the report", "headers": REQUEST_ID}
OPENAPI["paths"].update({
    "/v1/enterprises/{uscc}/reports": {"post": {**_rights(
        "Issue a standardised credit report (public sections; the others under the matching consent; everything for "
        "the enterprise itself)", "lender or the enterprise itself", "201", params=[USCC_PARAM]),
        "description": "The answer carries the report's number, the SHA-256 of its JSON content, its verification "
                       "code and links to its JSON, HTML and PDF forms. Idempotency-Key makes a retry return the "
                       "same report."}},
    "/v1/me/reports": {"get": _rights("Every report issued about my enterprise, and who asked", "enterprise")},
    "/v1/reports": {"get": _rights("The reports I asked for, newest first", "lender or enterprise")},
    "/v1/lenders": {"get": _rights("The connected institutions (to grant consent to)", "any")},
    "/v1/reports/{number}": {"get": {**_rights("A report's JSON content (its SHA-256 in X-Content-SHA256)",
                                               "the requester, the enterprise it is about, or operator",
                                               params=[_NUMBER])}},
    "/v1/reports/{number}/html": {"get": {**_rights("The report as a printable page (A4)", "the requester, the "
                                                    "enterprise it is about, or operator", params=[_NUMBER]),
                                          "responses": {"200": {**_FILE, "content": {"text/html": {}}},
                                                        **{c: r for c, r in _rights("", "")["responses"].items()
                                                           if c != "200"}}}},
    "/v1/reports/{number}/pdf": {"get": {**_rights("The report as PDF, printed from the page by headless Chromium",
                                                   "the requester, the enterprise it is about, or operator",
                                                   params=[_NUMBER]),
                                         "responses": {"200": {**_FILE, "content": {"application/pdf": {}}},
                                                       **{c: r for c, r in _rights("", "")["responses"].items()
                                                          if c != "200"}}}},
    "/v1/reports/{number}/verify": {"get": {
        "summary": "Is this report genuine? No key needed: the number and the verification code printed on it",
        "security": [],
        "parameters": [_NUMBER, {"name": "code", "in": "query", "schema": {"type": "string", "maxLength": 64}}],
        "responses": {"200": {"description": "genuine: true with the USCC, issue time and SHA-256 of the JSON "
                                             "content; genuine: false for any other number and code",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "required": ["genuine", "number"], "properties": {
                                      "genuine": {"type": "boolean"}, "number": {"type": "string"},
                                      "uscc": {"type": "string"}, "issued_at": {"type": "string"},
                                      "sha256": {"type": "string"}, "reason": {"type": "string"}}}}}},
                      "400": {"description": "a code longer than 64 characters",
                              "content": {"application/json": {"schema": _RIGHTS_ERROR}}}}}},
})

OPENAPI["paths"].update({
    "/v1/providers/events": {"post": {**_rights(
        "Push a batch of records (the HTTP gateway for providers)", "provider", "202",
        {"type": "object", "required": ["records"], "properties": {"records": {
            "type": "array", "minItems": 1, "maxItems": 1000, "items": {
                "type": "object", "required": ["topic", "value"], "properties": {
                    "topic": {"type": "string"}, "value": {"type": "object"}}}}}}),
        "description": "Each record in the contract's JSON form (the replay format), on a topic the key may push to "
                       "and with the key's provider_id. 202 once Kafka acknowledged every accepted record; the answer "
                       "lists each record's outcome (accepted with partition and offset, or rejected with code, field "
                       "and reason). 422 when none was accepted; 413 above 1,000 records or 8 MiB; 503 with "
                       "Retry-After when Kafka cannot acknowledge (send the batch again: event ids make it harmless)."}},
})
OPENAPI["paths"]["/v1/providers/events"]["post"]["responses"]["413"] = {
    "description": "more than 1,000 records or 8 MiB", "content": {"application/json": {"schema": _RIGHTS_ERROR}}}

_FILES = _rights("Upload a provider export: CSV or JSON Lines (the HTTP gateway for providers)", "provider", "202",
                 params=[{"name": "topic", "in": "query", "required": False, "schema": {"type": "string"},
                          "description": "the topic of every record: required for CSV; for JSON Lines, checked "
                                         "against each line's"},
                         {"name": "format", "in": "query", "required": False,
                          "schema": {"type": "string", "enum": ["csv", "jsonl"]},
                          "description": "default: from the Content-Type"}])
_FILES["requestBody"] = {"required": True, "content": {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in ("text/csv", "application/x-ndjson", "application/jsonl")}}
_FILES["description"] = (
    "The rules of `creditstream publish`: CSV with a header row of the schema's fields (empty cell = null, arrays "
    "`|`-separated) or JSON Lines in the replay format; then the gateway's checks (the key's topics, its "
    "provider_id). Streamed to a spool file (at most 256 MiB, else 413) and sent 1,000 records at a time, each "
    "chunk acknowledged by Kafka before the next is read. 202 with `accepted`, every rejected line as `{line, code, "
    "field, reason}` (at most 10,000 listed; `rejections_truncated`), and the accepted records' offsets per "
    "partition; 422 when no line was accepted; 503 with Retry-After when Kafka cannot acknowledge (upload again: "
    "event ids make it harmless).")
_FILES["responses"]["413"] = {"description": "a file over 256 MiB",
                              "content": {"application/json": {"schema": _RIGHTS_ERROR}}}
OPENAPI["paths"]["/v1/providers/files"] = {"post": _FILES}
