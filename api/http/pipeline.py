"""One request pipeline for every keyed route of the API and the gateway.

A route is declared once, in api/routes.py, as a ``Route``: method, path, the name its audit rows
and metrics carry, the principal kinds that may call it, and what its OpenAPI operation says. Its
handler is a plain ``async def handler(principal, request, audit)`` that returns the answer's
data (a dict, ready JSON bytes, ``(status, data)``, or a whole ``web.Response`` for a page or a
file) or raises ``ApiError``; it may fill the audit row's ``scope``, ``consent_event_id`` and
``reason``. ``Pipeline.middleware`` does the rest, in this order:

1. the request target and header sizes (414, 431: before anything is parsed further);
2. ready? (503 while the view is loading);
3. the key → the principal (401; an address with too many failures: 429);
4. the principal's kind against the route's kinds (403) — the only place that decides it;
5. the key's rate limit (429);
6. the USCC in the path (400);
7. idempotency: a repeated write with the same Idempotency-Key gets its first answer;
8. the handler;
9. the audit row, durable in Kafka before the answer leaves (else 503).

Routes with ``keyed=False`` (health, the OpenAPI document, a report's public verification) skip
2-9; a request that matches no route passes through untouched (the portal's pages).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.audit import AuditLog, AuditUnavailable
from creditstream.api.config import ApiConfig
from creditstream.api.http.answers import REQUEST_ID, json_answer
from creditstream.api.http.errors import ApiError, unavailable
from creditstream.api.limits import FailureThrottle, RateLimiter
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaUnavailable
from creditstream.monitoring import metrics
from creditstream.schemas import apikeys
from creditstream.schemas.finance import FinanceError
from creditstream.schemas.months import shorten
from creditstream.schemas.services import RightsError
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.uscc import normalise_uscc, uscc_problem

log = logging.getLogger("creditstream.api")
UTC = dt.timezone.utc
KINDS = ("lender", "enterprise", "operator", "provider")
STORED_USCC_LIMIT = 40  # what an audit row keeps of a USCC that is not one
Handler = Callable[[Principal, web.Request, dict], Awaitable[object]]


FINANCE_ERRORS = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "not_eligible"}


@dataclass(frozen=True)
class Route:
    """One route: where, who, and what its OpenAPI operation says (api/openapi.py builds it)."""
    method: str
    path: str
    name: str  # the audit rows' and metrics' route label
    handler: Handler
    kinds: tuple[str, ...] = KINDS  # the principal kinds that may call it
    summary: str = ""
    description: str = ""  # more than the summary, when a client needs it
    params: tuple = ()  # OpenAPI parameters (path and query); the USCC's comes from the path
    body: Optional[dict] = None  # the JSON request body's schema
    ok: str = "200"  # the status of a successful answer
    answer: Optional[dict] = None  # the successful answer's schema (default: an object)
    keyed: bool = True  # False: no key, not audited (health, the document, a report's verification)
    doc: dict = field(default_factory=dict)  # more of the OpenAPI operation (responses, content types)


class Pipeline:
    def __init__(self, config: ApiConfig, view: ServingView, audit: AuditLog, ready: Callable[[], bool] | None = None,
                 clock: Callable[[], dt.datetime] | None = None):
        self.config, self.view, self.audit = config, view, audit
        self.ready = ready or (lambda: True)
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.limiter = RateLimiter(config.rate_per_second, config.rate_burst)
        self.failures = FailureThrottle(config.auth_failures_limit, 60.0, config.auth_block_seconds)
        self.idempotency = IdempotencyCache()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        route: Optional[Route] = getattr(request.match_info.handler, "route", None)
        refusal = self.oversized(request)
        if refusal is not None:
            return await self.refused_before_routing(request, route, refusal)
        if route is None or not route.keyed:
            return await handler(request)
        return await self.serve(request, route)

    async def serve(self, request: web.Request, route: Route) -> web.Response:
        started = time.perf_counter()
        uscc = normalise_uscc(request.match_info.get("uscc", ""))
        audit = self.audit_row(route.name, uscc)
        principal = None
        try:
            if not self.ready():
                raise ApiError(503, "unavailable", "the API is still loading keys, consents and rows", retry_after=1)
            principal = self.authenticated(request)
            audit.update(principal_kind=principal.kind, principal_id=principal.id, key_prefix=principal.key_id)
            if principal.kind not in route.kinds:
                raise ApiError(403, "forbidden", f"{route.method} {route.path} is for {' and '.join(route.kinds)} "
                                                 f"keys, not {principal.kind} keys")
            wait = self.limiter.wait_needed(principal.key_id)
            if wait:
                metrics.API_RATE_LIMITED.inc()
                raise ApiError(429, "too_many_requests", f"API key {principal.key_id} exceeded "
                               f"{self.config.rate_per_second:g} requests per second", retry_after=wait)
            problem = uscc_problem(uscc) if "uscc" in request.match_info else None
            if problem:
                raise ApiError(400, "invalid_uscc", problem)
            response = await self.answer(principal, request, route, audit)
        except RightsError as exc:  # a contract rule refused a field
            response = self.refusal(ApiError(400, "bad_request", exc.message, exc.field), principal, request, audit)
        except FinanceError as exc:  # a rule of the loan loop: bad input, unknown, wrong state or not eligible
            response = self.refusal(ApiError(exc.status, FINANCE_ERRORS[exc.status], exc.message, exc.field,
                                             state=exc.state), principal, request, audit)
        except ApiError as exc:
            response = self.refusal(exc, principal, request, audit)
        except KafkaUnavailable as exc:
            log.warning("%s %s not accepted: %s", route.name, audit["request_id"], exc)
            audit.update(status=503, reason=f"Kafka unavailable: {exc}")
            response = unavailable("the platform cannot record this now; nothing was changed: try again").answer()
        except Exception:  # a platform bug: answered and audited all the same, logged once
            log.exception("%s %s failed", route.name, audit["request_id"])
            audit.update(status=500, decision="deny", reason="internal error")
            response = json_answer({"error": "internal", "reason": "internal error; it was logged with request id "
                                                                   f"{audit['request_id']}"}, status=500)
        response = await self.audited(audit, response)
        metrics.API_REQUESTS.labels(route.name, str(response.status)).inc()
        metrics.API_SECONDS.labels(route.name).observe(time.perf_counter() - started)
        return response

    async def answer(self, principal: Principal, request: web.Request, route: Route, audit: dict) -> web.Response:
        """The handler's answer, or the first answer to this Idempotency-Key."""
        replay = self.idempotency.get(principal, request)
        if replay is not None:  # the same write again: the first answer, not a second write
            status, body = replay
            audit["reason"] = "repeated Idempotency-Key: the first answer"
        else:
            status, body = int(route.ok), await route.handler(principal, request, audit)
            if isinstance(body, tuple):
                status, body = body
            if not isinstance(body, web.Response):
                self.idempotency.put(principal, request, status, body)
        audit["decision"] = "allow"
        if isinstance(body, web.Response):  # a page or a file (a report's HTML or PDF)
            return body
        return json_answer(body, status=status)

    def refusal(self, exc: ApiError, principal: Optional[Principal], request: web.Request, audit: dict) -> web.Response:
        audit.update(status=exc.status, decision=exc.decision, reason=exc.reason, scope=exc.scope or audit["scope"],
                     consent_event_id=exc.consent_event_id or audit["consent_event_id"])
        if principal is not None and exc.status in (400, 404, 409, 413, 422):  # the request's own fault: a retry
            self.idempotency.put(principal, request, exc.status, exc.body())  # with the same key gets the same
        return exc.answer()

    # -- authentication --------------------------------------------------------------------------
    def authenticated(self, request: web.Request) -> Principal:
        """The request's principal, unless its address is blocked for failing too often (429)."""
        address = request.remote or ""
        wait = self.failures.wait_needed(address)
        if wait:
            metrics.API_AUTH_THROTTLED.inc()
            raise ApiError(429, "too_many_requests", "too many failed authentications from this address; try again "
                                                     "later", retry_after=wait)
        try:
            return self.principal(request)
        except ApiError:
            if self.failures.failed(address):
                log.warning("authentication failures from %s: refused for %g s", address, self.config.auth_block_seconds)
            raise

    def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
        if not key:
            raise ApiError(401, "unauthorized", "no API key: send Authorization: Bearer <key>")
        return self.key_principal(key)

    def key_principal(self, key: str) -> Principal:
        """The principal of an API key; 401 saying why not."""
        if not key.isascii() or not key.isprintable():
            raise ApiError(401, "unauthorized", "malformed API key: keys are printable ASCII")
        key_id = apikeys.key_id_of(key)
        entry = self.view.key(key_id) if key_id else None
        if entry is None:
            raise ApiError(401, "unauthorized", "unknown API key")
        if entry.revoked:
            raise ApiError(401, "unauthorized", f"API key {key_id} was revoked")
        if not apikeys.matches(key, entry.key_hash):
            raise ApiError(401, "unauthorized", "unknown API key")
        return Principal(entry.principal_kind, entry.principal_id, key_id)

    def identify(self, key: str) -> Optional[Principal]:
        """The portal's sign-in: the key's principal, or None."""
        try:
            return self.key_principal(key)
        except ApiError:
            return None

    # -- the audit ---------------------------------------------------------------------------------
    def audit_row(self, route: str, uscc: str) -> dict:
        return {"at": self.clock(), "request_id": uuid.uuid4().hex, "principal_kind": "anonymous",
                "principal_id": "", "key_prefix": "", "route": route, "uscc": shorten(uscc, STORED_USCC_LIMIT),
                "scope": "", "decision": "deny", "reason": "", "consent_event_id": None, "status": 200}

    async def audited(self, audit: dict, response: web.Response) -> web.Response:
        """The response, once its audit record is durable; 503 if it cannot be made so."""
        audit["status"] = response.status
        response.headers[REQUEST_ID] = audit["request_id"]
        try:
            await self.audit.write(LookupAuditRow(**audit))
        except AuditUnavailable as exc:
            metrics.API_AUDIT_FAILURES.inc()
            log.warning("%s %s not answered: %s", audit["route"], audit["request_id"], exc)
            response = unavailable("the request could not be audited; try again").answer()
            response.headers[REQUEST_ID] = audit["request_id"]
        return response

    async def audit_refusal(self, route: str, reason: str, response: web.Response) -> web.Response:
        """A refusal outside a route (the portal's unreadable form), audited like one."""
        audit = self.audit_row(route, "")
        audit.update(reason=reason, status=response.status)
        return await self.audited(audit, response)

    # -- sizes -------------------------------------------------------------------------------------
    def oversized(self, request: web.Request) -> Optional[ApiError]:
        """414 for an oversized request target, 431 for an oversized header field."""
        if len(request.raw_path) > self.config.max_url_bytes:
            return ApiError(414, "uri_too_long", f"the request target has {len(request.raw_path)} bytes; at most "
                                                 f"{self.config.max_url_bytes} are accepted")
        for name, value in request.raw_headers:
            if len(name) + len(value) > self.config.max_header_bytes:
                return ApiError(431, "header_too_large", f"header {shorten(name.decode('latin-1'))} has {len(value)} "
                                                         f"bytes; at most {self.config.max_header_bytes} are accepted")
        return None

    async def refused_before_routing(self, request: web.Request, route: Optional[Route],
                                     refusal: ApiError) -> web.Response:
        """A size refusal; on a keyed route it is audited like any other (with the USCC shortened)."""
        if route is None or not route.keyed:
            return refusal.answer()
        audit = self.audit_row("refused", normalise_uscc(request.match_info.get("uscc", "")))
        audit.update(reason=refusal.reason)
        response = await self.audited(audit, refusal.answer())
        metrics.API_REQUESTS.labels("refused", str(response.status)).inc()
        return response


class IdempotencyCache:
    """The first answer to a write per (API key, Idempotency-Key), for 24 hours, at most 10,000 kept.
    In memory: after a restart a retried write is recognised by the id it derives from the key
    (api.http.params.stable_id) instead."""
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


def endpoint(route: Route):
    """The aiohttp handler registered for a route: the pipeline answers keyed routes; the others
    are their handler's own (called with the request alone)."""
    async def handle(request: web.Request):
        return await route.handler(request)
    handle.route = route  # what the middleware reads back from request.match_info.handler
    return handle
