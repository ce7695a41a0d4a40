"""Which process runs what, and how a process ends when it must not go on.

    creditstream worker   the worker process: the Faust app (creditstream.streams); it starts its
                          sink service process first and stops it on the way out
    creditstream sink     the sink service process: the ClickHouse sink (creditstream.sinks); with
                          embedded ClickHouse also the read-only query endpoint through which the API
                          process reads it (chdb allows one process per data directory)
    creditstream api      the lender API (creditstream.api), a process of its own: the worker starts
                          one, or it runs by hand beside a ClickHouse server

The sink runs in a process of its own so that its Python work (parsing rows, building insert
blocks) never competes with the Faust agents for the GIL. Its metrics are served on
``sink_metrics_port`` (loopback) and appended to the worker's own ``/metrics``, so an operator
scrapes one endpoint per worker. The two processes live and die together: the worker exits when
the service does, the service when its worker is gone.

A process that must stop without acknowledging anything (output not delivered, its sink service
gone) exits through ``fatal`` with status 70, so its supervisor restarts it and the unacknowledged
events are processed again.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import NoReturn

from creditstream import logs
from creditstream.settings import Settings

log = logging.getLogger("creditstream.runtime")
EXIT_FATAL = 70  # EX_SOFTWARE


def fatal(reason: str) -> NoReturn:
    """Log, flush the logs and end the process at once, acknowledging nothing more."""
    log.critical("%s; exiting with status %d", reason, EXIT_FATAL)
    logging.shutdown()
    os._exit(EXIT_FATAL)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    logs.install()  # one line per condition per interval while something is down


# -- the worker process --------------------------------------------------------------------------
def run_worker(settings: Settings) -> int:
    """The worker process: Faust agents; it starts the sink service process (ClickHouse sink, plus
    the lender API with embedded ClickHouse) first and stops it on the way out."""
    from creditstream.streams.app import CreditStream

    if not settings.personal_data_key:
        log.critical("CREDITSTREAM_PERSONAL_DATA_KEY is not set: the worker will not start without the key "
                     "that protects identity numbers")
        return 2
    # A worker holds many long-lived objects (ledgers, in-flight events): with the default young-
    # generation threshold (700) the collector rescans them constantly (~12 % of throughput measured).
    gc.set_threshold(100_000, 50, 100)
    service = api = None
    if settings.sink_enabled:
        embedded = settings.clickhouse_url.startswith("chdb:")
        token = secrets.token_urlsafe(24) if embedded and settings.api_enabled else None
        service = SinkServiceProcess(settings.replace(api_enabled=False, query_token=token)).start()
        if settings.api_enabled:
            # the API in a process of its own: look-ups never wait for the sink's Python work (GIL)
            url = f"sinkservice://:{token}@127.0.0.1:{service.query_port}" if token else settings.clickhouse_url
            api = ApiProcess(settings.replace(clickhouse_url=url)).start()
    elif settings.api_enabled:  # no sink service: the API reads ClickHouse itself, in its own process
        api = ApiProcess(settings).start()
    watcher = ChildWatcher([c for c in (service, api) if c is not None]).start_watching()
    try:
        stream = CreditStream(settings.stream(), on_fatal=fatal,
                              extra_metrics=service.metrics_text if service else None)
        stream.discard_stale_state()
        worker = worker_class()(stream.app, loglevel=settings.log_level)
        # The start-up spinner sets the root logger to DEBUG (slow) and mangles log files.
        worker.spinner = None
        worker.execute_from_commandline()
    finally:
        watcher.stopping = True
        for child in (api, service):
            if child is not None:
                child.stop()
    return 0


def worker_class():
    import faust

    class QuietWorker(faust.Worker):
        """faust.Worker whose root log handlers say a repeated failure once per interval, with the count."""

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            logs.install(logger)
    return QuietWorker


class ChildWatcher(threading.Thread):
    """Notices a dead child within ``interval`` from the moment it started, also while Faust is
    still joining its group (a Faust timer runs only once the worker is ready: after an unclean
    restart a dead API went unnoticed for up to 52 s)."""

    def __init__(self, children: list["ChildProcess"], interval: float = 0.5):
        super().__init__(name="child-watcher", daemon=True)
        self.children, self.interval, self.stopping = children, interval, False

    def start_watching(self) -> "ChildWatcher":
        if self.children:
            self.start()
        return self

    def run(self) -> None:
        while not self.stopping:
            for child in self.children:
                code = child.proc.poll() if child.proc is not None else None
                if code is not None and not self.stopping:
                    fatal(f"the {child.name} exited with status {code}")
            time.sleep(self.interval)


class ChildProcess:
    """A process the worker starts and watches: if it dies, the worker exits too (fatal), so that
    the supervisor restarts them together; when the worker stops, it stops them."""
    name, command = "", ()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 150.0):
        env = {**os.environ, **self.settings.to_env()}
        self.proc = subprocess.Popen([sys.executable, "-m", "creditstream.cli", *self.arguments()], env=env,
                                     pass_fds=self.inherited_fds())
        self.started()
        deadline = time.monotonic() + timeout
        while not self.ready():
            code = self.proc.poll()
            if code is not None and code < 0:  # killed from outside (OOM, an operator): restartable, as later
                fatal(f"the {self.name} exited with status {code} (killed by signal {-code}) while starting")
            if code is not None:  # it refused to start (its own message says why): restarting will not help
                raise SystemExit(f"the {self.name} exited with status {code} while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the {self.name} was not ready within {timeout:.0f} s")
            time.sleep(0.2)
        return self

    def arguments(self) -> tuple[str, ...]:
        return self.command

    def inherited_fds(self) -> tuple[int, ...]:
        return ()

    def started(self) -> None:
        """Just after the process started (the parent lets go of what it handed the child)."""

    def ready(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ApiProcess(ChildProcess):
    """The lender API (``creditstream api``) beside the worker; ready once it answers HTTP (it may
    still be loading its view, and says so with 503)."""
    name, command = "lender API", ("api", "--exit-with-parent")

    def ready(self) -> bool:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/openapi.json"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False


class SinkServiceProcess(ChildProcess):
    """The worker's handle on its sink service process (``creditstream sink``). The service binds
    its ports itself (0 in the settings: any free port) and writes the ports it got to a pipe:
    a port the worker picked and handed over could be taken in between, and then the worker
    could not start (the tests saw this with their own ports)."""
    name, command = "sink service", ("sink",)

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.ports_pipe = os.pipe()
        self.ports: dict[str, int] | None = None  # once the service has said which ports it bound
        self.received = b""

    def arguments(self) -> tuple[str, ...]:
        return (*self.command, "--ports-fd", str(self.ports_pipe[1]))

    def inherited_fds(self) -> tuple[int, ...]:
        return (self.ports_pipe[1],)

    def started(self) -> None:
        os.close(self.ports_pipe[1])
        os.set_blocking(self.ports_pipe[0], False)

    @property
    def query_port(self) -> int:
        return self.ports["query_port"] if self.ports else 0

    @property
    def url(self) -> str:
        return f"http://{self.settings.web_host}:{self.ports['metrics_port']}/metrics"

    def ready(self) -> bool:
        return self.read_ports() and self.metrics_text() is not None

    def read_ports(self) -> bool:
        """True once the service's line of ports (JSON) has arrived whole."""
        if self.ports is None:
            try:
                self.received += os.read(self.ports_pipe[0], 4096)
            except BlockingIOError:  # nothing written yet
                return False
            if not self.received.endswith(b"\n"):
                return False
            self.ports = json.loads(self.received)
            os.close(self.ports_pipe[0])
        return True

    def metrics_text(self) -> bytes | None:
        if self.ports is None:
            return None
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.read()
        except OSError:
            return None


def report_ports(fd: int | None, **ports: int) -> None:
    """The sink service tells the worker which ports it bound (one JSON line on the worker's pipe)."""
    if fd is not None:
        with os.fdopen(fd, "w") as pipe:
            pipe.write(json.dumps(ports) + "\n")


# -- the provincial link -----------------------------------------------------------------------
def run_mirror(settings: Settings) -> int:
    """``creditstream province mirror``: MirrorMaker 2 and its lag on /metrics until SIGTERM/SIGINT."""
    from prometheus_client import start_http_server

    from creditstream.monitoring import metrics
    from creditstream.province import Mirror

    configure_logging(settings)
    mirror = Mirror(settings.city_alias, settings.kafka, settings.province_kafka, Path(settings.home) / "mirror")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: mirror.stopping.set())
    start_http_server(settings.mirror_metrics_port, addr=settings.web_host, registry=metrics.MIRROR)
    log.info("replicating %s → %s as %s; metrics on %s:%d", settings.bootstrap_servers,
             settings.province_bootstrap_servers, settings.city_alias, settings.web_host, settings.mirror_metrics_port)
    try:
        return mirror.run()
    finally:
        mirror.stop()


# -- the sink service process ------------------------------------------------------------------
def run_sink_service(settings: Settings, ports_fd: int | None = None) -> int:
    """``creditstream sink``: runs until the sink stops or the parent worker is gone."""
    from prometheus_client import start_http_server

    from creditstream.monitoring import metrics
    from creditstream.sinks.sink import ClickHouseSink

    configure_logging(settings)
    parent = os.getppid()
    sink = ClickHouseSink(settings.sink())
    sink.start()
    deadline = time.monotonic() + 120
    while not sink.ready.wait(0.5):
        if not sink.is_alive() or time.monotonic() > deadline:
            log.critical("the ClickHouse sink did not start: %r", sink.error)
            return EXIT_FATAL
    query_port = 0
    if settings.query_token:  # the API process reads the embedded ClickHouse through this
        from creditstream.sinks.clickhouse import ThreadClients
        from creditstream.sinks.query_service import QueryService

        query = QueryService(ThreadClients(settings.clickhouse_url), settings.query_token, "127.0.0.1",
                             settings.sink_query_port)
        query.start()
        query_port = query.port
    # the API is `creditstream api`, in a process of its own (the worker starts one); the sink
    # service never hosts it. Only the sink's series here: the worker appends them to its own /metrics
    server, _ = start_http_server(settings.sink_metrics_port, addr=settings.web_host, registry=metrics.SERVICE)
    report_ports(ports_fd, metrics_port=server.server_port, query_port=query_port)
    log.info("sink service ready; metrics on %s:%d", settings.web_host, server.server_port)
    # SIGTERM (the worker stopping it) and SIGINT (Ctrl-C in a terminal) stop the sink cleanly: its
    # consumer leaves the group. Killed by the default action instead, it stayed a member until its
    # session timed out, and a restarted sink stored nothing for that long (measured: 45 s)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    while sink.is_alive() and os.getppid() == parent and not stopping.wait(0.5):
        pass
    sink.stop()
    sink.join(30)
    if sink.error is not None:
        # A sink that died silently would leave lenders with stale data while the worker looks
        # healthy: the worker notices this exit and exits too, so the supervisor restarts both.
        log.critical("the ClickHouse sink failed: %r", sink.error)
        return EXIT_FATAL
    return 0


# -- the API alone -------------------------------------------------------------------------------
def run_api(settings: Settings, exit_with_parent: bool = False) -> int:
    from creditstream.api.app import serve

    configure_logging(settings)
    return serve(settings.api(), exit_with_parent=exit_with_parent)


def run_gateway(settings: Settings, exit_with_parent: bool = False) -> int:
    from creditstream.api.app import serve

    configure_logging(settings)
    config = settings.gateway()
    logging.getLogger("creditstream.gateway").info("provider gateway on http://%s:%s as %s", config.host, config.port,
                                                   config.kafka.principal)
    return serve(config, exit_with_parent=exit_with_parent, gateway_only=True)


def sql_through_api(settings: Settings, query: str) -> tuple[list[str], list[list]]:
    """``creditstream sql`` with an operator key: the running API runs the query read-only."""
    import json
    import urllib.error
    import urllib.request

    url = f"http://{settings.api_host}:{settings.api_port}/v1/sql"
    request = urllib.request.Request(url, data=json.dumps({"query": query}).encode(), method="POST", headers={
        "Authorization": f"Bearer {settings.operator_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("reason", exc.reason)
        except ValueError:
            reason = exc.reason
        raise RuntimeError(f"{url} answered {exc.code}: {reason}") from None
    except OSError as exc:
        raise RuntimeError(f"no API answers at {url} ({exc}); is the platform running?") from None
    return body["columns"], body["rows"]
