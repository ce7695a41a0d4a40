"""End-to-end lag to the provincial node: a provider's event published in the city → its public
record visible at the province (issue 26), at a steady rate, p50/p99/max.

Starts a second secured broker for the province (ports 19192/19193, like the Kafka test), the
city's worker, and `creditstream province mirror` (MirrorMaker 2 and its lag collector); produces
simulated events of every category at --rate (default 1,000/s, the freshness yardstick's rate)
for --seconds, and reads, beside each other in the same run:
  (reference) the city's outbound topic credit.out.public.v1 — provider → worker → outbound;
  (measured)  the province's heihe.credit.out.public.v1 — the same, plus MirrorMaker 2's hop.
Each record keeps the provider's produce time as its timestamp through the worker and MM2, so
lag = time seen − that timestamp. Needs the local broker; RECREATES the platform topics. Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/province_lag.py [--rate 1000] [--seconds 60]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer

from benchmarks.common import produce_steadily, steady_events
from creditstream.broker import admin_credential
from creditstream.kafka_access import mirror_source_grants, mirror_target_grants
from creditstream.kafka_admin import make_principal
from creditstream.province import MIRROR_USER
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import OUTBOUND_PUBLIC_TOPIC, replicated_topic
from creditstream.settings import connection_env
from tests.support.kafka import (
    ROOT,
    WorkerProcess,
    admin_kafka,
    free_port,
    platform_settings,
    reset_topics,
    scrape_metrics,
    wait_for,
)

CITY = "heihe"
PROVINCE_PORTS = {"KAFKA_PORT": "19192", "KAFKA_CONTROLLER_PORT": "19193"}


def province_broker(home: Path, action: str) -> None:
    subprocess.run([str(ROOT / "broker" / "kafka.sh"), action], env={**os.environ, **PROVINCE_PORTS,
                   "KAFKA_HOME_DIR": str(home)}, check=True, capture_output=True, timeout=180)


class Arrivals(threading.Thread):
    """Reads a topic from its end as it grows; records lag = seen − the record's timestamp."""

    def __init__(self, kafka: KafkaConnection, topic: str):
        super().__init__(daemon=True)
        self.kafka, self.topic, self.lags, self.stopping = kafka, topic, [], threading.Event()
        self.ready = threading.Event()

    def run(self):
        consumer = Consumer(kafka_consumer(self.kafka))
        consumer.subscribe([self.topic], on_assign=lambda *_: self.ready.set())
        try:
            while not self.stopping.is_set():
                for message in consumer.consume(500, 0.2):
                    if not message.error():
                        self.lags.append(time.time() - message.timestamp()[1] / 1000)
        finally:
            consumer.close()


def kafka_consumer(kafka: KafkaConnection) -> dict:
    return kafka.consumer(f"bench-province-{time.time_ns()}", **{"auto.offset.reset": "latest"})


def summary(lags: list[float]) -> dict:
    if not lags:
        return {"records": 0}
    ordered = sorted(lags)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)  # noqa: E731
    return {"records": len(ordered), "p50_seconds": pick(0.5), "p99_seconds": pick(0.99),
            "max_seconds": round(ordered[-1], 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    reset_topics(platform_settings())
    events = steady_events(args.rate, args.seconds)
    city_admin = admin_kafka()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "province-kafka"
        province_broker(home, "start")
        mirror = worker = None
        try:
            user, password = admin_credential(home)
            province_admin = KafkaConnection("127.0.0.1:19192", "SASL_PLAINTEXT", "SCRAM-SHA-512", user, password)
            city_password = make_principal(province_admin, f"city-{CITY}", mirror_target_grants(CITY))
            mirror_password = make_principal(city_admin, MIRROR_USER, mirror_source_grants())
            metrics_port = free_port()
            mirror = subprocess.Popen(
                [sys.executable, "-m", "creditstream.cli", "province", "mirror"], cwd=ROOT, start_new_session=True,
                stdout=(Path(tmp) / "mirror.log").open("wb"), stderr=subprocess.STDOUT,
                env={**os.environ, **connection_env(city_admin.as_user(MIRROR_USER, mirror_password)),
                     "CREDITSTREAM_CITY_ALIAS": CITY, "CREDITSTREAM_PROVINCE_BOOTSTRAP_SERVERS": "127.0.0.1:19192",
                     "CREDITSTREAM_PROVINCE_KAFKA_USERNAME": f"city-{CITY}",
                     "CREDITSTREAM_PROVINCE_KAFKA_PASSWORD": city_password, "CREDITSTREAM_HOME": str(Path(tmp) / "city"),
                     "CREDITSTREAM_MIRROR_METRICS_PORT": str(metrics_port)})
            worker = WorkerProcess(Path(tmp), f"bench-province-{time.time_ns()}", CREDITSTREAM_AS_OF="2025-06",
                                   CREDITSTREAM_API_ENABLED="false").start()
            wait_for(lambda: worker.metrics().get("creditstream_sink_target_up") == 1, 120, "the worker")
            remote = replicated_topic(CITY)
            wait_for(lambda: scrape_metrics(metrics_port).get(
                f'creditstream_replication_lag_records{{topic="{OUTBOUND_PUBLIC_TOPIC}"}}') == 0 and remote in
                Consumer(province_admin.consumer("probe")).list_topics(timeout=10).topics, 120,
                "MirrorMaker 2 replicating")
            city_side, province_side = Arrivals(city_admin, OUTBOUND_PUBLIC_TOPIC), Arrivals(province_admin, remote)
            for reader in (city_side, province_side):
                reader.start()
                reader.ready.wait(60)
            time.sleep(3)  # the readers' first fetch positions are set before anything is produced
            producer = Producer(city_admin.producer(**{"linger.ms": 5}))
            sent_seconds = produce_steadily(producer, events, args.rate, lambda i: print(
                f"province_lag: {i:,} events sent, {len(province_side.lags):,} public records at the province",
                file=sys.stderr))
            wait_for(lambda: len(province_side.lags) >= len(city_side.lags) > 0, 120, "every record at the province")
            for reader in (city_side, province_side):
                reader.stopping.set()
                reader.join(30)
            lag_metric = scrape_metrics(metrics_port)
        finally:
            if mirror is not None:
                os.killpg(mirror.pid, signal.SIGTERM)
                mirror.wait(60)
            if worker is not None:
                worker.stop()
            province_broker(home, "stop")
    print(json.dumps({
        "target_rate": args.rate, "events": len(events), "achieved_rate": round(len(events) / sent_seconds),
        "city_outbound_reference": summary(city_side.lags),
        "province": summary(province_side.lags),
        "replication_lag_records_at_end": {k: v for k, v in lag_metric.items()
                                           if k.startswith("creditstream_replication_lag_records")},
    }, indent=2))


if __name__ == "__main__":
    main()
