"""HTTP/JSON lender API (aiohttp). Keys, consents and aggregate rows come from the in-memory
view (api.view), kept current from Kafka; history and register records are read from ClickHouse
on a thread pool, one client per thread, never on the event loop. Every look-up, allowed or
refused, whatever its bytes, is audited durably (api.audit) before its answer leaves."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from creditstream.api.access import SCOPES, Decision, Principal, decide
from creditstream.api.audit import AuditLog, AuditUnavailable
from creditstream.api.config import ApiConfig
from creditstream.api.gateway import MAX_BYTES, Gateway
from creditstream.api.http.answers import json_answer, request_ids
from creditstream.api.limits import FailureThrottle, RateLimiter
from creditstream.api.openapi import OPENAPI
from creditstream.api.operator import OperatorSql, OperatorSqlBusy
from creditstream.api.portal import Portal
from creditstream.api.reports import Reports
from creditstream.api.rights import Refused, Rights, json_body
from creditstream.api.store import HISTORY_KINDS, RightsStore, Store
from creditstream.api.view import ServingView, ViewFeed
from creditstream.api.whitelist import WebhookDeliveries, Whitelist
from creditstream.api.writer import KafkaUnavailable, KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas import apikeys
from creditstream.schemas.models import PUBLIC, UTILITY_AND_TAX
from creditstream.schemas.months import SHANGHAI, parse_month, shorten
from creditstream.schemas.services import RightsError, record_key
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import API_KEYS_TOPIC, REGISTER_CATEGORIES, UTILITIES, UTILITY_KINDS
from creditstream.schemas.uscc import normalise_uscc, uscc_problem
from creditstream.schemas.verification import (
    ANY_SCOPE,
    FACT_RECORDS,
    IDENTITY_CLAIM,
    REFUSED,
    Facts,
    IdentityClaimBudget,
    judge,
    parse_claims,
)
from creditstream.sinks.clickhouse import ThreadClients  # the declared seam: the sink's ClickHouse access
from creditstream.sinks.operator_sql import MAX_RESULT_ROWS, SqlRefused, audit_text

log = logging.getLogger("creditstream.api")
UTC = dt.timezone.utc
UTILITY_RECORDS = {kind: record for record, kind in UTILITY_KINDS.items()}  # water → WaterStatement
LOOKUP_PREFIX = "/v1/enterprises/"
STORED_USCC_LIMIT = 40  # what an audit row keeps of a USCC that is not one
# the principal kinds an enterprise's data may be looked up by (a lender under consent, an
# enterprise its own): providers and operators are refused, not served as if they were lenders
LOOKUP_KINDS = ("lender", "enterprise")
METRICS_PORT = web.AppKey("metrics_port", int)
LOOKUP_ROUTES = frozenset({"aggregates", "history", "records", "verify", "report.issue"})


class LookupError_(Exception):
    def __init__(self, status: int, error: str, reason: str, decision: str = "deny", scope: str = "",
                 consent_event_id=None, retry_after: Optional[float] = None):
        self.status, self.error, self.reason = status, error, reason
        self.decision, self.scope, self.consent_event_id = decision, scope, consent_event_id
        self.retry_after = retry_after


class LenderApi:
    def __init__(self, config: ApiConfig, store: Store, executor: ThreadPoolExecutor, view: ServingView,
                 audit: AuditLog, ready=None, clock=None):
        self.config, self.store, self.executor, self.view, self.audit = config, store, executor, view, audit
        self.ready = ready or (lambda: True)
        self.limiter = RateLimiter(config.rate_per_second, config.rate_burst)
        self.failures = FailureThrottle(config.auth_failures_limit, 60.0, config.auth_block_seconds)
        self.idempotency = IdempotencyCache()
        self.rights: Rights | None = None  # set by create_app (its store answers verification's facts)
        self.operator_sql = OperatorSql(config.clickhouse_url)
        self.identity_claims = IdentityClaimBudget()  # in memory: a restart renews at most one day's budget
        self.clock = clock or (lambda: dt.datetime.now(UTC))

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- authentication ----------------------------------------------------------------------
    def authenticated(self, request: web.Request) -> Principal:
        """The request's principal, unless its address is blocked for failing too often (429)."""
        address = request.remote or ""
        wait = self.failures.wait_needed(address)
        if wait:
            metrics.API_AUTH_THROTTLED.inc()
            raise LookupError_(429, "too_many_requests", "too many failed authentications from this address; "
                                                         "try again later", retry_after=wait)
        try:
            return self.principal(request)
        except LookupError_:
            if self.failures.failed(address):
                log.warning("authentication failures from %s: refused for %g s", address, self.config.auth_block_seconds)
            raise

    def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
        if not key:
            raise LookupError_(401, "unauthorized", "no API key: send Authorization: Bearer <key>")
        return self.key_principal(key)

    def key_principal(self, key: str) -> Principal:
        """The principal of an API key; LookupError_ 401 saying why not."""
        if not key.isascii() or not key.isprintable():
            raise LookupError_(401, "unauthorized", "malformed API key: keys are printable ASCII")
        key_id = apikeys.key_id_of(key)
        entry = self.view.key(key_id) if key_id else None
        if entry is None:
            raise LookupError_(401, "unauthorized", "unknown API key")
        if entry.revoked:
            raise LookupError_(401, "unauthorized", f"API key {key_id} was revoked")
        if not apikeys.matches(key, entry.key_hash):
            raise LookupError_(401, "unauthorized", "unknown API key")
        return Principal(entry.principal_kind, entry.principal_id, key_id)

    # -- handlers ------------------------------------------------------------------------------
    async def aggregates(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "aggregates", self._aggregates)

    async def history(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "history", self._history)

    async def records(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "records", self._records)

    async def verify(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "verify", self._verify)

    async def _verify(self, principal: Principal, uscc: str, request: web.Request, audit: dict):
        """Claims answered MATCH / NO_MATCH / NO_DATA, never with the values; a claim whose scope
        the lender's consent lacks is REFUSED unjudged (schemas.verification)."""
        claims = parse_claims(await json_body(request))
        audit["reason"] = "claims: " + ", ".join(c.type for c in claims)  # the types, never the values
        decisions = await self.decisions(principal, uscc, SCOPES)
        if principal.kind == "enterprise" and not decisions[SCOPES[0]].allowed:
            raise LookupError_(403, "forbidden", decisions[SCOPES[0]].reason)
        allowed = [s for s in SCOPES if decisions[s].allowed]
        audit["scope"] = "+".join(allowed)
        facts = None
        results = []
        today = self.clock().astimezone(SHANGHAI).date()
        for claim in claims:
            scope_ok = bool(allowed) if claim.scope == ANY_SCOPE else claim.scope in allowed
            if not scope_ok:
                reason = ("no consent scope in force" if claim.scope == ANY_SCOPE
                          else decisions[claim.scope].reason)
                results.append({"type": claim.type, "outcome": REFUSED, "reason": reason})
                metrics.VERIFICATIONS.labels(claim.type, REFUSED).inc()
                continue
            if claim.type == IDENTITY_CLAIM and not self.identity_claims.take(principal.id, uscc, today):
                reason = (f"at most {self.identity_claims.per_day} {IDENTITY_CLAIM} claims per enterprise a day "
                          "(Asia/Shanghai); the budget renews tomorrow")
                results.append({"type": claim.type, "outcome": REFUSED, "reason": reason})
                metrics.VERIFICATIONS.labels(claim.type, REFUSED).inc()
                metrics.IDENTITY_CLAIMS_REFUSED.labels(principal.id).inc()
                audit["reason"] += f"; {IDENTITY_CLAIM} daily limit reached"
                continue
            if facts is None:
                records, taxed = await self.run(self.rights.rights_store.verification_facts, uscc, FACT_RECORDS)
                found = self.view.row(uscc)
                facts = Facts(found.values() if found else None, records, taxed)
            outcome = judge(claim, facts, self.config.personal_data_key)
            results.append({"type": claim.type, "outcome": outcome})
            metrics.VERIFICATIONS.labels(claim.type, outcome).inc()
        return {"uscc": uscc, "results": results}

    async def sql(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "sql", self._sql)

    async def _sql(self, principal: Principal, uscc: str, request: web.Request, audit: dict):
        """One read-only SELECT over the platform's tables, for operators (sinks.operator_sql):
        JSON {"query": "..."}. On a pool of its own, so look-ups never wait behind it."""
        if principal.kind != "operator":
            raise LookupError_(403, "forbidden", "only operator keys may run SQL")
        query = (await json_body(request)).get("query")
        if not isinstance(query, str) or not query.strip():
            raise Refused(400, "bad_request", 'send a JSON object {"query": "SELECT ..."}', "query")
        audit["reason"] = audit_text(query)
        try:
            columns, rows = await self.operator_sql.run(query)
        except SqlRefused as exc:
            raise Refused(400, "refused_query", str(exc), "query") from None
        except OperatorSqlBusy as exc:
            raise LookupError_(429, "too_many_requests", str(exc), retry_after=5) from None
        except Exception as exc:  # ClickHouse refused it: the operator's query, not our fault
            raise LookupError_(400, "bad_query", str(exc).strip().splitlines()[0][:500]) from None
        return {"columns": columns, "rows": rows, "truncated": len(rows) >= MAX_RESULT_ROWS}

    async def _records(self, principal: Principal, uscc: str, request: web.Request, audit: dict):
        category = request.match_info["category"].lower()
        if category not in REGISTER_CATEGORIES:
            raise LookupError_(400, "bad_request", f"unknown record category {category!r}; use one of "
                                                   f"{', '.join(REGISTER_CATEGORIES)}")
        records, scope = REGISTER_CATEGORIES[category]
        audit["scope"] = scope
        if scope != PUBLIC or principal.kind == "enterprise":
            # a lender needs consent for a consented scope; an enterprise reads only its own records
            decision = (await self.decisions(principal, uscc, (scope,)))[scope]
            audit["consent_event_id"], audit["reason"] = decision.consent_event_id, decision.reason
            if not decision.allowed:
                if scope != PUBLIC:
                    metrics.CONSENT_REFUSALS.labels(scope).inc()
                raise LookupError_(403, "forbidden", decision.reason, scope=scope,
                                   consent_event_id=decision.consent_event_id)
        else:
            audit["reason"] = "public credit information"
        if not self.view.known(uscc):
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                               consent_event_id=audit["consent_event_id"])
        items = await self.run(self.store.records, uscc, records)
        return self.marked({"uscc": uscc, "category": category, "items": items}, uscc, lambda item: item["record"])

    async def _aggregates(self, principal: Principal, uscc: str, request: web.Request, audit: dict):
        decisions = await self.decisions(principal, uscc, SCOPES)
        allowed = [s for s in SCOPES if decisions[s].allowed]
        audit["scope"] = "+".join(SCOPES)
        # the consent used; on refusal, the consent that was examined and found wanting
        used = [d for d in decisions.values() if d.allowed] or list(decisions.values())
        consent_ids = {d.consent_event_id for d in used if d.consent_event_id}
        audit["consent_event_id"] = ",".join(sorted(consent_ids)) or None
        if principal.kind == "enterprise" and not allowed:  # another enterprise's row: nothing of it
            raise LookupError_(403, "forbidden", decisions[SCOPES[0]].reason, scope=audit["scope"])
        for scope in SCOPES:
            if scope not in allowed:
                metrics.CONSENT_REFUSALS.labels(scope).inc()
        found = self.view.row(uscc)
        if found is None:
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow",
                               scope=audit["scope"], consent_event_id=audit["consent_event_id"])
        # public credit information for every lender; the rest under the matching consent; the
        # evaluation's score and points only under both UTILITY and TAX (platform-services.md)
        visible = [PUBLIC, *allowed]
        if "UTILITY" in allowed and "TAX" in allowed:
            visible.append(UTILITY_AND_TAX)
        head = {**found.head,
                "updated_at": found.updated_at_text,
                "consented_scopes": allowed,
                "withheld": {s: decisions[s].reason for s in SCOPES if s not in allowed}}
        refused = [f"{s}: {decisions[s].reason}" for s in SCOPES if s not in allowed]
        audit["reason"] = "; ".join([f"{s}: {decisions[s].reason}" for s in allowed] + refused)
        disputes = self.view.open_disputes(uscc)
        if disputes:  # every figure may be computed from a disputed record: the row says which are open
            head["disputes_open"] = [d.public() for d in disputes]
        parts = [json.dumps(head, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()]
        parts += [found.fragments[group] for group in visible if found.fragments[group]]
        return b"{" + b",".join(parts) + b"}"

    async def _history(self, principal: Principal, uscc: str, request: web.Request, audit: dict):
        kind = request.match_info["kind"].lower()
        if kind not in HISTORY_KINDS:
            raise LookupError_(400, "bad_request", f"unknown history kind {kind!r}; use one of "
                                                   f"{', '.join(HISTORY_KINDS)}")
        first, last = request.query.get("from"), request.query.get("to")
        for name, month in (("from", first), ("to", last)):
            if month is not None:
                try:
                    parse_month(month)
                except ValueError as exc:
                    raise LookupError_(400, "bad_request", f"{name}: {exc}") from None
        scope = "UTILITY" if kind in UTILITIES else "TAX"
        audit["scope"] = scope
        decision = (await self.decisions(principal, uscc, (scope,)))[scope]
        audit["consent_event_id"] = decision.consent_event_id
        audit["reason"] = decision.reason
        if not decision.allowed:
            metrics.CONSENT_REFUSALS.labels(scope).inc()
            raise LookupError_(403, "forbidden", decision.reason, scope=scope,
                               consent_event_id=decision.consent_event_id)
        if not self.view.known(uscc):
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                               consent_event_id=decision.consent_event_id)
        items = await self.run(self.store.history, uscc, kind, first, last)
        record = UTILITY_RECORDS[kind] if kind in UTILITY_RECORDS else "TaxPayment"
        return self.marked({"uscc": uscc, "kind": kind, "items": items}, uscc, lambda item: record)

    def marked(self, body: dict, uscc: str, record_of) -> dict:
        """While a dispute is open, each listed record it names carries ``disputed`` and the answer
        lists those disputes in ``disputes_open``."""
        open_disputes = self.view.open_disputes(uscc)
        if not open_disputes:
            return body
        named = {(d.record, record_key(d.record, d.key)): d for d in open_disputes}
        shown = []
        for item in body["items"]:
            record = record_of(item)
            dispute = named.get((record, record_key(record, {k: str(v) for k, v in item.items()})))
            if dispute is not None:
                item["disputed"] = dispute.public()
                shown.append(dispute.public())
        if shown:
            body["disputes_open"] = shown
        return body

    async def decisions(self, principal: Principal, uscc: str, scopes) -> dict[str, Decision]:
        consent = None
        if principal.kind == "lender":
            consent = self.view.consent(uscc, principal.id)
        now = self.clock()
        return {scope: decide(principal, uscc, scope, consent, now) for scope in scopes}

    async def lookup(self, request: web.Request, route: str, handler) -> web.Response:
        started = time.perf_counter()
        uscc = normalise_uscc(request.match_info.get("uscc", ""))
        audit = self.audit_row(route, uscc)
        principal = None
        try:
            if not self.ready():
                raise LookupError_(503, "unavailable", "the API is still loading keys, consents and rows",
                                   retry_after=1)
            principal = self.authenticated(request)
            audit.update(principal_kind=principal.kind, principal_id=principal.id, key_prefix=principal.key_id)
            wait = self.limiter.wait_needed(principal.key_id)
            if wait:
                metrics.API_RATE_LIMITED.inc()
                raise LookupError_(429, "too_many_requests", f"API key {principal.key_id} exceeded "
                                   f"{self.config.rate_per_second:g} requests per second", retry_after=wait)
            if route in LOOKUP_ROUTES and principal.kind not in LOOKUP_KINDS:
                raise LookupError_(403, "forbidden", f"enterprise look-ups are for {' and '.join(LOOKUP_KINDS)} keys, "
                                                     f"not {principal.kind} keys")
            problem = uscc_problem(uscc) if "uscc" in request.match_info else None
            if problem:
                raise LookupError_(400, "invalid_uscc", problem)
            replay = self.idempotency.get(principal, request)
            if replay is not None:  # the same write again: the first answer, not a second write
                status, body = replay
                audit["reason"] = "repeated Idempotency-Key: the first answer"
            else:
                status, body = 200, await handler(principal, uscc, request, audit)
                if isinstance(body, tuple):
                    status, body = body
                if not isinstance(body, web.Response):
                    self.idempotency.put(principal, request, status, body)
            audit["decision"] = "allow"
            if isinstance(body, web.Response):  # a page or a file (a report's HTML or PDF)
                response = body
            elif isinstance(body, bytes):
                response = json_answer(body)
            else:
                response = json_answer(body, status=status)
        except (Refused, RightsError) as exc:
            if isinstance(exc, RightsError):  # a rule refused the input: the field and why
                exc = Refused(400, "bad_request", exc.message, exc.field)
            audit.update(status=exc.status, reason=exc.reason)
            body = {"error": exc.error, "reason": exc.reason, **({"field": exc.field} if exc.field else {})}
            response = json_answer(body, status=exc.status)
            if exc.status < 500 and exc.status not in (401, 429):
                self.idempotency.put(principal, request, exc.status, body)
        except KafkaUnavailable as exc:
            log.warning("%s %s not accepted: %s", route, audit["request_id"], exc)
            audit.update(status=503, reason=f"Kafka unavailable: {exc}")
            response = error_response(LookupError_(503, "unavailable", "the platform cannot record this now; "
                                                                        "nothing was changed: try again", retry_after=5))
        except LookupError_ as exc:
            audit.update(status=exc.status, decision=exc.decision, reason=exc.reason,
                         scope=exc.scope or audit["scope"],
                         consent_event_id=exc.consent_event_id or audit["consent_event_id"])
            response = error_response(exc)
        except Exception:  # a platform bug: answered and audited all the same, logged once
            log.exception("look-up %s %s failed", route, audit["request_id"])
            audit.update(status=500, decision="deny", reason="internal error")
            response = json_answer({"error": "internal", "reason": "internal error; it was logged with "
                                                                           f"request id {audit['request_id']}"},
                                         status=500)
        response = await self.audited(audit, response)
        metrics.API_REQUESTS.labels(route, str(response.status)).inc()
        metrics.API_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response

    async def action(self, request: web.Request, route: str, handler) -> web.Response:
        """A rights route (api.rights): the same authentication, limits and audit as a look-up."""
        async def adapted(principal, _uscc, request, audit):
            return await handler(principal, request, audit)
        return await self.lookup(request, route, adapted)

    def audit_row(self, route: str, uscc: str) -> dict:
        return {"at": self.clock(), "request_id": uuid.uuid4().hex, "principal_kind": "anonymous",
                "principal_id": "", "key_prefix": "", "route": route, "uscc": shorten(uscc, STORED_USCC_LIMIT),
                "scope": "", "decision": "deny", "reason": "", "consent_event_id": None, "status": 200}

    async def audited(self, audit: dict, response: web.Response) -> web.Response:
        """The response, once its audit record is durable; 503 if it cannot be made so."""
        audit["status"] = response.status
        response.headers["X-Request-Id"] = audit["request_id"]
        try:
            await self.audit.write(LookupAuditRow(**audit))
        except AuditUnavailable as exc:
            metrics.API_AUDIT_FAILURES.inc()
            log.warning("look-up %s not answered: %s", audit["request_id"], exc)
            response = error_response(LookupError_(503, "unavailable", "the look-up could not be audited; "
                                                                        "try again", retry_after=5))
            response.headers["X-Request-Id"] = audit["request_id"]
        return response

    @web.middleware
    async def size_limits(self, request: web.Request, handler):
        """414 for an oversized request target, 431 for an oversized header field, as JSON; a
        look-up route is audited like any other refusal (with the USCC shortened)."""
        refusal = None
        if len(request.raw_path) > self.config.max_url_bytes:
            refusal = LookupError_(414, "uri_too_long", f"the request target has {len(request.raw_path)} bytes; "
                                                        f"at most {self.config.max_url_bytes} are accepted")
        else:
            for name, value in request.raw_headers:
                if len(name) + len(value) > self.config.max_header_bytes:
                    refusal = LookupError_(431, "header_too_large", f"header {shorten(name.decode('latin-1'))} has "
                                           f"{len(value)} bytes; at most {self.config.max_header_bytes} are accepted")
                    break
        if refusal is None:
            return await handler(request)
        if not request.path.startswith(LOOKUP_PREFIX):
            return error_response(refusal)
        uscc = request.path[len(LOOKUP_PREFIX):].split("/", 1)[0]
        audit = self.audit_row("refused", normalise_uscc(uscc))
        audit.update(reason=refusal.reason)
        response = await self.audited(audit, error_response(refusal))
        metrics.API_REQUESTS.labels("refused", str(response.status)).inc()
        return response


class IdempotencyCache:
    """The first answer to a write per (API key, Idempotency-Key), for 24 hours, at most 10,000 kept.
    In memory: after a restart a retried write is recognised by the id it derives from the key
    (api.rights.stable_id) instead."""
    TTL, LIMIT = 24 * 3600.0, 10_000

    def __init__(self):
        self.answers: "OrderedDict[tuple[str, str, str], tuple[float, int, object]]" = OrderedDict()

    @staticmethod
    def _key(principal: Principal, request: web.Request):
        idem = request.headers.get("Idempotency-Key")
        if request.method == "GET" or not idem:
            return None
        return principal.key_id, f"{request.method} {request.path}", idem[:200]

    def get(self, principal: Principal, request: web.Request):
        key = self._key(principal, request)
        found = self.answers.get(key) if key else None
        if found is None or time.monotonic() - found[0] > self.TTL:
            return None
        return found[1], found[2]

    def put(self, principal, request: web.Request, status: int, body) -> None:
        key = self._key(principal, request) if principal is not None else None
        if key is None:
            return
        self.answers[key] = (time.monotonic(), status, body)
        while len(self.answers) > self.LIMIT:
            self.answers.popitem(last=False)


def error_response(exc: LookupError_) -> web.Response:
    response = json_answer({"error": exc.error, "reason": exc.reason}, status=exc.status)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.499)))
    return response


async def openapi(request: web.Request) -> web.Response:
    return json_answer(OPENAPI)


async def prometheus(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def serve_metrics_beside(app: web.Application, host: str, port: int) -> None:
    """``/metrics`` on an address of its own, started and stopped with ``app``: the series name
    every provider and lender with their counts, which is the operators' business, not what the
    lenders' or providers' port should hand to anyone who asks. The bound port is in
    ``app[METRICS_PORT]`` once started (port 0 picks a free one)."""
    runners: list[web.AppRunner] = []

    async def start(_app) -> None:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", prometheus)
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        runners.append(runner)
        app[METRICS_PORT] = runner.addresses[0][1]
        log.info("metrics on http://%s:%d/metrics", host, app[METRICS_PORT])

    async def stop(_app) -> None:
        for runner in runners:
            await runner.cleanup()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)


PARSER_LIMITS = {"max_line_size": 65536, "max_field_size": 65536}  # above ours: the size middleware answers


class QuietBadRequests(logging.Filter):
    """aiohttp logs a traceback for every malformed request (a client's fault, not ours): one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.exc_info and record.getMessage().startswith("Error handling request")
                and isinstance(record.exc_info[1], HttpProcessingError)):  # a handler's bug keeps its traceback
            record.msg, record.args = f"bad request refused by the HTTP parser: {record.exc_info[1]!s:.120}", ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def application(api: LenderApi) -> web.Application:
    """An aiohttp app with the API's request limits and quiet parser errors (the API, the gateway)."""
    logging.getLogger("aiohttp.server").addFilter(QuietBadRequests())
    return web.Application(middlewares=[request_ids, api.size_limits], handler_args=PARSER_LIMITS,
                           client_max_size=MAX_BYTES + 65536)  # the gateway's batches; it answers 413 beyond


def action_route(api: LenderApi, method: str, path: str, name: str, handler):
    async def serve(request: web.Request) -> web.Response:
        return await api.action(request, name, handler)
    return web.route(method, path, serve)


def gateway_routes(api: LenderApi, gateway: Gateway) -> list:
    """The push gateway for providers that do not speak Kafka (api.gateway)."""
    return [action_route(api, "POST", "/v1/providers/events", "gateway", gateway.events),
            action_route(api, "POST", "/v1/providers/files", "gateway.files", gateway.files)]


def whitelist_routes(api: LenderApi, whitelist: Whitelist) -> list:
    """The whitelist, its change feed and the lenders' webhooks (api.whitelist)."""
    route = functools.partial(action_route, api)
    return [
        route("GET", "/v1/whitelist", "whitelist", whitelist.current),
        route("GET", "/v1/whitelist/changes", "whitelist.changes", whitelist.changes),
        route("GET", "/v1/webhooks", "webhooks", whitelist.list_webhooks),
        route("POST", "/v1/webhooks", "webhook.register", whitelist.register),
        route("POST", "/v1/webhooks/{webhook_id}/resume", "webhook.resume", whitelist.resume),
        route("DELETE", "/v1/webhooks/{webhook_id}", "webhook.delete", whitelist.delete),
    ]


def report_routes(api: LenderApi, reports: Reports) -> list:
    """Standardised credit reports (api.reports); their verification needs no key."""
    route = functools.partial(action_route, api)

    async def issue(request: web.Request) -> web.Response:
        return await api.lookup(request, "report.issue", reports.issue)
    return [
        web.post("/v1/enterprises/{uscc}/reports", issue),
        route("GET", "/v1/me/reports", "me.reports", reports.mine),
        route("GET", "/v1/reports", "reports", reports.issued_by_me),
        route("GET", "/v1/reports/{number}", "report", reports.json),
        route("GET", "/v1/reports/{number}/html", "report.html", reports.html),
        route("GET", "/v1/reports/{number}/pdf", "report.pdf", reports.pdf),
        web.get("/v1/reports/{number}/verify", reports.verify),
    ]


def rights_routes(api: LenderApi, rights: Rights) -> list:
    """The enterprise's rights (/v1/me…), the providers' and operators' side, and the audit."""
    route = functools.partial(action_route, api)
    return [
        route("GET", "/v1/me", "me", rights.me),
        route("GET", "/v1/me/lookups", "me.lookups", rights.my_lookups),
        route("GET", "/v1/me/consents", "me.consents", rights.my_consents),
        route("POST", "/v1/me/consents", "me.consent.grant", rights.grant),
        route("DELETE", "/v1/me/consents/{lender_id}", "me.consent.revoke", rights.revoke),
        route("GET", "/v1/me/disputes", "me.disputes", rights.my_disputes),
        route("POST", "/v1/me/disputes", "me.dispute.file", rights.file_dispute),
        route("POST", "/v1/me/disputes/{dispute_id}/withdraw", "me.dispute.withdraw", rights.withdraw),
        route("GET", "/v1/me/repairs", "me.repairs", rights.my_repairs),
        route("POST", "/v1/me/repairs", "me.repair.apply", rights.apply_repair),
        route("GET", "/v1/disputes", "disputes", rights.disputes),
        route("POST", "/v1/disputes/{dispute_id}/answer", "dispute.answer", rights.answer),
        route("GET", "/v1/repairs", "repairs", rights.repairs),
        route("POST", "/v1/repairs/{application_id}/decide", "repair.decide", rights.decide),
        route("GET", "/v1/audit", "audit", rights.audit_search),
        route("GET", "/v1/whoami", "whoami", whoami),
        route("GET", "/v1/lenders", "lenders", rights.lenders),
    ]


async def whoami(principal: Principal, request: web.Request, audit: dict) -> dict:
    """Who this key belongs to (``creditstream <kind>s add`` waits for it to answer 200)."""
    return {"kind": principal.kind, "id": principal.id, "key_id": principal.key_id}


def create_app(config: ApiConfig, clients: ThreadClients | None = None, clock=None,
               view: ServingView | None = None) -> web.Application:
    """The API. Without ``view``, it reads its view from Kafka (a feed thread started and stopped
    with the app) and answers 503 until the view is loaded."""
    clients = clients or ThreadClients(config.clickhouse_url)
    executor = ThreadPoolExecutor(config.threads, thread_name_prefix="api-clickhouse")
    feed = None
    if view is None:
        view = ServingView()
        feed = ViewFeed(config.kafka, view)
    writer = KafkaWriter(config.kafka, config.audit_timeout_seconds)
    audit = AuditLog(writer)
    api = LenderApi(config, Store(clients), executor, view, audit, feed.ready.is_set if feed else None, clock)
    rights = Rights(view, api.store, RightsStore(clients), writer, api.run, config.holidays, clock)
    api.rights = rights
    whitelist = Whitelist(view, writer, config, clock)
    reports = Reports(view, rights.rights_store, writer, api.run, config, api.decisions, clock)
    rights.reports_of = reports.listing
    loopback = "127.0.0.1" if config.host in ("", "0.0.0.0", "::") else config.host
    portal = Portal(f"http://{'[' + loopback + ']' if ':' in loopback else loopback}:{config.port}",
                    config.portal_idle_minutes, config.portal_max_hours)

    async def audit_refusal(route: str, reason: str, response: web.Response) -> web.Response:
        audit = api.audit_row(route, "")
        audit.update(reason=reason, status=response.status)
        return await api.audited(audit, response)
    portal.audit_refusal = audit_refusal
    portal.throttle = api.failures

    def identify(key: str) -> Optional[Principal]:  # the portal's sign-in, in this process: no HTTP round trip
        try:
            return api.key_principal(key)
        except LookupError_:
            return None
    portal.identify = identify
    deliveries = WebhookDeliveries(view, writer, config, api.ready, clock)
    app = application(api)

    async def health(request: web.Request) -> web.Response:
        if not api.ready():
            return json_answer({"status": "loading", "reason": "reading keys, consents and rows from Kafka"},
                                     status=503, headers={"Retry-After": "1"})
        return json_answer({"status": "ok", "enterprises": len(view.rows)})

    app.add_routes([
        web.get("/v1/enterprises/{uscc}/aggregates", api.aggregates),
        web.get("/v1/enterprises/{uscc}/history/{kind}", api.history),
        web.get("/v1/enterprises/{uscc}/records/{category}", api.records),
        web.post("/v1/sql", api.sql),
        web.post("/v1/enterprises/{uscc}/verify", api.verify),
        *rights_routes(api, rights),
        *whitelist_routes(api, whitelist),
        *report_routes(api, reports),
        *portal.routes(),
        *gateway_routes(api, Gateway(view, writer)),
        web.get("/openapi.json", openapi),
        web.get("/healthz", health),
    ])
    serve_metrics_beside(app, config.metrics_host, config.metrics_port)

    background: list[asyncio.Task] = []  # held, so the task is not garbage-collected

    async def watch_overdue() -> None:
        while True:
            disputes, repairs = rights.overdue()
            metrics.DISPUTES_OVERDUE.set(disputes)
            metrics.REPAIRS_OVERDUE.set(repairs)
            await asyncio.sleep(5)

    async def start_feed(_app) -> None:
        if feed is not None:
            feed.start()
        background.append(asyncio.get_running_loop().create_task(watch_overdue()))
        background.append(asyncio.get_running_loop().create_task(deliveries.run()))

    async def stop(_app) -> None:
        loop = asyncio.get_running_loop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if feed is not None:
            await loop.run_in_executor(None, feed.stop)
        await loop.run_in_executor(None, writer.close)
        await loop.run_in_executor(None, executor.shutdown)
        api.operator_sql.close()

    app.on_startup.append(start_feed)
    app.on_startup.append(portal.start)
    app.on_cleanup.append(stop)
    app.on_cleanup.append(portal.stop)
    return app


class ApiThread(threading.Thread):
    """The API on its own event loop in a daemon thread (inside the worker process, or a test)."""

    def __init__(self, config: ApiConfig, clients: ThreadClients | None = None):
        super().__init__(name="lender-api", daemon=True)
        self.config, self.clients = config, clients
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.app = create_app(self.config, self.clients)
        runner = web.AppRunner(self.app, access_log=None)
        try:
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, self.config.host, self.config.port).start())
        except BaseException as exc:
            self.error = exc
            self.started.set()
            return
        log.info("lender API on http://%s:%d", self.config.host, self.config.port)
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    @property
    def metrics_port(self) -> int:
        """The port its /metrics listens on (config.metrics_port, or the one picked for 0)."""
        return self.app[METRICS_PORT]

    def start_and_wait(self) -> "ApiThread":
        self.start()
        self.started.wait(30)
        if self.error:
            raise RuntimeError(f"lender API could not start: {self.error}") from self.error
        return self

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.join(30)


def create_gateway_app(config: ApiConfig) -> web.Application:
    """The provider push gateway alone (``creditstream gateway``), for a network the providers
    reach and lenders do not: it reads only the API keys from Kafka and never opens ClickHouse;
    requests are authenticated, rate-limited and audited like the API's."""
    view = ServingView()
    feed = ViewFeed(config.kafka, view, topics=(API_KEYS_TOPIC,))
    writer = KafkaWriter(config.kafka, config.audit_timeout_seconds)
    executor = ThreadPoolExecutor(1, thread_name_prefix="gateway")
    api = LenderApi(config, Store(ThreadClients(config.clickhouse_url)), executor, view, AuditLog(writer),
                    feed.ready.is_set)  # the store's clients connect lazily: the gateway's routes use none
    app = application(api)

    async def health(request: web.Request) -> web.Response:
        if not api.ready():
            return json_answer({"status": "loading", "reason": "reading API keys from Kafka"}, status=503,
                                     headers={"Retry-After": "1"})
        return json_answer({"status": "ok"})

    async def start(_app) -> None:
        feed.start()

    async def stop(_app) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, feed.stop)
        await loop.run_in_executor(None, writer.close)
        await loop.run_in_executor(None, executor.shutdown)

    app.add_routes([*gateway_routes(api, Gateway(view, writer)), web.get("/openapi.json", openapi),
                    web.get("/healthz", health)])
    serve_metrics_beside(app, config.metrics_host, config.metrics_port)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def serve(config: ApiConfig, exit_with_parent: bool = False, gateway_only: bool = False) -> int:
    """The API alone on this thread's event loop (``creditstream api``): started by the worker, or
    by hand with a ClickHouse server. ``exit_with_parent``: stop when the process that started it
    is gone (a worker killed outright cannot stop it). ``gateway_only``: the provider gateway alone."""
    app = create_gateway_app(config) if gateway_only else create_app(config)
    if exit_with_parent:
        parent = os.getppid()

        async def watch_parent(_app) -> None:
            async def watch() -> None:
                while os.getppid() == parent:
                    await asyncio.sleep(1.0)
                log.warning("the process that started the API is gone: stopping")
                os.kill(os.getpid(), signal.SIGTERM)  # run_app's own handler stops it cleanly
            watchers.append(asyncio.get_running_loop().create_task(watch()))

        watchers: list = []
        app.on_startup.append(watch_parent)
    web.run_app(app, host=config.host, port=config.port, access_log=None, loop=uvloop.new_event_loop(), print=None)
    return 0
