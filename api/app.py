"""Composition: the API's and the gateway's aiohttp apps, built from their rooms and the route
table, and the ways to run them (``creditstream api``, ``creditstream gateway``, a thread).

What the app is handed, a test may replace: the view (else read from Kafka by a feed thread, and
the app answers 503 until it is loaded), the Kafka writer (else a librdkafka producer; tests hand
in ``api.writer.MemoryWriter``), ClickHouse's clients and the clock.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from creditstream.api.access import Principal
from creditstream.api.audit import AuditLog
from creditstream.api.audit_journal import AuditJournal
from creditstream.api.config import ApiConfig
from creditstream.api.finance import Finance
from creditstream.api.gateway import MAX_BYTES, Gateway
from creditstream.api.http.answers import json_answer, request_ids
from creditstream.api.http.pipeline import Pipeline, Route, endpoint
from creditstream.api.lookups import Lookups
from creditstream.api.openapi import document
from creditstream.api.operator import OperatorSql
from creditstream.api.portal import Portal
from creditstream.api.reports import Reports
from creditstream.api.rights import Rights
from creditstream.api.routes import Rooms, api_routes, gateway_only_routes
from creditstream.api.row_store import DiskRows
from creditstream.api.store import RightsStore, Store
from creditstream.api.view import ServingView, ViewFeed
from creditstream.api.whitelist import WebhookDeliveries, Whitelist
from creditstream.api.writer import KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas.topics import API_KEYS_TOPIC
from creditstream.sinks.clickhouse import ThreadClients  # the declared seam: the sink's ClickHouse access

log = logging.getLogger("creditstream.api")
METRICS_PORT = web.AppKey("metrics_port", int)
PARSER_LIMITS = {"max_line_size": 65536, "max_field_size": 65536}  # above ours: the pipeline answers


async def whoami(principal: Principal, request: web.Request, audit: dict) -> dict:
    """Who this key belongs to (``creditstream <kind>s add`` waits for it to answer 200)."""
    return {"kind": principal.kind, "id": principal.id, "key_id": principal.key_id}


def create_app(config: ApiConfig, clients: ThreadClients | None = None, clock=None, view: ServingView | None = None,
               writer=None) -> web.Application:
    """The API: look-ups, the enterprise's rights, lender services, reports, the gateway and the
    portal, on one pipeline."""
    clients = clients or ThreadClients(config.clickhouse_url)
    feed = None
    if view is None:
        view = ServingView(DiskRows(Path(config.view_dir), config.view_cache_rows) if config.view_dir else None)
        feed = ViewFeed(config.kafka, view)
    writer = writer or KafkaWriter(config.kafka, config.audit_timeout_seconds)
    ready = feed.ready.is_set if feed else None
    audit = (AuditJournal(Path(config.view_dir) / "audit-journal", writer, config.audit_backlog_bytes,
                          close_seconds=2 * config.audit_timeout_seconds)
             if config.view_dir and config.audit_journal else AuditLog(writer))
    pipeline = Pipeline(config, view, audit, ready, clock)
    executor = ThreadPoolExecutor(config.threads, thread_name_prefix="api-clickhouse")
    rights_store = RightsStore(clients)
    lookups = Lookups(config, view, Store(clients), rights_store, executor, clock)
    rights = Rights(view, lookups.store, rights_store, writer, lookups.run, config.holidays, clock)
    reports = Reports(view, rights_store, writer, lookups.run, config, lookups.decisions, clock)
    rights.reports_of = reports.listing
    operator_sql = OperatorSql(config.clickhouse_url)
    finance = Finance(view, lookups.store, writer, lookups.run, rights, config.finance, config.holidays, clock)
    rooms = Rooms(lookups, rights, Whitelist(view, writer, config, clock), reports, operator_sql,
                  Gateway(view, writer), health_of(pipeline, lambda: {"enterprises": len(view.rows)}), None, whoami,
                  finance)
    app = application(pipeline, api_routes, rooms)
    portal = Portal(loopback_url(config), config.portal_idle_minutes, config.portal_max_hours, pipeline.identify,
                    pipeline.failures, pipeline.audit_refusal)
    app.add_routes(portal.routes())
    deliveries = WebhookDeliveries(view, writer, config, pipeline.ready, clock)

    async def watch_overdue() -> None:
        while True:
            disputes, repairs = rights.overdue()
            metrics.DISPUTES_OVERDUE.set(disputes)
            metrics.REPAIRS_OVERDUE.set(repairs)
            per_lender, claims = finance.overdue_counts()
            for lender, count in per_lender.items():
                metrics.FINANCE_APPLICATIONS_OVERDUE.labels(lender).set(count)
            metrics.FINANCE_CLAIMS_OVERDUE.set(claims)
            await asyncio.sleep(5)

    async def publish_statistics() -> None:
        """Every statistics_publish_seconds once the view is loaded, the loan statistics from
        ClickHouse: this month's figures into the creditstream_finance_month gauges (Grafana), the
        public rows that changed to the provincial node; a failed round (ClickHouse or Kafka away)
        is tried again next time."""
        while True:
            await asyncio.sleep(config.statistics_publish_seconds)
            if pipeline.ready():
                try:
                    await finance.publish_statistics()
                except Exception as exc:
                    log.warning("loan statistics not refreshed or published this round: %r", exc)

    async def close() -> None:
        executor.shutdown()
        operator_sql.close()
    run_beside(app, feed, writer, [watch_overdue, deliveries.run, publish_statistics, audit.run], close, audit)
    app.on_startup.append(portal.start)
    app.on_cleanup.append(portal.stop)
    serve_metrics_beside(app, config.metrics_host, config.metrics_port)
    return app


def create_gateway_app(config: ApiConfig, view: ServingView | None = None, writer=None) -> web.Application:
    """The provider push gateway alone (``creditstream gateway``), for a network the providers
    reach and lenders do not: it reads only the API keys from Kafka and never opens ClickHouse;
    requests are authenticated, rate-limited and audited like the API's."""
    feed = None
    if view is None:
        view = ServingView()
        feed = ViewFeed(config.kafka, view, topics=(API_KEYS_TOPIC,))
    writer = writer or KafkaWriter(config.kafka, config.audit_timeout_seconds)
    pipeline = Pipeline(config, view, AuditLog(writer), feed.ready.is_set if feed else None)
    rooms = Rooms(None, None, None, None, None, Gateway(view, writer), health_of(pipeline, dict), None, whoami)
    app = application(pipeline, gateway_only_routes, rooms)
    run_beside(app, feed, writer, [], None)
    serve_metrics_beside(app, config.metrics_host, config.metrics_port)
    return app


def application(pipeline: Pipeline, routes_of, rooms: Rooms) -> web.Application:
    """An aiohttp app on the pipeline, with exactly the routes of the table and the document of
    exactly those."""
    logging.getLogger("aiohttp.server").addFilter(QuietBadRequests())
    app = web.Application(middlewares=[request_ids, pipeline.middleware], handler_args=PARSER_LIMITS,
                          client_max_size=MAX_BYTES + 65536)  # the gateway's batches; it answers 413 beyond
    spec: dict = {}

    async def openapi(request: web.Request) -> web.Response:
        return json_answer(spec)
    routes: list[Route] = routes_of(rooms._replace(openapi=openapi))
    spec.update(document(routes))
    for route in routes:
        app.router.add_route(route.method, route.path, endpoint(route))
    app[ROUTES] = routes
    return app


ROUTES = web.AppKey("routes", list)


def health_of(pipeline: Pipeline, details):
    async def health(request: web.Request) -> web.Response:
        if not pipeline.ready():
            return json_answer({"status": "loading", "reason": "reading keys (and consents and rows) from Kafka"},
                               status=503, headers={"Retry-After": "1"})
        return json_answer({"status": "ok", **details()})
    return health


def run_beside(app: web.Application, feed: Optional[ViewFeed], writer, tasks: list, close, audit=None) -> None:
    """Start the view's feed and the background tasks with the app; stop them, let the audit ship
    what it holds, flush the writer and ``close()`` with it."""
    running: list[asyncio.Task] = []  # held, so a task is not garbage-collected

    async def start(_app) -> None:
        if feed is not None:
            feed.start()
        loop = asyncio.get_running_loop()
        running.append(asyncio.ensure_future(loop.run_in_executor(None, writer.connect)))  # not awaited
        running.extend(loop.create_task(task()) for task in tasks)

    async def stop(_app) -> None:
        loop = asyncio.get_running_loop()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if feed is not None:
            await loop.run_in_executor(None, feed.stop)
        if audit is not None:
            await audit.close()
        await loop.run_in_executor(None, writer.close)
        if close is not None:
            await close()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def loopback_url(config: ApiConfig) -> str:
    """The API's own address as the portal calls it."""
    host = "127.0.0.1" if config.host in ("", "0.0.0.0", "::") else config.host
    return f"http://{'[' + host + ']' if ':' in host else host}:{config.port}"


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
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
        app[METRICS_PORT] = runner.addresses[0][1]
        log.info("metrics on http://%s:%d/metrics", host, app[METRICS_PORT])

    async def stop(_app) -> None:
        for runner in runners:
            await runner.cleanup()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)


class QuietBadRequests(logging.Filter):
    """aiohttp logs a traceback for every malformed request (a client's fault, not ours): one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.exc_info and record.getMessage().startswith("Error handling request")
                and isinstance(record.exc_info[1], HttpProcessingError)):  # a handler's bug keeps its traceback
            record.msg, record.args = f"bad request refused by the HTTP parser: {record.exc_info[1]!s:.120}", ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class ApiThread(threading.Thread):
    """The API on its own event loop in a daemon thread (a test, a benchmark)."""

    def __init__(self, config: ApiConfig, clients: ThreadClients | None = None):
        super().__init__(name="lender-api", daemon=True)
        self.config, self.clients = config, clients
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self.app: web.Application | None = None

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


def serve(config: ApiConfig, exit_with_parent: bool = False, gateway_only: bool = False) -> int:
    """The API alone on this thread's event loop (``creditstream api``): started by the worker, or
    by hand with a ClickHouse server. ``exit_with_parent``: stop when the process that started it
    is gone (a worker killed outright cannot stop it). ``gateway_only``: the provider gateway alone."""
    app = create_gateway_app(config) if gateway_only else create_app(config)
    if exit_with_parent:
        parent = os.getppid()
        watchers: list = []

        async def watch_parent(_app) -> None:
            async def watch() -> None:
                while os.getppid() == parent:
                    await asyncio.sleep(1.0)
                log.warning("the process that started the API is gone: stopping")
                os.kill(os.getpid(), signal.SIGTERM)  # run_app's own handler stops it cleanly
            watchers.append(asyncio.get_running_loop().create_task(watch()))
        app.on_startup.append(watch_parent)
    web.run_app(app, host=config.host, port=config.port, access_log=None, loop=uvloop.new_event_loop(), print=None)
    return 0
