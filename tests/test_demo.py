"""Smoke test of the README's run command: `creditstream demo`, run from an installed wheel
outside the checkout, starts, serves a look-up, writes only under its data directory, and Ctrl-C
stops it cleanly, leaving no process behind."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from creditstream.schemas.records import to_json
from tests.support import builders
from tests.support.kafka import TEST_APP_PREFIX, admin_env, free_port, wait_for


def test_demo_serves_a_lookup_and_stops_cleanly(kafka_settings, wheel_site, tmp_path):
    api_port, web_port, gateway_port = free_port(), free_port(), free_port()
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    env = {**os.environ, **admin_env(), "CREDITSTREAM_API_PORT": str(api_port),
           "CREDITSTREAM_GATEWAY_PORT": str(gateway_port), "CREDITSTREAM_API_METRICS_PORT": str(free_port()),
           "CREDITSTREAM_GATEWAY_METRICS_PORT": str(free_port()),
           "CREDITSTREAM_WEB_PORT": str(web_port), "CREDITSTREAM_HOME": str(home),
           "CREDITSTREAM_APP_ID": f"{TEST_APP_PREFIX}demo-{time.time_ns()}", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(wheel_site)}
    demo = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "demo", "--enterprises", "10", "--months", "4"],
                            cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,  # started as a script or `&` would start it: SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    output = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C to stop." in text, text
        key = re.search(r"demo lender key\s+(\S+)", text).group(1)
        url = re.search(r"curl -H 'Authorization: Bearer \S+' (\S+)", text).group(1)
        assert url.startswith(f"http://127.0.0.1:{api_port}/v1/enterprises/")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        body = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert body["consented_scopes"] == ["UTILITY", "TAX", "REAL_ESTATE", "RD", "AGRI", "SOCIAL", "TRADE"] \
            and "water_months_3m" in body and "social_paid_12m" in body
        assert body["eval_model"] == "cs-eval-2" and "real_estate_rights_active" in body and "eval_score" in body
        assert "eval_red_lines" in body
        # the portal it printed answers with its sign-in page
        portal = re.search(r"web portal\s+(\S+)", text).group(1)
        assert "平台密钥" in urllib.request.urlopen(portal, timeout=10).read().decode()
        # the whitelist feed and the report it printed work as printed
        feed = re.search(r"its change feed\s+curl -H 'Authorization: Bearer \S+' '(\S+)'", text).group(1)
        changes = json.loads(urllib.request.urlopen(urllib.request.Request(
            feed, headers={"Authorization": f"Bearer {key}"}), timeout=10).read())
        assert "changes" in changes and "next_cursor" in changes
        page = re.search(r"a credit report\s+curl -H 'Authorization: Bearer \S+' (\S+)", text).group(1)
        html = urllib.request.urlopen(urllib.request.Request(page, headers={"Authorization": f"Bearer {key}"}),
                                      timeout=10).read().decode()
        assert "公共信用信息报告" in html and "行政处罚信息" in html
        # the provider gateway it started takes a record with the provider key it printed
        gateway = re.search(r"provider gateway\s+(\S+)", text).group(1)
        provider_key = re.search(r"provider key\s+(\S+)", text).group(1)
        record, value = builders.statement("water", "W-DEMO", "2025-05", "1.000", "4.00", provider="demo-water")
        pushed = urllib.request.Request(f"{gateway}/v1/providers/events", method="POST", data=json.dumps(
            {"records": [{"topic": "credit.utility.water.v1", "value": to_json(value)}]}).encode(), headers={
            "Authorization": f"Bearer {provider_key}", "Content-Type": "application/json"})
        answer = wait_for(lambda: answered(pushed), 60, "the gateway to take the record")
        assert answer["accepted"] == 1 and answer["results"][0]["offset"] >= 0, answer
        verify = re.search(r"verify it\s+curl '(\S+)'", text).group(1)
        assert json.loads(urllib.request.urlopen(verify, timeout=10).read())["genuine"] is True
        assert b"creditstream_events_consumed_total" in urllib.request.urlopen(
            f"http://127.0.0.1:{web_port}/metrics", timeout=10).read()
        worker_pid = int(re.search(r"worker started \(pid (\d+)", text).group(1))
        # an operator reads the embedded ClickHouse while the worker holds it: through the API, with
        # the command exactly as printed (a path that works without an activated environment)
        printed = re.search(r"^\s+(CREDITSTREAM_OPERATOR_KEY=\S+ \S+ sql '.*')$", text, re.M).group(1)
        sql = subprocess.run(printed, shell=True, env=env, capture_output=True, text=True, timeout=60, cwd=elsewhere)
        assert sql.returncode == 0 and json.loads(sql.stdout.splitlines()[0])["status"] >= 200, sql.stderr
        if shutil.which("prometheus"):  # CI installs Debian's: the demo runs one with the alert rules
            prometheus = re.search(r"Prometheus\s+(http://\S+)", text).group(1)
            wait_until_up = time.monotonic() + 60
            while time.monotonic() < wait_until_up:
                try:
                    targets = json.loads(urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=5).read())
                    if {t["health"] for t in targets["data"]["activeTargets"]} == {"up"}:
                        break
                except OSError:
                    pass
                time.sleep(1)
            else:
                raise AssertionError(f"Prometheus at {prometheus} does not scrape every service")
            rules = json.loads(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=5).read())
            assert any(r["name"] == "CreditstreamWorkerDown" for g in rules["data"]["groups"] for r in g["rules"])
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest = demo.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    assert demo.returncode == 0, rest
    # the broker was already up; the API's rows on disk under home too (home/api-view/port-<its port>)
    assert {p.name for p in home.iterdir()} == {"demo", "worker", "clickhouse", "api-view"}
    assert list(elsewhere.iterdir()) == []
    assert "demo: stopping" in rest
    for pid in (demo.pid, worker_pid):
        try:
            os.kill(pid, 0)
            alive = not open(f"/proc/{pid}/status").read().count("zombie")
        except (ProcessLookupError, FileNotFoundError):
            alive = False
        assert not alive, f"process {pid} is still running"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return "zombie" not in open(f"/proc/{pid}/status").read()
    except (ProcessLookupError, FileNotFoundError):
        return False


def answered(request):
    """The JSON answer, or None while the service still reads its keys (503 while loading, 401
    until the new key is read) or does not listen yet."""
    try:
        return json.loads(urllib.request.urlopen(request, timeout=10).read())
    except urllib.error.HTTPError as exc:
        if exc.code not in (401, 503):
            raise
    except OSError:
        pass
    return None


def test_ctrl_c_while_the_demo_starts_its_broker_leaves_no_broker_behind(kafka_settings, tmp_path):
    """The probe's finding: Ctrl-C about a second after the demo launched its broker left the JVM
    running (and later demos reused it and never stopped it). Its own broker here, on other ports."""
    from tests.support.kafka import ROOT

    home = tmp_path / "home"
    env = {**os.environ, "CREDITSTREAM_BOOTSTRAP_SERVERS": "127.0.0.1:19392", "CREDITSTREAM_HOME": str(home),
           "CREDITSTREAM_API_PORT": str(free_port()), "CREDITSTREAM_WEB_PORT": str(free_port()),
           "CREDITSTREAM_API_METRICS_PORT": str(free_port()), "CREDITSTREAM_GATEWAY_METRICS_PORT": str(free_port()),
           "KAFKA_PORT": "19392", "KAFKA_CONTROLLER_PORT": "19393", "KAFKA_LIB_DIR": str(ROOT / "broker" / "lib"),
           "PYTHONUNBUFFERED": "1"}
    # .ci/run exports its broker's KAFKA_HOME_DIR: the demo must use its own home whatever that says
    # (a decoy here, so a demo that obeyed it would fail this test, not stop .ci/run's broker)
    env["KAFKA_HOME_DIR"] = str(tmp_path / "decoy")
    demo = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "demo", "--enterprises", "3", "--months", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    pidfile = home / "kafka" / "broker.pid"
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline and demo.poll() is None:
        time.sleep(0.05)
    assert pidfile.exists(), "the demo did not launch its broker"
    jvm = int(pidfile.read_text())
    time.sleep(1.0)  # the probe's timing: a second into the broker's start-up (not a wait for a result)
    os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    try:
        output = demo.communicate(timeout=90)[0]
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        raise
    deadline = time.monotonic() + 40
    while alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(jvm):
        os.kill(jvm, signal.SIGKILL)
        raise AssertionError(f"the broker JVM {jvm} outlived the demo:\n{output}")
    assert "demo: stopping" in output
