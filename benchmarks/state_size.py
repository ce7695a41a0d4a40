"""State per 100k enterprises with 24 months of history, and worker restart-to-serving time.

1. Simulates SAMPLE enterprises × 24 months, folds them into ledgers (the aggregator's state) and
   measures the serialized ledger size (what the compacted changelog and the memory:// table hold)
   and the memory the table's values take; scales both to 100k enterprises.
2. Writes 100k ledgers (the sample's ledgers under fresh USCCs) into the changelog topic of a new
   app id, starts `creditstream worker` and times process start → "Worker ready" (changelog
   recovered, agents consuming).

Needs the local broker. Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/state_size.py [--sample 5000] [--enterprises 100000]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.common import synthetic_uscc as uscc
from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.streams.replay import fold_lines
from tests.support.kafka import WorkerProcess, admin_kafka

AS_OF = "2025-06"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [event_line(e) for e in Simulator(args.sample, 24, parse_month(AS_OF), seed=9, invalid_share=0).events()]
    import io
    ledgers = fold_lines(lines, default_codec(), io.StringIO())
    values = [ledger.to_bytes() for ledger in ledgers.values()]
    fold_seconds = time.perf_counter() - started
    per_enterprise_bytes = sum(map(len, values)) / len(values)
    # what the memory:// table holds per enterprise: the key, the value bytes and a dict slot
    keys = [uscc(i).encode() for i in range(len(values))]
    table_memory = (sum(map(sys.getsizeof, values)) + sum(map(sys.getsizeof, keys))
                    + sys.getsizeof(dict(zip(keys, values)))) / len(values)

    tmp_dir = tempfile.TemporaryDirectory()
    worker = WorkerProcess(Path(tmp_dir.name), f"bench-state-{time.time_ns()}", CREDITSTREAM_AS_OF=AS_OF,
                           CREDITSTREAM_SINK_ENABLED="false", CREDITSTREAM_API_ENABLED="false")
    # the worker's own application id (the test harness prefixes it): the changelog it recovers from
    topic = f"{worker.app_id}-ledger-changelog"
    admin = AdminClient(admin_kafka().client())
    admin.create_topics([NewTopic(topic, args.partitions, 1, config={"cleanup.policy": "compact"})])[topic].result()
    producer = Producer({**admin_kafka().client(), "partitioner": "murmur2_random", "linger.ms": 50,
                         "compression.type": "lz4"})
    for i in range(args.enterprises):
        while True:
            try:
                producer.produce(topic, key=uscc(i).encode(), value=values[i % len(values)])
                break
            except BufferError:
                producer.poll(0.2)
        producer.poll(0)
    producer.flush(120)
    with tmp_dir:
        t0 = time.perf_counter()
        worker.start()
        while b"[^---Recovery]: Worker ready" not in worker.log_path.read_bytes():  # changelog recovered
            if worker.proc.poll() is not None or time.perf_counter() - t0 > 900:
                print(worker.tail(), file=sys.stderr)
                raise SystemExit("worker did not become ready")
            time.sleep(0.1)
        ready = time.perf_counter() - t0
        # a restart that recovered nothing is no measurement: the worker must hold every ledger given
        held = worker.metrics().get("creditstream_ledgers", 0)
        if held != args.enterprises:
            print(worker.tail(), file=sys.stderr)
            raise SystemExit(f"the restarted worker holds {held:.0f} of the {args.enterprises} ledgers written to "
                             f"{topic}: the restart measured nothing")
        rss_kib = int(next(line.split()[1] for line in open(f"/proc/{worker.proc.pid}/status") if line.startswith("VmRSS")))
        worker.stop()
    scale = 100_000
    print(json.dumps({
        "sample_enterprises": args.sample, "months": 24, "events_in_sample": len(lines),
        "fold_seconds": round(fold_seconds, 1),
        "ledger_bytes_per_enterprise": round(per_enterprise_bytes),
        "changelog_values_mib_per_100k": round(per_enterprise_bytes * scale / 2**20, 1),
        "table_memory_mib_per_100k": round(table_memory * scale / 2**20, 1),
        "restart": {"enterprises_in_changelog": args.enterprises, "seconds_to_ready": round(ready, 1),
                    "worker_rss_mib_after_recovery": round(rss_kib / 1024)},
    }, indent=2))


if __name__ == "__main__":
    main()
