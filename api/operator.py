"""Operators' SQL on a pool of its own (sinks.operator_sql says what may run and who enforces it).

Two threads, each with a read-only session client, and at most ``QUEUE`` statements waiting: a
burst of slow operator queries is answered 429 instead of growing a queue, and the look-ups and
the enterprise's self-queries, on the API's own query threads, never wait behind them (the probe
measured a 35 s ``GET /v1/me`` behind five slow statements on the shared pool)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import json_body
from creditstream.sinks.clickhouse import ThreadClients  # the declared seam: the sink's ClickHouse access
from creditstream.sinks.operator_sql import (
    MAX_RESULT_ROWS,
    SESSION_LIMITS,
    SqlRefused,
    audit_text,
    run_operator_query,
)

THREADS = 2
QUEUE = 8  # statements waiting for a thread, beyond the running ones


class OperatorSqlBusy(Exception):
    """Every operator thread is busy and the queue is full."""


class OperatorSql:
    def __init__(self, clickhouse_url: str, threads: int = THREADS, queue: int = QUEUE):
        self.clients = ThreadClients(clickhouse_url, session=SESSION_LIMITS)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="api-operator-sql")
        self.capacity, self.in_flight = threads + queue, 0

    async def run(self, query: str) -> tuple[list[str], list[list]]:
        if self.in_flight >= self.capacity:
            raise OperatorSqlBusy(f"{self.in_flight} operator queries are running or waiting; try again later")
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, lambda: run_operator_query(self.clients.get(), query))
        finally:
            self.in_flight -= 1

    async def query(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """``POST /v1/sql {"query": "SELECT ..."}``: one read-only SELECT over the platform's tables."""
        query = (await json_body(request)).get("query")
        if not isinstance(query, str) or not query.strip():
            raise ApiError(400, "bad_request", 'send a JSON object {"query": "SELECT ..."}', "query")
        audit["reason"] = audit_text(query)
        try:
            columns, rows = await self.run(query)
        except SqlRefused as exc:
            raise ApiError(400, "refused_query", str(exc), "query") from None
        except OperatorSqlBusy as exc:
            raise ApiError(429, "too_many_requests", str(exc), retry_after=5) from None
        except Exception as exc:  # ClickHouse refused it: the operator's query, not our fault
            raise ApiError(400, "bad_query", str(exc).strip().splitlines()[0][:500]) from None
        return {"columns": columns, "rows": rows, "truncated": len(rows) >= MAX_RESULT_ROWS}

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
