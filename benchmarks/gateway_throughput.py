"""The HTTP push gateway's throughput and request latency, beside `creditstream publish` of the
same records in the same run. Prints JSON. Not a test.

    .venv/bin/python -m benchmarks.gateway_throughput [--records 20000] [--clients 1 4 16] [--batches 1 100 1000]

On its own broker (port 19292, a temporary directory; the development broker is left alone):
1. `creditstream api` in its own process (the gateway's home), and one provider key that may
   push to credit.utility.water.v1.
2. For every (concurrent clients, batch size): distinct WaterStatement records in their JSON form
   pushed to POST /v1/providers/events by keep-alive asyncio clients, as fast as the answers
   come; records/s, and p50/p99 of the request (which answers once Kafka acknowledged every
   accepted record). Every answer is checked: 202 with every record accepted.
3. An export upload: the same number of records as one JSON Lines file to
   POST /v1/providers/files (streamed; acknowledged 1,000 records at a time), timed per request.
4. The reference: the same number of records written as a JSON Lines file and sent with
   `creditstream publish` (a Kafka producer, batched and compressed), timed from start to exit.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from benchmarks.common import synthetic_uscc
from creditstream import apikeys
from creditstream.broker import admin_credential
from creditstream.kafka_admin import create_topics
from creditstream.schemas.records import to_json
from creditstream.settings import Settings
from tests.support.builders import statement
from tests.support.kafka import free_port

ROOT = Path(__file__).resolve().parents[1]
PORT, CONTROLLER_PORT = 19292, 19293
WATER = "credit.utility.water.v1"
PROVIDER = "bench-water"


def log(message: str) -> None:
    print(f"[gateway] {message}", file=sys.stderr, flush=True)


class Records:
    """Distinct water statements (a fresh event id and enterprise each), in their JSON form."""

    def __init__(self):
        self.n = 0

    def take(self, count: int) -> list[dict]:
        out = []
        for _ in range(count):
            self.n += 1
            _record, value = statement("water", f"W{self.n}", "2025-06", "10.500", "43.05", provider=PROVIDER,
                                       event_id=f"bench-{self.n}")
            out.append({"topic": WATER, "value": to_json({**value, "uscc": synthetic_uscc(self.n)})})
        return out


async def level(base: str, key: str, records: Records, clients: int, batch: int, total: int) -> dict:
    requests = max(clients, total // batch)
    bodies = [json.dumps({"records": records.take(batch)}).encode() for _ in range(requests)]
    latencies: list[float] = []
    queue = list(bodies)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with session.post(f"{base}/v1/providers/events", data=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 202 or answer["accepted"] != batch:
                    raise RuntimeError(f"gateway answered {response.status}: {str(answer)[:300]}")
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"clients": clients, "batch": batch, "requests": requests, "records": requests * batch,
            "records_per_s": round(requests * batch / elapsed), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1)}


async def upload(base: str, key: str, records: Records, total: int) -> dict:
    """One JSON Lines export of ``total`` records to POST /v1/providers/files."""
    body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in records.take(total)).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        started = time.perf_counter()
        async with session.post(f"{base}/v1/providers/files", data=body, headers=headers) as response:
            answer = await response.json()
        elapsed = time.perf_counter() - started
    if response.status != 202 or answer["accepted"] != total:
        raise RuntimeError(f"the upload was answered {response.status}: {str(answer)[:300]}")
    return {"records": total, "bytes": len(body), "seconds": round(elapsed, 2), "records_per_s": round(total / elapsed)}


def publish_reference(settings: Settings, records: Records, total: int, home: Path) -> dict:
    path = home / "records.jsonl"
    with path.open("w") as fh:
        for item in records.take(total):
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "creditstream.cli", "publish", str(path)], check=True, capture_output=True,
                   env={**os.environ, **settings.to_env()})
    elapsed = time.perf_counter() - started
    return {"records": total, "seconds": round(elapsed, 2), "records_per_s": round(total / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cs-gateway-"))
    broker_env = {**os.environ, "KAFKA_PORT": str(PORT), "KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
                  "KAFKA_HOME_DIR": str(home / "kafka"), "KAFKA_HEAP": "1g"}
    subprocess.run(["bash", str(ROOT / "broker" / "kafka.sh"), "start"], env=broker_env, check=True)
    admin_user, admin_password = admin_credential(home / "kafka")  # the benchmark administers its own broker
    api = None
    try:
        settings = Settings(home=str(home), bootstrap_servers=f"127.0.0.1:{PORT}", api_port=free_port(),
                            kafka_username=admin_user, kafka_password=admin_password,
                            # the gateway never reads ClickHouse; `creditstream api` alone wants a server URL
                            clickhouse_url="http://127.0.0.1:9", personal_data_key="bench",
                            api_rate_per_second=1e6, api_rate_burst=1_000_000)
        create_topics(settings.kafka, settings.partitions, 1)
        api = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "api", "--port", str(settings.api_port)],
                               env={**os.environ, **settings.to_env()},
                               stdout=subprocess.DEVNULL, stderr=open(home / "api.log", "wb"))
        _key_id, key = apikeys.issue(settings.kafka, "provider", PROVIDER, PROVIDER, (WATER,))
        base = f"http://127.0.0.1:{settings.api_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
                urllib.request.urlopen(request, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not answer; see {home / 'api.log'}") from None
                time.sleep(0.5)
        records = Records()
        results = []
        for batch in args.batches:
            for clients in args.clients:
                total = min(args.records, 2_000 * clients) if batch == 1 else args.records
                outcome = asyncio.run(level(base, key, records, clients, batch, total))
                log(json.dumps(outcome))
                results.append(outcome)
        uploaded = asyncio.run(upload(base, key, records, args.records))
        log(f"file upload: {json.dumps(uploaded)}")
        reference = publish_reference(settings, records, args.records, home)
        log(f"publish: {json.dumps(reference)}")
        print(json.dumps({"benchmark": "gateway_throughput", "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                          "security": settings.kafka_security_protocol, "gateway": results, "file_upload": uploaded,
                          "publish_reference": reference}, indent=2))
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        subprocess.run(["bash", str(ROOT / "broker" / "kafka.sh"), "stop"], env=broker_env, check=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
