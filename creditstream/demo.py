"""``creditstream demo``: the whole platform on this machine, no Docker.

Starts the local Kafka broker unless one answers at the configured address, creates the topics,
runs the worker, streams simulated providers into Kafka, prints where to look, and on Ctrl-C
stops everything it started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from creditstream.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def broker_answers(settings: Settings) -> bool:
    try:
        AdminClient({"bootstrap.servers": settings.bootstrap_servers}).list_topics(timeout=3)
        return True
    except Exception:
        return False


def run_demo(settings: Settings, enterprises: int, months: int) -> int:
    started_broker = False
    worker = None
    try:
        if not broker_answers(settings):
            print(f"demo: no Kafka at {settings.bootstrap_servers}; starting the local broker (broker/kafka.sh)")
            subprocess.run([str(ROOT / "broker" / "kafka.sh"), "start"], check=True)
            started_broker = True
        from creditstream.topics import create_topics

        created = create_topics(settings)
        print(f"demo: topics ready ({sum(v == 'created' for v in created.values())} created)")
        log_path = ROOT / ".local" / "demo" / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            worker = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "worker"], cwd=ROOT,
                                      env={**os.environ, "CREDITSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers},
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"demo: worker started (pid {worker.pid}, log {log_path.relative_to(ROOT)})")
        subprocess.run([sys.executable, "-m", "creditstream.cli", "--bootstrap-servers", settings.bootstrap_servers,
                        "simulate", "--kafka", "--enterprises", str(enterprises), "--months", str(months)],
                       cwd=ROOT, check=True)
        print(
            "\ncreditstream is running:\n"
            f"  worker metrics   http://{settings.web_host}:{settings.web_port}/metrics\n"
            f"  aggregates       Kafka topic credit.aggregates.v1 at {settings.bootstrap_servers}\n"
            "  dead letters     Kafka topic credit.deadletter.v1\n"
            "Press Ctrl-C to stop.\n"
        )
        while worker.poll() is None:
            time.sleep(1)
        print(f"demo: worker exited with {worker.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        if started_broker:
            subprocess.run([str(ROOT / "broker" / "kafka.sh"), "stop"])
