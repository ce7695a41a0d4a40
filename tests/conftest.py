import subprocess

import pytest

from creditstream.settings import Settings
from tests.kafka_helpers import BOOTSTRAP, ROOT, broker_reachable, reset_topics


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
    settings = Settings(bootstrap_servers=broker, partitions=4)
    reset_topics(settings)
    return settings
