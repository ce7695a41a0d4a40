"""Read-only ClickHouse queries for another process, over loopback: how the lender API, in a
process of its own, reads an embedded ClickHouse that only the sink service's process may open
(chdb: one process per data directory). The API's look-ups need no ClickHouse at all (they are
served from memory); history, records, rights and operators' SQL use this.

``sinkservice://:<token>@127.0.0.1:<port>`` is the URL the API is given (sinks.clickhouse.connect
turns it into a RemoteClient); every request carries the token, and the service binds to loopback
only. Queries run with readonly=1 on a pool of threads, one chdb client each. Operators' SQL has
an endpoint of its own (``/operator``): clients whose session is read-only with the operator limits
(sinks.operator_sql), at most ``OPERATOR_CONCURRENCY`` at a time, so the API's own queries never
queue behind an operator's.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlparse

from creditstream.sinks.clickhouse import ThreadClients, json_value
from creditstream.sinks.operator_sql import SESSION_LIMITS

log = logging.getLogger("creditstream.sink.query")
SCHEME = "sinkservice"
UTC = dt.timezone.utc


def plain(value: Any) -> Any:
    """A ClickHouse value as JSON can carry it (instants in UTC with Z, dates ISO, Decimals, UUIDs
    and IP addresses as text)."""
    return json_value(value)


OPERATOR_CONCURRENCY = 2  # operators' queries running at once in the sink service


class QueryService(threading.Thread):
    def __init__(self, clients: ThreadClients, token: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(name="sink-query-service", daemon=True)
        service = self
        operator_clients = ThreadClients(clients.url, session=SESSION_LIMITS)
        operator_slots = threading.BoundedSemaphore(OPERATOR_CONCURRENCY)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                if not hmac.compare_digest(self.headers.get("X-Query-Token", ""), service.token):
                    return self.answer(403, {"error": "bad token"})
                try:
                    request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                    if self.path == "/operator":  # the session's settings are the limits; none from the request
                        with operator_slots:
                            result = operator_clients.get().query(request["sql"])
                    else:
                        settings = {**(request.get("settings") or {}), "readonly": 1}
                        result = clients.get().query(request["sql"], parameters=request.get("parameters"),
                                                     settings=settings)
                    body = {"columns": list(result.column_names), "rows": [json_value(list(r)) for r in result.result_rows]}
                except Exception as exc:  # the query's own error, for the caller to report
                    return self.answer(400, {"error": str(exc).strip().splitlines()[0][:1000] if str(exc).strip()
                                             else type(exc).__name__})
                self.answer(200, body)

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # no line per query
                pass

        self.token = token
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        self.server.shutdown()


class RemoteResult:
    def __init__(self, columns: list[str], rows: list[list]):
        self.column_names = tuple(columns)
        self.result_rows = [tuple(r) for r in rows]

    def named_results(self):
        return (dict(zip(self.column_names, row)) for row in self.result_rows)


class RemoteClient:
    """The part of a clickhouse-connect client the API uses (``query``), through a QueryService."""

    def __init__(self, url: str, operator: bool = False):
        parts = urlparse(url)
        self.endpoint = f"http://{parts.hostname}:{parts.port}/{'operator' if operator else 'query'}"
        self.token = parts.password or ""

    def query(self, sql: str, parameters: Optional[dict] = None, settings: Optional[dict] = None) -> RemoteResult:
        data = json.dumps({"sql": sql, "parameters": json_value(parameters or {}), "settings": settings or {}}).encode()
        request = urllib.request.Request(self.endpoint, data=data, method="POST", headers={
            "Content-Type": "application/json", "X-Query-Token": self.token})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                reason = exc.reason
            raise RuntimeError(reason) from None
        return RemoteResult(body["columns"], body["rows"])
