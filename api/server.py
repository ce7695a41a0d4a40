"""HTTP/JSON lender API (aiohttp). Queries run on a thread pool, one ClickHouse client per thread,
never on the event loop. Every look-up, allowed or refused, is audited before the answer leaves."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from creditstream.api.access import SCOPES, Decision, Principal, decide, field_scope
from creditstream.api.config import ApiConfig
from creditstream.api.openapi import OPENAPI
from creditstream.api.store import HISTORY_KINDS, Store
from creditstream.monitoring import metrics
from creditstream.schemas import apikeys
from creditstream.schemas.models import PUBLIC, UTILITY_AND_TAX
from creditstream.schemas.months import parse_month
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import REGISTER_CATEGORIES, UTILITIES
from creditstream.schemas.uscc import normalise_uscc, uscc_problem
from creditstream.sinks.clickhouse import ThreadClients  # the declared seam: the sink's ClickHouse access

log = logging.getLogger("creditstream.api")
UTC = dt.timezone.utc


class LookupError_(Exception):
    def __init__(self, status: int, error: str, reason: str, decision: str = "deny", scope: str = "",
                 consent_event_id=None):
        self.status, self.error, self.reason = status, error, reason
        self.decision, self.scope, self.consent_event_id = decision, scope, consent_event_id


class LenderApi:
    def __init__(self, store: Store, executor: ThreadPoolExecutor, clock=None):
        self.store, self.executor = store, executor
        self.clock = clock or (lambda: dt.datetime.now(UTC))

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- authentication ----------------------------------------------------------------------
    async def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
        if not key:
            raise LookupError_(401, "unauthorized", "no API key: send Authorization: Bearer <key>")
        key_id = apikeys.key_id_of(key)
        row = await self.run(self.store.key, key_id) if key_id else None
        if row is None:
            raise LookupError_(401, "unauthorized", "unknown API key")
        if row["revoked"]:
            raise LookupError_(401, "unauthorized", f"API key {key_id} was revoked")
        if not apikeys.matches(key, row["key_hash"]):
            raise LookupError_(401, "unauthorized", "unknown API key")
        return Principal(row["principal_kind"], row["principal_id"], key_id)

    # -- handlers ------------------------------------------------------------------------------
    async def aggregates(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "aggregates", self._aggregates)

    async def history(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "history", self._history)

    async def records(self, request: web.Request) -> web.Response:
        return await self.lookup(request, "records", self._records)

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
        if not await self.run(self.store.known, uscc):
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                               consent_event_id=audit["consent_event_id"])
        items = await self.run(self.store.records, uscc, records)
        return {"uscc": uscc, "category": category, "items": items}

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
        found = await self.run(self.store.aggregates, uscc)
        if found is None:
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow",
                               scope=audit["scope"], consent_event_id=audit["consent_event_id"])
        row, updated_at = found
        # public credit information for every lender; the rest under the matching consent; the
        # evaluation's score and points only under both UTILITY and TAX (platform-services.md)
        visible = {PUBLIC, *allowed}
        if "UTILITY" in allowed and "TAX" in allowed:
            visible.add(UTILITY_AND_TAX)
        body = {"uscc": uscc, "as_of_month": row.as_of_month, "as_of_date": row.as_of_date,
                "updated_at": updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "consented_scopes": allowed,
                "withheld": {s: decisions[s].reason for s in SCOPES if s not in allowed}}
        body.update({k: v for k, v in row.values.items() if field_scope(k) in visible})
        refused = [f"{s}: {decisions[s].reason}" for s in SCOPES if s not in allowed]
        audit["reason"] = "; ".join([f"{s}: {decisions[s].reason}" for s in allowed] + refused)
        return body

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
        if not await self.run(self.store.known, uscc):
            raise LookupError_(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                               consent_event_id=decision.consent_event_id)
        items = await self.run(self.store.history, uscc, kind, first, last)
        return {"uscc": uscc, "kind": kind, "items": items}

    async def decisions(self, principal: Principal, uscc: str, scopes) -> dict[str, Decision]:
        consent = None
        if principal.kind == "lender":
            consent = await self.run(self.store.consent, uscc, principal.id)
        now = self.clock()
        return {scope: decide(principal, uscc, scope, consent, now) for scope in scopes}

    async def lookup(self, request: web.Request, route: str, handler) -> web.Response:
        started = time.perf_counter()
        raw_uscc = request.match_info["uscc"]
        uscc = normalise_uscc(raw_uscc)
        audit = {"at": self.clock(), "request_id": uuid.uuid4().hex, "principal_kind": "anonymous",
                 "principal_id": "", "key_prefix": "", "route": route, "uscc": uscc, "scope": "",
                 "decision": "deny", "reason": "", "consent_event_id": None, "status": 200}
        try:
            principal = await self.principal(request)
            audit.update(principal_kind=principal.kind, principal_id=principal.id, key_prefix=principal.key_id)
            problem = uscc_problem(uscc)
            if problem:
                raise LookupError_(400, "invalid_uscc", problem)
            body = await handler(principal, uscc, request, audit)
            audit["decision"] = "allow"
            response = web.json_response(body)
        except LookupError_ as exc:
            audit.update(status=exc.status, decision=exc.decision, reason=exc.reason,
                         scope=exc.scope or audit["scope"],
                         consent_event_id=exc.consent_event_id or audit["consent_event_id"])
            response = web.json_response({"error": exc.error, "reason": exc.reason}, status=exc.status)
        response.headers["X-Request-Id"] = audit["request_id"]
        await self.run(self.store.audit, LookupAuditRow(**audit))
        metrics.API_REQUESTS.labels(route, str(response.status)).inc()
        metrics.API_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def prometheus(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(config: ApiConfig, clients: ThreadClients | None = None, clock=None) -> web.Application:
    clients = clients or ThreadClients(config.clickhouse_url)
    executor = ThreadPoolExecutor(config.threads, thread_name_prefix="api-clickhouse")
    api = LenderApi(Store(clients), executor, clock)
    app = web.Application()
    app.add_routes([
        web.get("/v1/enterprises/{uscc}/aggregates", api.aggregates),
        web.get("/v1/enterprises/{uscc}/history/{kind}", api.history),
        web.get("/v1/enterprises/{uscc}/records/{category}", api.records),
        web.get("/openapi.json", openapi),
        web.get("/metrics", prometheus),
        web.get("/healthz", health),
    ])
    app.on_cleanup.append(lambda _: asyncio.get_running_loop().run_in_executor(None, executor.shutdown))
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
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(create_app(self.config, self.clients), access_log=None)
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


def serve(config: ApiConfig) -> int:
    """The API alone on this thread's event loop (``creditstream api``, with a ClickHouse server)."""
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None)
    return 0
