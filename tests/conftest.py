import subprocess
import sys
import time
from pathlib import Path

import pytest

from creditstream.api.app import ApiThread
from creditstream.settings import Settings
from creditstream.sinks.sink import ClickHouseSink
from tests.support.api import Http
from tests.support.kafka import (
    BOOTSTRAP,
    PERSONAL_DATA_KEY,
    ROOT,
    STREAM_AS_OF,
    TEST_APP_PREFIX,
    WorkerProcess,
    broker_reachable,
    free_port,
    platform_settings,
    reset_topics,
)


@pytest.fixture(scope="session")
def broker():
    """The real Kafka broker: the one already running (as .ci/run starts it), or one started here
    with broker/kafka.sh for this session. Tests that need it fail, never skip, without it."""
    started = False
    if not broker_reachable(timeout=3):
        result = subprocess.run([str(ROOT / "broker" / "kafka.sh"), "start"], capture_output=True, text=True)
        if result.returncode != 0 or not broker_reachable():
            pytest.fail(f"no Kafka broker at {BOOTSTRAP} and broker/kafka.sh start failed:\n{result.stderr}")
        started = True
    yield BOOTSTRAP
    if started:
        subprocess.run([str(ROOT / "broker" / "kafka.sh"), "stop"], capture_output=True)


@pytest.fixture
def kafka_settings(broker) -> Settings:
    settings = platform_settings(bootstrap_servers=broker, partitions=4)
    reset_topics(settings)
    return settings


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    """One embedded ClickHouse for the whole test process: chdb allows one data directory per process."""
    return "chdb://" + str(tmp_path_factory.mktemp("clickhouse"))


@pytest.fixture
def clickhouse(chdb_url):
    """A client on the test thread, with every table migrated and emptied."""
    from creditstream.schemas.tables import TABLES
    from creditstream.sinks.clickhouse import connect, migrate

    client = connect(chdb_url)
    migrate(client)
    for table in TABLES:
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")
    return client


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The project built as a wheel, as a user would install it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("creditstream-*.whl"))


@pytest.fixture(scope="session")
def wheel_site(wheel, tmp_path_factory) -> Path:
    """That wheel installed into a directory of its own (its dependencies are this venv's): put it
    first on PYTHONPATH and run from outside the checkout to use the installed code."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture
def workers(tmp_path):
    """Start `creditstream worker` processes. The same name within a test means the same app
    (consumer group, changelog); every test run gets fresh ones, since topics are recreated but
    changelogs and group offsets are not."""
    started, run = [], time.time_ns()

    def start(name, **env):
        worker = WorkerProcess(tmp_path, f"{name}-{run}", CREDITSTREAM_AS_OF=STREAM_AS_OF, **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def pytest_collection_modifyitems(items):
    """Every test that needs the real broker is marked ``kafka``, so ``-m "not kafka"`` runs the
    fast suite, whichever fixture chain brings the broker in."""
    for item in items:
        if "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture
def platform_factory(kafka_settings, clickhouse, chdb_url, tmp_path):
    """start(as_of): a worker process (Faust only) + sink and API in this process, on one fresh
    embedded ClickHouse; as_of None follows the calendar (the registers read at today)."""
    started = []

    def start(as_of, **overrides):
        settings = platform_settings(**{"app_id": f"{TEST_APP_PREFIX}api-{time.time_ns()}",
                               "clickhouse_url": chdb_url, "api_port": free_port(),
                               "api_metrics_port": 0, "sink_batch_seconds": 0.2,
                               "as_of": as_of, "personal_data_key": PERSONAL_DATA_KEY, **overrides})
        env = {"CREDITSTREAM_SINK_ENABLED": "false", "CREDITSTREAM_API_ENABLED": "false"}
        if as_of:
            env["CREDITSTREAM_AS_OF"] = as_of
        worker = WorkerProcess(tmp_path, settings.app_id, **env).start()
        sink = ClickHouseSink(settings.sink())
        sink.start()
        assert sink.ready.wait(60)
        api = ApiThread(settings.api()).start_and_wait()
        settings = settings.replace(api_metrics_port=api.metrics_port)  # the one it picked
        started.append((api, sink, worker))
        return settings, sink, Http(settings.api_port), clickhouse, worker

    yield start
    for api, sink, worker in started:
        api.stop()
        sink.stop()
        sink.join(30)
        worker.stop()


@pytest.fixture
def platform(platform_factory):
    """The platform with its as-of month pinned to STREAM_AS_OF."""
    return platform_factory(STREAM_AS_OF)
