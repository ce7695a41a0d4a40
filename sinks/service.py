"""The sink service: the ClickHouse sink, and the lender API when ClickHouse is embedded, in a
process of their own. The worker starts it (``SinkService``) so that the sink's Python work
(parsing rows, building insert blocks) never competes with the Faust agents for the GIL; with
embedded ClickHouse the API must live in the same process as the sink (one process per chdb
data directory).

Its metrics are served on ``sink_metrics_port`` (loopback) and appended to the worker's own
``/metrics``, so an operator scrapes one endpoint per worker. The two processes live and die
together: the worker exits when the service does, the service when its worker is gone.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request

from creditstream.settings import Settings

log = logging.getLogger("creditstream.sink")


def run_sink_service(settings: Settings) -> int:
    """``creditstream sink``: runs until the sink stops or the parent worker is gone."""
    from prometheus_client import start_http_server

    from monitoring import metrics
    from sinks.sink import ClickHouseSink

    parent = os.getppid()
    sink = ClickHouseSink(settings)
    sink.start()
    if not sink.ready.wait(120):
        raise SystemExit("the ClickHouse sink did not start within 120 s")
    if settings.api_enabled:
        from api.server import ApiThread

        ApiThread(settings).start_and_wait()
    # only the sink/API series: the worker appends them to its own /metrics
    start_http_server(settings.sink_metrics_port, addr=settings.web_host, registry=metrics.SERVICE)
    log.info("sink service ready; metrics on %s:%d", settings.web_host, settings.sink_metrics_port)
    while sink.is_alive() and os.getppid() == parent:
        time.sleep(0.5)
    sink.stop()
    return 0


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SinkService:
    """The worker's handle on its sink service process."""

    def __init__(self, settings: Settings):
        port = settings.sink_metrics_port or free_port(settings.web_host)
        self.settings = settings.replace(sink_metrics_port=port)
        self.url = f"http://{settings.web_host}:{port}/metrics"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 150.0) -> "SinkService":
        env = {**os.environ, **self.settings.to_env()}
        self.proc = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "sink"], env=env)
        deadline = time.monotonic() + timeout
        while self.metrics_text() is None:
            if self.proc.poll() is not None:
                raise SystemExit(f"the sink service exited with status {self.proc.returncode} while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the sink service was not ready within {timeout:.0f} s")
            time.sleep(0.2)
        return self

    def metrics_text(self) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.read()
        except OSError:
            return None

    def check(self) -> None:
        """A worker whose sink is gone would leave lenders with stale data while looking healthy:
        exit so that the supervisor restarts both."""
        if self.proc is not None and self.proc.poll() is not None:
            log.critical("the sink service exited with status %s; exiting the worker", self.proc.returncode)
            logging.shutdown()
            os._exit(70)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
