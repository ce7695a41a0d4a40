"""State per 100k enterprises with 24 months of history, and worker restart-to-serving time.

1. Simulates SAMPLE enterprises × 24 months, folds them into ledgers (the aggregator's state) and
   measures the serialized ledger size (what the compacted changelog and the memory:// table hold)
   and the memory the table's values take; scales both to 100k enterprises.
2. Writes ENTERPRISES ledgers (the sample's ledgers under fresh USCCs) into the changelog topic of
   a new app id and times `creditstream worker` from process start to "Worker ready" (changelog
   recovered, agents consuming) three times: from an empty local store, after a clean stop, after
   SIGKILL; with each start's RSS (now and peak) and the changelog records it had to read. Each
   start must hold every ledger; at the end the disk store's files must hold them byte for byte.
3. Working (``--working``): starts the worker once more and gives every enterprise one new event
   (a water statement of a second account in the as-of month, as a month's bills for every firm
   arrive), so each ledger is read from disk, changed, written at a checkpoint and its row
   published; reports the rate and the worker's peak RSS while it does, and fails unless every
   event was folded and every enterprise's row published.

Needs the local broker. Prints JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python benchmarks/state_size.py [--sample 5000] [--enterprises 100000]
        [--store disk://|memory://] [--tmp-dir DIR] [--working]
"""
import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.common import LEDGER_RECORDS_RECOVERED, process_status, send, status_mib
from benchmarks.common import synthetic_uscc as uscc
from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.streams.replay import fold_lines
from tests.support.builders import statement
from tests.support.kafka import WorkerProcess, admin_kafka, platform_settings, reset_topics, wait_for

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
        send(producer, topic, uscc(i).encode(), values[i % len(values)])
        producer.poll(0)
        if i and i % 100_000 == 0:
            progress(f"{i:,} ledgers written to {topic}")
    producer.flush(600)


def delete_topic(topic: str) -> None:
    admin = AdminClient(admin_kafka().client())  # kept until the answer: a client collected meanwhile cancels it
    admin.delete_topics([topic])[topic].result(timeout=60)


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
            "changelog_records_read": int(scraped.get(LEDGER_RECORDS_RECOVERED, -1)),
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


def new_statement(i: int) -> tuple[str, dict]:
    """(record, value) of the i-th enterprise's new event: a water statement of a second account
    in the as-of month."""
    record, value = statement("water", "W-NEW", AS_OF, "12.500", "40.00", provider="heihe-water",
                              event_id=f"month-{i}", occurred="2025-06-28T00:00:00")
    value["uscc"] = uscc(i)
    return record, value


def a_month_for_everyone(enterprises: int):
    """(key, value) of one new water statement per enterprise, encoded as a provider sends it."""
    codec = default_codec()
    for i in range(enterprises):
        yield uscc(i).encode(), codec.encode(*new_statement(i))


def publish_month_for_everyone(enterprises: int) -> None:
    """Send every enterprise its new event, keyed as a provider keys it (the ledger's partition:
    murmur2 of the USCC)."""
    topic = next(t for t, record in PROVIDER_TOPICS.items() if record == "WaterStatement")
    producer = Producer({**admin_kafka().producer(), "partitioner": "murmur2_random", "linger.ms": 20})
    for key, value in a_month_for_everyone(enterprises):
        send(producer, topic, key, value)
        producer.poll(0)
    producer.flush(600)


def sample_ledgers(sample: int) -> tuple[list[bytes], int]:
    """The stored ledgers of ``sample`` simulated enterprises × 24 months (replay's code), and how
    many events they were folded from."""
    lines = [event_line(e) for e in Simulator(sample, 24, parse_month(AS_OF), seed=9, invalid_share=0).events()]
    ledgers = fold_lines(lines, default_codec(), io.StringIO())
    return [ledger.to_bytes() for ledger in ledgers.values()], len(lines)


def working(worker: WorkerProcess, enterprises: int) -> dict:
    """Every enterprise gets one new event: the worker's rate and peak RSS while it reads each
    ledger from its store, folds, checkpoints and publishes; fails unless all were folded and
    every row published."""
    ready_and_holding(worker, enterprises)
    publish_month_for_everyone(enterprises)
    progress(f"{enterprises:,} events published; folding")
    started, shown = time.perf_counter(), [time.perf_counter()]

    def done() -> bool:
        scraped = worker.metrics()
        folded = scraped.get("creditstream_events_aggregated_total", 0)
        published = scraped.get("creditstream_aggregates_published_total", 0)
        if time.perf_counter() - shown[0] >= 10:
            shown[0] = time.perf_counter()
            progress(f"working: {folded:,.0f} folded, {published:,.0f} rows published, "
                     f"RSS {worker_memory_mib(worker.proc.pid)['rss_mib']} MiB")
        return folded >= enterprises and published >= enterprises

    wait_for(done, 3600, "every event folded and every row published", interval=0.5)
    seconds = time.perf_counter() - started
    return {"events": enterprises, "seconds": round(seconds, 1), "events_per_second": round(enterprises / seconds),
            **worker_memory_mib(worker.proc.pid)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--store", default="disk://", help="the worker's table store: disk:// or memory://")
    parser.add_argument("--tmp-dir", default=None, help="where the worker's data directory goes (needs ~5 GB at 1M)")
    parser.add_argument("--working", action="store_true", help="then give every enterprise one new event (step 3)")
    args = parser.parse_args()
    reset_topics(platform_settings())  # empty provider topics: the workers fold only what is given here
    started = time.perf_counter()
    values, events_in_sample = sample_ledgers(args.sample)
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
        at_work = None
        if args.working:
            worker = WorkerProcess(tmp, app_id, **env)
            try:
                at_work = working(worker, args.enterprises)
            finally:
                worker.stop()
            progress(f"working: {json.dumps(at_work)}")
    restart = {"store": args.store, "enterprises_in_changelog": args.enterprises, "starts": starts}
    if on_disk is not None:
        restart["local_store"] = on_disk
    if at_work is not None:
        restart["working_one_event_per_enterprise"] = at_work
    scale = 100_000
    print(json.dumps({
        "sample_enterprises": args.sample, "months": 24, "events_in_sample": events_in_sample,
        "fold_seconds": round(fold_seconds, 1),
        "ledger_bytes_per_enterprise": round(per_enterprise_bytes),
        "changelog_values_mib_per_100k": round(per_enterprise_bytes * scale / 2**20, 1),
        "table_memory_mib_per_100k": round(table_memory * scale / 2**20, 1),
        "restart": restart,
    }, indent=2))


if __name__ == "__main__":
    main()
