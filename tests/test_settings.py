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
