"""The one settings object: typed, range-checked, documented, and the README says the same."""
import re
import subprocess
import sys

import pytest

from creditstream.settings import Settings, SettingsError
from tests.support.kafka import ROOT


def test_values_come_from_the_environment_and_derive_from_home():
    settings = Settings.from_env({"CREDITSTREAM_PARTITIONS": "8", "CREDITSTREAM_HOME": "/srv/cs",
                                  "CREDITSTREAM_SINK_ENABLED": "false"})
    assert (settings.partitions, settings.sink_enabled) == (8, False)
    assert (settings.data_dir, settings.clickhouse_url) == ("/srv/cs/worker", "chdb:/srv/cs/clickhouse")
    assert settings.stream().partitions == 8 and settings.sink().group_id == "creditstream-sink"


@pytest.mark.parametrize("environ, message", [
    ({"CREDITSTREAM_PARTITIONS": "0"}, "CREDITSTREAM_PARTITIONS=0: must be at least 1"),
    ({"CREDITSTREAM_API_PORT": "70000"}, "CREDITSTREAM_API_PORT=70000: must be at most 65535"),
    ({"CREDITSTREAM_PERSIST_SECONDS": "soon"}, "CREDITSTREAM_PERSIST_SECONDS='soon' is not a valid float"),
    ({"CREDITSTREAM_LOG_LEVEL": "loud"}, "CREDITSTREAM_LOG_LEVEL='loud': must be one of debug"),
    ({"CREDITSTREAM_AS_OF": "2025-13"}, "CREDITSTREAM_AS_OF: '2025-13' is not a real month"),
    ({"CREDITSTREAM_CLICKHOUSE_URL": "mysql://x"}, "CREDITSTREAM_CLICKHOUSE_URL='mysql://x': expected chdb:<dir>"),
    ({"CREDITSTREAM_SINK_ENABLED": "maybe"}, "CREDITSTREAM_SINK_ENABLED='maybe' is not true or false"),
    # renamed when the bound became bytes: an operator's old variable is refused, not silently ignored
    ({"CREDITSTREAM_LEDGER_CACHE_SIZE": "5000"},
     "CREDITSTREAM_LEDGER_CACHE_SIZE is no longer read: set CREDITSTREAM_LEDGER_CACHE_MIB"),
])
def test_a_bad_setting_is_refused_naming_the_variable(environ, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert str(caught.value).startswith(message)


def test_the_command_line_refuses_a_bad_setting_with_exit_status_2():
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", "settings"], capture_output=True, text=True,
                            env={"CREDITSTREAM_PARTITIONS": "-1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.strip() == "creditstream: CREDITSTREAM_PARTITIONS=-1: must be at least 1"


def test_the_readme_documents_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| `(CREDITSTREAM_[A-Z_]+)` \| `?([^`|]*?)`? \|", readme, re.M))
    assert table == {variable: default for variable, default, _doc in Settings.describe()}


def test_secrets_are_never_printed():
    """`creditstream settings` and a Settings' repr show that a secret is set, never the secret."""
    secrets = {"CREDITSTREAM_KAFKA_PASSWORD": "kafka-secret-1", "CREDITSTREAM_SINK_KAFKA_PASSWORD": "sink-secret-2",
               "CREDITSTREAM_API_KAFKA_PASSWORD": "api-secret-3", "CREDITSTREAM_PERSONAL_DATA_KEY": "pd-secret-4",
               "CREDITSTREAM_CLICKHOUSE_URL": "http://reader:url-secret-5@clickhouse:8123/creditstream"}
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", "settings"], capture_output=True, text=True,
                            env={**secrets, "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "CREDITSTREAM_KAFKA_PASSWORD=*** (set)" in result.stdout
    assert "CREDITSTREAM_CLICKHOUSE_URL=http://reader:***@clickhouse:8123/creditstream" in result.stdout
    shown = result.stdout + repr(Settings.from_env(secrets))
    assert not [secret for secret in ("kafka-secret-1", "sink-secret-2", "api-secret-3", "pd-secret-4", "url-secret-5")
                if secret in shown]
