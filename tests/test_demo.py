"""Smoke test of the README's run command: `creditstream demo`, run from an installed wheel
outside the checkout, starts, serves a look-up, writes only under its data directory, and Ctrl-C
stops it cleanly, leaving no process behind."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from tests.support.kafka import BOOTSTRAP, free_port


def test_demo_serves_a_lookup_and_stops_cleanly(kafka_settings, wheel_site, tmp_path):
    api_port, web_port = free_port(), free_port()
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    env = {**os.environ, "CREDITSTREAM_BOOTSTRAP_SERVERS": BOOTSTRAP, "CREDITSTREAM_API_PORT": str(api_port),
           "CREDITSTREAM_WEB_PORT": str(web_port), "CREDITSTREAM_HOME": str(home),
           "CREDITSTREAM_APP_ID": f"demo-{time.time_ns()}", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(wheel_site)}
    demo = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "demo", "--enterprises", "10", "--months", "4"],
                            cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
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
        assert body["consented_scopes"] == ["UTILITY", "TAX", "REAL_ESTATE", "RD", "AGRI"] and "water_months_3m" in body
        assert body["eval_model"] == "cs-eval-1" and "real_estate_rights_active" in body and "eval_score" in body
        assert b"creditstream_events_consumed_total" in urllib.request.urlopen(
            f"http://127.0.0.1:{web_port}/metrics", timeout=10).read()
        worker_pid = int(re.search(r"worker started \(pid (\d+)", text).group(1))
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest = demo.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    assert demo.returncode == 0, rest
    assert {p.name for p in home.iterdir()} == {"demo", "worker", "clickhouse"}  # the broker was already up
    assert list(elsewhere.iterdir()) == []
    assert "demo: stopping" in rest
    for pid in (demo.pid, worker_pid):
        try:
            os.kill(pid, 0)
            alive = not open(f"/proc/{pid}/status").read().count("zombie")
        except (ProcessLookupError, FileNotFoundError):
            alive = False
        assert not alive, f"process {pid} is still running"
