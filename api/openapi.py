"""The OpenAPI 3.1 document of the API, served at /openapi.json: built from the route table
(api.routes), so every route is in it and nothing else is. What is shared by many routes lives
here: schemas of the answers, parameters, and the error responses of the pipeline."""
from creditstream.api.http.pipeline import KINDS, Route
from creditstream.schemas.models import AGGREGATE_FIELDS, CONTRIBUTION_SERIES, RED_LINES, SCOPES, WINDOWS
from creditstream.schemas.verification import CLAIMS

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
    "eval_model": {"type": "string", "enum": ["cs-eval-2"], "description": "the evaluation model (docs/evaluation.md)"},
    "eval_score": {"type": "integer", "minimum": 0, "maximum": 100, "description": "only under UTILITY and TAX consent"},
    "eval_grade": {"enum": ["AAA", "AA", "A", "B", "C"]},
    "eval_points": {"type": "object", "additionalProperties": {"type": "integer"},
                    "description": "points per indicator; only under UTILITY and TAX consent"},
    "whitelisted": BOOLEAN,
}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
V1_2_FIELDS = {
    **{f"{k}_avg_employees_{w}m": {"type": ["string", "null"], "description": "decimal string, 1 place"}
       for k in CONTRIBUTION_SERIES for w in WINDOWS},
    **{f"{k}_paid_{w}m": DECIMAL for k in CONTRIBUTION_SERIES for w in WINDOWS},
    **{f"{k}_arrears_amount": DECIMAL for k in CONTRIBUTION_SERIES},
    **{f"{k}_arrears_months_3m": {"type": "integer", "minimum": 0, "maximum": 3} for k in CONTRIBUTION_SERIES},
    "trade_value_12m": DECIMAL, "export_value_12m": DECIMAL, "trade_months_12m": INTEGER,
    "customs_grade": {"type": ["string", "null"], "enum": ["ADVANCED_CERTIFIED", "GENERAL", "DISHONEST", None]},
    "customs_grade_decided_on": NULLABLE_DATE,
    "patents_valid": INTEGER, "invention_patents_valid": INTEGER, "trademarks_valid": INTEGER,
    "ip_pledges_active": INTEGER, "awards_12m": INTEGER, "award_amount_12m": DECIMAL, "court_dishonest": BOOLEAN,
    "court_dishonest_count": INTEGER, "enforcement_cases_active": INTEGER, "enforcement_amount_active": DECIMAL,
    RED_LINES: {"type": "array", "items": {"enum": ["X1", "X2", "X3"]},
                "description": "red lines hit (一票否决); X3 only under SOCIAL consent"},
}


def _field_schema(name: str) -> dict:
    if name in V1_1_FIELDS:
        return V1_1_FIELDS[name]
    if name in V1_2_FIELDS:
        return V1_2_FIELDS[name]
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


INFO = {"title": "creditstream lender API", "version": "1",
        "description": "Enterprise credit aggregates and payment history, shown only under the enterprise's consent; "
                       "every look-up is audited."}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer cs_<key id>_<secret>"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "the same key in X-API-Key, for clients that cannot set Authorization"}}


def path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


def query(name: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": "query", "schema": schema, **({"description": description} if description else {})}


# the USCC alphabet (GB 32100: digits and capitals without I, O, S, V, Z) in either case; the check
# character is verified by the server (400)
USCC_PATTERN = "^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{18}$"
USCC_PARAM = {"name": "uscc", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 18, "maxLength": 18, "pattern": USCC_PATTERN},
              "example": "91350100M000100Y43",
              "description": "18-character unified social credit code (lower case is accepted)"}
MONTH = {"type": "string", "pattern": "^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"}
PAGE = (query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
        query("offset", {"type": "integer", "minimum": 0}))
CURSOR = query("after", {"type": "string", "maxLength": 40},
               "next_cursor of an earlier answer (opaque); without it the feed starts at the first change")
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "repeat a write with the same key to get its first answer (24 h; after an API restart a "
                              "dispute, application or report keeps the id derived from it)"}
TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}

AGGREGATES_ANSWER = {"type": "object", "properties": {
    "uscc": {"type": "string"}, "as_of_month": {"type": "string"},
    "as_of_date": {"type": "string", "format": "date", "description": "reference date R of the register fields"},
    "withheld": {"type": "object", "additionalProperties": {"type": "string"}},
    "updated_at": {"type": "string", "format": "date-time"},
    "consented_scopes": {"type": "array", "items": {"enum": list(SCOPES)}},
    "consent": {"type": "object", "description": "a lender's consent in force from the enterprise (absent when none): "
                "since when and until when the consented scopes are shown", "properties": {
                    "event_id": {"type": "string"}, "scopes": {"type": "array", "items": {"enum": list(SCOPES)}},
                    "granted_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"}}},
    **{name: _field_schema(name) for name in AGGREGATE_FIELDS}}}
RECORDS_ANSWER = {"type": "object", "properties": {
    "uscc": {"type": "string"}, "category": {"type": "string"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "record": {"type": "string"}, "occurred_at": {"type": "string", "format": "date-time"},
        "event_id": {"type": "string"}, "provider_id": {"type": "string"},
        "received_at": {"type": "string", "format": "date-time"},
        "legal_rep_id_no": {"type": ["string", "null"], "description": "masked: first 4 and last 4"}}}}}}
HISTORY_ANSWER = {"type": "object", "properties": {
    "uscc": {"type": "string"}, "kind": {"type": "string"}, "items": {"type": "array", "items": {"type": "object"}}}}
VERIFY_BODY = {"type": "object", "required": ["claims"], "properties": {"claims": {
    "type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "required": ["type"],
                                                             "properties": {"type": {"enum": list(CLAIMS)}}}}}}

_OBJECT = {"type": "object"}
_ERRORS = (("400", "a field is missing or wrong (an invalid USCC included): `field` names it"),
           ("401", "missing, malformed, unknown or revoked API key"),
           ("403", "this key's principal may not do this (its kind, or no consent covering this lender, scope and time)"),
           ("404", "no such thing, or no data for this enterprise"),
           ("409", "the dispute or application is no longer open; a webhook limit"),
           ("413", "the body is too large"),
           ("414", "request target longer than 2,048 bytes"),
           ("422", "not eligible (credit repair): the reason names the earliest eligible date"),
           ("429", "the key's request rate is exceeded, or too many failed authentications from this address"),
           ("431", "a header field longer than 8,192 bytes"),
           ("503", "the API is loading, or Kafka cannot record this (or its audit) now; nothing was changed: try again"))
_ERROR_SCHEMA = {"type": "object", "required": ["error", "reason"], "properties": {
    "error": {"type": "string"}, "reason": {"type": "string"}, "field": {"type": "string"},
    "state": {"type": "string", "description": "409 of the loan loop: the state the application is in"}}}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
REQUEST_ID = {"X-Request-Id": {"description": "the id of the request's audit record", "schema": {"type": "string"}}}


def _responses(ok: str, answer: dict | None) -> dict:
    """What the pipeline may answer on a keyed route: its success, and every refusal."""
    return {
        ok: {"description": "OK", "headers": REQUEST_ID, "content": {"application/json": {"schema": answer or _OBJECT}}},
        **{code: {"description": text, "headers": {**REQUEST_ID, **(RETRY_AFTER if code in ("429", "503") else {})},
                  "content": {"application/json": {"schema": _ERROR_SCHEMA}}} for code, text in _ERRORS},
    }


def _file(media: str) -> dict:
    return {"responses": {"200": {"description": "the report", "headers": REQUEST_ID, "content": {media: {}}}}}


FILE_ANSWER, PDF = _file("text/html"), _file("application/pdf")
HEALTH_DOC = {"security": [], "responses": {
    "200": {"description": "serving", "content": {"application/json": {"schema": {
        "type": "object", "required": ["status"], "properties": {
            "status": {"const": "ok"}, "enterprises": {"type": "integer", "minimum": 0}}}}}},
    "503": {"description": "still loading", "headers": RETRY_AFTER,
            "content": {"application/json": {"schema": {"type": "object", "required": ["status"]}}}}}}
REPORT_VERIFY_DOC = {"security": [], "responses": {
    "200": {"description": "genuine: true with the USCC, issue time and SHA-256 of the JSON content; genuine: false "
                           "for any other number and code",
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["genuine", "number"], "properties": {
                    "genuine": {"type": "boolean"}, "number": {"type": "string"}, "uscc": {"type": "string"},
                    "issued_at": {"type": "string"}, "sha256": {"type": "string"}, "reason": {"type": "string"}}}}}},
    "400": {"description": "a code longer than 64 characters",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}}}}}
PROVIDER_EVENTS_DOC = {"description": (
    "Each record in the contract's JSON form (the replay format), on a topic the key may push to and with the key's "
    "provider_id. 202 once Kafka acknowledged every accepted record; the answer lists each record's outcome (accepted "
    "with partition and offset, or rejected with code, field and reason). 422 when none was accepted; 413 above 1,000 "
    "records or 8 MiB; 503 with Retry-After when Kafka cannot acknowledge (send the batch again: event ids make it "
    "harmless).")}
FILES_DOC = {
    "requestBody": {"required": True, "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                                  for media in ("text/csv", "application/x-ndjson", "application/jsonl")}},
    "description": (
        "The rules of `creditstream publish`: CSV with a header row of the schema's fields (empty cell = null, arrays "
        "`|`-separated) or JSON Lines in the replay format; then the gateway's checks (the key's topics, its "
        "provider_id). Streamed to a spool file (at most 256 MiB, else 413) and sent 1,000 records at a time, each "
        "chunk acknowledged by Kafka before the next is read. 202 with `accepted`, every rejected line as `{line, "
        "code, field, reason}` (at most 10,000 listed; `rejections_truncated`), and the accepted records' offsets per "
        "partition; 422 when no line was accepted; 503 with Retry-After when Kafka cannot acknowledge (upload again: "
        "event ids make it harmless).")}


def operation(route: Route) -> dict:
    """A route's OpenAPI operation: its own fields, the pipeline's responses, then ``route.doc``."""
    op: dict = {"summary": route.summary}
    description = route.description
    if route.keyed:
        who = "any" if set(route.kinds) == set(KINDS) else " or ".join(route.kinds)
        description = f"For {who} keys. Audited." + (f" {description}" if description else "")
        op["responses"] = _responses(route.ok, route.answer)
    if description:
        op["description"] = description
    params = [*route.params, *([IDEMPOTENCY] if route.body is not None else [])]
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    for key, value in route.doc.items():
        op[key] = {**op.get(key, {}), **value} if key == "responses" else value
    return op


def document(routes: list[Route]) -> dict:
    """The OpenAPI document of exactly these routes."""
    paths: dict = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    return {"openapi": "3.1.0", "info": INFO, "components": {"securitySchemes": SECURITY_SCHEMES},
            "security": [{"bearer": []}, {"apiKeyHeader": []}], "paths": paths}
