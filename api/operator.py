"""Operators' SQL on a pool of its own (sinks.operator_sql says what may run and who enforces it).

Two threads, each with a read-only session client, and at most ``QUEUE`` statements waiting: a
burst of slow operator queries is answered 429 instead of growing a queue, and the look-ups and
the enterprise's self-queries, on the API's own query threads, never wait behind them (the probe
measured a 35 s ``GET /v1/me`` behind five slow statements on the shared pool)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from creditstream.sinks.clickhouse import ThreadClients  # the declared seam: the sink's ClickHouse access
from creditstream.sinks.operator_sql import SESSION_LIMITS, run_operator_query

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

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
