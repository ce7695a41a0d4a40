"""The architecture, checked: one installed namespace, and imports that only run downward.

    creditstream/ (cli, settings, runtime, demo)       on top: may import everything
    streams/  sinks/  connectors/  api/  monitoring/   above the contract; each other only through
                                                        the declared seams below
    schemas/                                           the contract, at the bottom: imports nothing
                                                        of the project
"""
import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.kafka import ROOT

FOLDERS = ("schemas", "streams", "sinks", "connectors", "api", "monitoring", "broker")
# which creditstream.* modules each folder may import (a prefix allows the package and below)
ALLOWED = {
    "schemas": ("creditstream.schemas",),
    "monitoring": ("creditstream.schemas", "creditstream.monitoring"),
    "streams": ("creditstream.schemas", "creditstream.streams", "creditstream.monitoring.metrics"),
    "sinks": ("creditstream.schemas", "creditstream.sinks", "creditstream.monitoring.metrics"),
    "connectors": ("creditstream.schemas", "creditstream.connectors"),
    # the API reads what the sink wrote, through the sink's ClickHouse access (operators' SQL
    # through its read-only session and statement check)
    "api": ("creditstream.schemas", "creditstream.api", "creditstream.monitoring.metrics",
            "creditstream.sinks.clickhouse", "creditstream.sinks.operator_sql"),
    "broker": (),
}


def python_files():
    for folder in (*FOLDERS, "creditstream", "tests", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


def imports(path: Path):
    """(line, module) of every absolute import in a file, including those inside functions."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def test_no_bare_imports_of_the_project_folders():
    """From the repository root `import streams` would load a second copy of creditstream.streams."""
    bare = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in python_files()
            for line, module in imports(path) if module.split(".")[0] in FOLDERS]
    assert bare == []


def test_no_import_runs_upward_or_sideways():
    wrong = []
    for folder, allowed in ALLOWED.items():
        for path in (ROOT / folder).rglob("*.py"):
            for line, module in imports(path):
                if module.startswith("creditstream") and not module.startswith(allowed):
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert wrong == []


def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The check above is not vacuous: an import of the top layer from streams/ is found."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from creditstream.settings import Settings\n")
    assert list(imports(sample)) == [(2, "creditstream.settings.Settings")]
    assert not "creditstream.settings.Settings".startswith(ALLOWED["streams"])


def test_test_modules_import_no_other_test_module():
    found = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in (ROOT / "tests").rglob("*.py")
             for line, module in imports(path) if module.startswith("tests.test_")]
    assert found == []


def test_the_wheel_installs_one_top_level_package_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"creditstream", wheel.name.split("-py3")[0] + ".dist-info"}
    for needed in ("creditstream/schemas/avro/WaterStatement/v1.avsc", "creditstream/sinks/migrations/001_initial.sql",
                   "creditstream/broker/kafka.sh", "creditstream/broker/pom.xml", "creditstream/streams/app.py",
                   "creditstream/api/templates/report.html", "creditstream/api/templates/portal.css",
                   "creditstream/api/templates/portal/base.html"):
        assert needed in names


def test_the_installed_wheel_runs_without_the_checkout(wheel_site, tmp_path):
    """Installed elsewhere and run from elsewhere, the code comes from the install, not from here."""
    run = subprocess.run(
        [sys.executable, "-c", "import creditstream.streams.app as a, creditstream.broker as b; print(a.__file__); "
                               "print(b.SCRIPT)"],
        cwd=tmp_path, env={"PYTHONPATH": str(wheel_site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for line in run.stdout.splitlines():
        assert Path(line).is_relative_to(wheel_site), line
        assert Path(line).exists()


def test_the_installed_broker_script_fetches_its_jars_into_the_data_directory(wheel_site, tmp_path):
    """`creditstream demo` from a wheel starts the broker shipped in the package; its jars go to the
    data directory, never into the installed package."""
    from creditstream import broker

    script = wheel_site / "creditstream" / "broker" / "kafka.sh"
    run = subprocess.run(["bash", str(script), "fetch"], capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "KAFKA_LIB_DIR": str(tmp_path / "lib"),
                              "KAFKA_HOME_DIR": str(tmp_path / "kafka")})
    assert run.returncode == 0, run.stderr
    jars = {p.name for p in (tmp_path / "lib").glob("*.jar")}
    assert any(name.startswith("kafka_2.13-") for name in jars) and len(jars) > 20
    assert not (script.parent / "lib").exists()
    assert broker.SCRIPT.name == script.name
