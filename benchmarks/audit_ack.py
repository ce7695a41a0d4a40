"""What the durable audit of a look-up costs (issue 29, target 4: "measure what the broker's
acknowledgement costs first"). Every answered look-up waits for its audit record to be
acknowledged by Kafka (acks=all, the API's KafkaWriter); this measures that wait alone, beside the
alternative the issue names — a group commit on local disk — in the same run:

  kafka:   KafkaWriter.send of a ~600-byte audit record to credit.audit.v1, awaited, as the API
           does per look-up; 1 sender, then 16 concurrent senders (the look-up benchmark's clients);
  fsync:   the same records appended to a local file by a group-commit writer (one fsync covers
           every record that arrived while the previous fsync ran), awaited; 1 and 16 senders.

Needs the local broker (broker/kafka.sh start). Prints JSON: p50/p99/max per send and sends/s.

    PYTHONPATH=. .venv/bin/python benchmarks/audit_ack.py [--seconds 10]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time

from creditstream.api.writer import KafkaWriter
from creditstream.schemas.topics import AUDIT_TOPIC
from tests.support.kafka import admin_kafka

RECORD = json.dumps({"audit_id": "x" * 32, "route": "aggregates", "principal_id": "bench-lender",
                     "uscc": "91350100M000100Y43", "scope": "PUBLIC+UTILITY+TAX", "status": 200,
                     "reason": "UTILITY: consent e-1; TAX: consent e-1", "at": "2026-12-03T06:00:00.000Z",
                     "padding": "p" * 300}).encode()


class GroupCommitFile:
    """Appends records to a file; a thread fsyncs whatever arrived since its last fsync and
    settles those senders' futures (the group commit)."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop):
        self.file = open(path, "ab", buffering=0)
        self.loop, self.pending, self.lock = loop, [], threading.Condition()
        self.stopping = False
        threading.Thread(target=self.run, daemon=True).start()

    async def send(self, record: bytes) -> None:
        settled = self.loop.create_future()
        with self.lock:
            self.pending.append((record, settled))
            self.lock.notify()
        await settled

    def run(self) -> None:
        while True:
            with self.lock:
                while not self.pending and not self.stopping:
                    self.lock.wait()
                if self.stopping:
                    return
                batch, self.pending = self.pending, []
            self.file.write(b"".join(record + b"\n" for record, _ in batch))
            os.fsync(self.file.fileno())
            for _, settled in batch:
                self.loop.call_soon_threadsafe(settled.set_result, None)

    def close(self) -> None:
        with self.lock:
            self.stopping = True
            self.lock.notify()
        self.file.close()


async def measure(send, senders: int, seconds: float) -> dict:
    waits: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_sender():
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await send()
            waits.append(time.perf_counter() - started)
    started = time.perf_counter()
    await asyncio.gather(*(one_sender() for _ in range(senders)))
    elapsed = time.perf_counter() - started
    waits.sort()
    pick = lambda q: round(waits[min(len(waits) - 1, int(q * len(waits)))] * 1000, 2)  # noqa: E731
    return {"senders": senders, "sends": len(waits), "per_second": round(len(waits) / elapsed),
            "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(waits[-1] * 1000, 2)}


async def main_async(seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    writer = KafkaWriter(admin_kafka(), 5.0)
    writer.connect()  # as the API does when it starts
    kafka = [await measure(lambda: writer.send(AUDIT_TOPIC, b"bench", RECORD), n, seconds) for n in (1, 16)]
    writer.close()
    with tempfile.TemporaryDirectory(dir=".local") as tmp:
        disk = GroupCommitFile(os.path.join(tmp, "audit.log"), loop)
        fsync = [await measure(lambda: disk.send(RECORD), n, seconds) for n in (1, 16)]
        disk.close()
    return {"record_bytes": len(RECORD), "kafka_acks_all": kafka, "local_fsync_group_commit": fsync}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args.seconds)), indent=2))


if __name__ == "__main__":
    main()
