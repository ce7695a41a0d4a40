"""`creditstream demo --province` (scripts/demo --province): beside the city's demo, a provincial
node on this machine — a second secured broker (127.0.0.1:19192), MirrorMaker 2 from the city
(`creditstream province mirror`) and the provincial worker with its own API (127.0.0.1:8180) —
and one of the city's public records shown as the province serves it, with its source.
docs/provincial-node.md explains the parts."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from creditstream import apikeys, broker
from creditstream.kafka_access import mirror_source_grants, mirror_target_grants
from creditstream.kafka_admin import create_topics, make_principal, setup_services
from creditstream.province import MIRROR_USER
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.topics import OUTBOUND_PUBLIC_TOPIC
from creditstream.settings import Settings, connection_env

PROVINCE_PORTS = (19192, 19193)
PROVINCE_LENDER = "demo-province-lender"


class ProvinceDemo:
    """Started after the city's demo is up; ``stop()`` ends what it started, broker last."""

    def __init__(self, city: Settings, home: Path):
        self.city, self.home = city, home / "province"
        self.processes: list[subprocess.Popen] = []
        self.started_broker = False

    def start(self) -> str:
        broker_home = (self.home / "kafka").resolve()
        print(f"demo: starting the provincial broker on 127.0.0.1:{PROVINCE_PORTS[0]} in {broker_home}", flush=True)
        self.started_broker = True
        broker.run("start", home=broker_home, ports=PROVINCE_PORTS)
        user, password = broker.admin_credential(broker_home)
        province = self.city.replace(bootstrap_servers=f"127.0.0.1:{PROVINCE_PORTS[0]}", kafka_username=user,
                                     kafka_password=password, home=str(self.home), province_cities=self.city.city_alias,
                                     data_dir=str(self.home / "worker"),
                                     clickhouse_url=f"chdb:{self.home / 'clickhouse'}", web_port=6067,
                                     api_port=8180, api_metrics_port=8181)
        create_topics(province.kafka, province.partitions, province.replication_factor, cities=province.cities())
        self.start_mirror(province)
        self.start_worker(province)
        key = apikeys.issue(province.kafka, "lender", PROVINCE_LENDER)[1]
        uscc = first_public_uscc(self.city.kafka)
        url = f"http://{province.api_host}:{province.api_port}/v1/enterprises/{uscc}/aggregates"
        row = wait_for_row(url, key, 300)
        return (f"\nThe provincial node is running beside it (docs/provincial-node.md).\n"
                f"  Provincial Kafka  127.0.0.1:{PROVINCE_PORTS[0]}; its administrator in "
                f"{broker_home / 'admin.credentials'}\n"
                f"  MirrorMaker 2     {self.city.city_alias} → province; lag on "
                f"http://{self.city.web_host}:{self.city.mirror_metrics_port}/metrics, its log "
                f"{self.home / 'mirror' / 'mirror-maker.log'}\n"
                f"  Provincial API    http://{province.api_host}:{province.api_port} (lender key {key})\n"
                f"  A city record at the province (sources {row.get('sources')}, "
                f"{row.get('penalties_in_publicity')} penalties in publicity, {row.get('licences_valid')} valid "
                f"licences):\n    curl -H 'Authorization: Bearer {key}' {url}\n")

    def start_mirror(self, province: Settings) -> None:
        city_password = make_principal(province.kafka, f"city-{self.city.city_alias}",
                                       mirror_target_grants(self.city.city_alias))
        mirror_password = make_principal(self.city.kafka, MIRROR_USER, mirror_source_grants())
        env = {**os.environ, **connection_env(self.city.kafka.as_user(MIRROR_USER, mirror_password)),
               "CREDITSTREAM_HOME": str(self.home), "CREDITSTREAM_CITY_ALIAS": self.city.city_alias,
               "CREDITSTREAM_PROVINCE_BOOTSTRAP_SERVERS": province.bootstrap_servers,
               "CREDITSTREAM_PROVINCE_KAFKA_USERNAME": f"city-{self.city.city_alias}",
               "CREDITSTREAM_PROVINCE_KAFKA_PASSWORD": city_password,
               "CREDITSTREAM_MIRROR_METRICS_PORT": str(self.city.mirror_metrics_port)}
        self.spawn(["province", "mirror"], env, "mirror.log")

    def start_worker(self, province: Settings) -> None:
        made = setup_services(province.kafka, province.app_id, cities=province.cities())
        services = province.replace(kafka_username=made["worker"][0], kafka_password=made["worker"][1],
                                    sink_kafka_username=made["sink"][0], sink_kafka_password=made["sink"][1],
                                    api_kafka_username=made["api"][0], api_kafka_password=made["api"][1])
        self.spawn(["worker"], {**os.environ, **services.to_env()}, "worker.log")

    def spawn(self, command: list[str], env: dict, log_name: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / log_name).open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "creditstream.cli", *command], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        print(f"demo: provincial {' '.join(command)} started (pid {process.pid}, log {self.home / log_name})",
              flush=True)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if self.started_broker:
            broker.run("stop", home=(self.home / "kafka").resolve(), ports=PROVINCE_PORTS, check=False)


def first_public_uscc(city: KafkaConnection) -> str:
    """The USCC of a public record the city sent out (the outbound topic's first)."""
    consumer = Consumer(city.consumer(f"demo-province-{time.time_ns()}"))
    try:
        partitions = consumer.list_topics(OUTBOUND_PUBLIC_TOPIC, timeout=10).topics[OUTBOUND_PUBLIC_TOPIC].partitions
        consumer.assign([TopicPartition(OUTBOUND_PUBLIC_TOPIC, p, 0) for p in partitions])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and not message.error():
                return message.key().decode()
        raise RuntimeError(f"no public record on {OUTBOUND_PUBLIC_TOPIC} after 120 s")
    finally:
        consumer.close()


def wait_for_row(url: str, key: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.HTTPError, OSError):
            time.sleep(1)
    raise RuntimeError(f"the provincial API did not answer {url} in {timeout:.0f} s")
