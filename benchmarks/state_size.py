"""State per 100k enterprises with 24 months of history, and worker restart-to-serving time.

1. Simulates SAMPLE enterprises × 24 months, folds them into ledgers (the aggregator's state) and
   measures the serialized ledger size (what the compacted changelog and the memory:// table hold)
   and the memory the table's values take; scales both to 100k enterprises.
2. Writes ENTERPRISES ledgers (the sample's ledgers under fresh USCCs) into the changelog topic of
   a new app id and times `creditstream worker` from process start to "Worker ready" (changelog
   recovered, agents consuming) three times: from an empty local store, after a clean stop, after
   SIGKILL; with each start's RSS (now and peak) and the changelog records it had to read. Each
   start must hold every ledger; at the end the disk store's files must hold them byte for byte.

Needs the local broker. Prints JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python benchmarks/state_size.py [--sample 5000] [--enterprises 100000]
        [--store disk://|memory://] [--tmp-dir DIR]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.common import process_status, status_mib
from benchmarks.common import synthetic_uscc as uscc
from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.streams.replay import fold_lines
from tests.support.kafka import WorkerProcess, admin_kafka

AS_OF = "2025-06"


def progress(text: str) -> None:
    print(f"[state_size] {text}", file=sys.stderr, flush=True)


def write_changelog(topic: str, values: list[bytes], enterprises: int, partitions: int) -> None:
    """``enterprises`` ledgers (the sample's, under fresh USCCs) on the worker's changelog topic."""
    admin = AdminClient(admin_kafka().client())
    admin.create_topics([NewTopic(topic, partitions, 1, config={"cleanup.policy": "compact"})])[topic].result()
    producer = Producer({**admin_kafka().client(), "partitioner": "murmur2_random", "linger.ms": 50,
                         "compression.type": "lz4"})
    for i in range(enterprises):
        while True:
            try:
                producer.produce(topic, key=uscc(i).encode(), value=values[i % len(values)])
                break
            except BufferError:
                producer.poll(0.2)
        producer.poll(0)
        if i and i % 100_000 == 0:
            progress(f"{i:,} ledgers written to {topic}")
    producer.flush(600)


def worker_memory_mib(pid: int) -> dict:
    status = process_status(pid)
    return {"rss_mib": status_mib(status, "VmRSS"), "peak_rss_mib": status_mib(status, "VmHWM")}


def ready_and_holding(worker: WorkerProcess, enterprises: int) -> dict:
    """Start the worker, time start → "Worker ready" (changelog recovered, agents consuming), and
    fail unless it holds every ledger it was given: a restart that recovered nothing measured nothing."""
    t0 = time.perf_counter()
    worker.start()
    while b"[^---Recovery]: Worker ready" not in worker.log_path.read_bytes():
        if worker.proc.poll() is not None or time.perf_counter() - t0 > 1800:
            print(worker.tail(), file=sys.stderr)
            raise SystemExit("worker did not become ready")
        time.sleep(0.1)
    ready = time.perf_counter() - t0
    scraped = worker.metrics()
    held = scraped.get("creditstream_ledgers", 0)
    if held != enterprises:
        print(worker.tail(), file=sys.stderr)
        raise SystemExit(f"the worker holds {held:.0f} of the {enterprises} ledgers written to its changelog: "
                         f"the start measured nothing")
    return {"seconds_to_ready": round(ready, 1), "ledgers_held": int(held),
            "changelog_records_read": int(scraped.get('creditstream_table_recovered_records_total{table="ledger"}', -1)),
            **worker_memory_mib(worker.proc.pid)}


def ledgers_on_disk(data_dir: Path, enterprises: int, values: list[bytes]) -> dict:
    """After the last stop: the worker's partition databases hold exactly the ledgers given, byte for byte."""
    from rocksdict import AccessType, Options, Rdict

    from creditstream.streams.disk_store import META_PREFIX
    held, size = {}, 0
    for path in sorted(data_dir.glob("**/ledger-*.rdict")):
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
        for key, value in db.items():
            if not key.startswith(META_PREFIX):
                held[key] = value
        db.close()
        size += sum(f.stat().st_size for f in path.iterdir())
    wrong = [i for i in range(enterprises) if held.get(uscc(i).encode()) != values[i % len(values)]]
    if len(held) != enterprises or wrong:
        raise SystemExit(f"the local store holds {len(held)} ledgers, {len(wrong)} of the {enterprises} given "
                         "missing or different")
    return {"ledgers": len(held), "identical_to_changelog": True, "mib_on_disk": round(size / 2**20)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--store", default="disk://", help="the worker's table store: disk:// or memory://")
    parser.add_argument("--tmp-dir", default=None, help="where the worker's data directory goes (needs ~5 GB at 1M)")
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

    tmp_dir = tempfile.TemporaryDirectory(dir=args.tmp_dir)
    tmp = Path(tmp_dir.name)
    app_id = f"bench-state-{time.time_ns()}"
    env = {"CREDITSTREAM_AS_OF": AS_OF, "CREDITSTREAM_SINK_ENABLED": "false", "CREDITSTREAM_API_ENABLED": "false",
           "CREDITSTREAM_STORE": args.store}
    # the worker's own application id (the test harness prefixes it): the changelog it recovers from
    topic = f"{WorkerProcess(tmp, app_id, **env).app_id}-ledger-changelog"
    write_changelog(topic, values, args.enterprises, args.partitions)
    with tmp_dir:
        starts = {}
        # each run ends the way the next one's name says: stopped cleanly, then SIGKILLed
        for name, ending in (("first start, empty local state", "stop"), ("after a clean stop", "kill"),
                             ("after SIGKILL", "stop")):
            worker = WorkerProcess(tmp, app_id, **env)
            starts[name] = ready_and_holding(worker, args.enterprises)
            progress(f"{name}: ready in {starts[name]['seconds_to_ready']} s")
            worker.kill() if ending == "kill" else worker.stop()
        on_disk = None
        if args.store.startswith("disk"):
            on_disk = ledgers_on_disk(tmp / f"data-{worker.app_id}", args.enterprises, values)
    restart = {"store": args.store, "enterprises_in_changelog": args.enterprises, "starts": starts}
    if on_disk is not None:
        restart["local_store"] = on_disk
    scale = 100_000
    print(json.dumps({
        "sample_enterprises": args.sample, "months": 24, "events_in_sample": len(lines),
        "fold_seconds": round(fold_seconds, 1),
        "ledger_bytes_per_enterprise": round(per_enterprise_bytes),
        "changelog_values_mib_per_100k": round(per_enterprise_bytes * scale / 2**20, 1),
        "table_memory_mib_per_100k": round(table_memory * scale / 2**20, 1),
        "restart": restart,
    }, indent=2))


if __name__ == "__main__":
    main()
