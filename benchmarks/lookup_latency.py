"""Lender look-ups under concurrency, through the production wiring, beside the raw ClickHouse
point query on the same table in the same run. Prints JSON. Not a test.

    .venv/bin/python -m benchmarks.lookup_latency [--enterprises 1000000] [--clients 1 4 16 64]

What it does, on its own broker (port 19192, a temporary directory; the development broker and
its topics are left alone):
1. N aggregate rows (the shape the worker publishes, ~2.2 kB each) on credit.aggregates.v1, one
   lender key per client on credit.apikeys.v1, and that lender's consents for the enterprises the
   clients will look up on credit.consent.accepted.v1, as the worker would have accepted them.
2. ``creditstream worker`` (Faust, its sink service with embedded ClickHouse, and the API): the
   worker runs throughout. The API is measured once its view is loaded and the sink has stored
   every row.
3. For 1, 4, 16 and 64 concurrent keep-alive clients (connections of wrk, a C load generator
   from Debian, so the clients take little of the 2 cores; without wrk, a Python asyncio client):
   GET /v1/enterprises/{uscc}/aggregates of random enterprises as fast as the answers come, and,
   for 16 clients, at an offered load of ~1,000 look-ups/s. p50/p90/p99 and throughput; every
   answer is checked to be 200 with the consented fields (each look-up is audited durably
   before it is answered: by default in the API's local journal, shipped to Kafka behind).
4. The worker stopped, the raw point query on the same enterprise_aggregates table, 1 and 4
   threads (chdb allows one process per data directory, so not at the same time).

With ``--audit kafka journal [--rounds 3]``, instead of 3 and 4: the worker restarted once per way of
making the audit durable (Kafka's acknowledgement; the local journal, the default), in turn,
``--rounds`` times over, each measured at 1 client, 16 clients as fast as they can and 16 clients
offered ~1,140/s, with each process's CPU — the variants side by side in one run, so the
machine's drift falls on all. The API as first started (its view just written to disk, the broker
compacting the rows just produced) is measured the same way first.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Producer

from benchmarks.common import cpu_seconds_by_process, process_status, processes, send
from benchmarks.common import synthetic_uscc as uscc
from creditstream.broker import admin_credential
from creditstream.kafka_admin import create_topics, group_caught_up
from creditstream.schemas import apikeys
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import SCOPES, AggregateRow, ConsentState, KeyEvent
from creditstream.schemas.topics import AGGREGATES_TOPIC, API_KEYS_TOPIC, CONSENT_STATE_TOPIC
from creditstream.settings import Settings
from creditstream.sinks.clickhouse import ThreadClients, connect
from creditstream.sinks.rows import SINK_TOPICS
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support.builders import payment, penalty, statement
from tests.support.kafka import free_port

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
PORT, CONTROLLER_PORT = 19192, 19193
LENDER = "bench-lender"


def log(message: str) -> None:
    print(f"[lookup] {message}", file=sys.stderr, flush=True)


def template_row() -> dict:
    ledger = Ledger()
    for month in range(1, 13):
        ledger.apply(*statement("water", "W1", f"2025-{month:02d}", "10.5", "43.05"))
        ledger.apply(*statement("electricity", "E1", f"2025-{month:02d}", "2400", "1560.00"))
        ledger.apply(*statement("gas", "G1", f"2025-{month:02d}", "150", "420.00"))
    ledger.apply(*payment("VAT", "2025-10-01", "2025-12-31", "300.00", "300.00", "2026-01-15", "2026-01-10"))
    ledger.apply(*penalty("P1", "2025-06-01"))
    return compute("X", ledger, 2025 * 12 + 11, dt.date(2025, 12, 31))


def produce(kafka: KafkaConnection, n: int, picks: list[str], keys: list[tuple[str, str]]) -> None:
    producer = Producer(kafka.provider_producer())
    row = template_row()
    for i in range(n):
        send(producer, AGGREGATES_TOPIC, uscc(i).encode(), AggregateRow.encode({**row, "uscc": uscc(i)}))
        if i % 100_000 == 99_999:
            log(f"produced {i + 1:,} rows")
    now = dt.datetime.now(UTC)
    for u in sorted(set(picks)):
        state = ConsentState(u, LENDER, f"c-{u}", tuple(SCOPES), now - dt.timedelta(days=1), now + dt.timedelta(days=365),
                             False, now)
        send(producer, CONSENT_STATE_TOPIC, state.key, state.to_bytes())
    for key_id, key in keys:
        send(producer, API_KEYS_TOPIC, key_id.encode(),
             KeyEvent(key_id, apikeys.key_hash(key), "lender", LENDER, now, False).to_bytes())
    if producer.flush(300):
        raise RuntimeError("could not produce the data set")


def wait(predicate, timeout: float, what: str, poll: float = 1.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - started


def cpu_idle(seconds: float = 5.0) -> float:
    """Share of the machine's CPU time that was idle over the next ``seconds`` (/proc/stat)."""
    def sample():
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def settle(limit: float) -> float:
    """Wait (up to ``limit`` s) until the broker's log cleaner and ClickHouse's merges after the
    load have calmed down: look-ups are measured in steady state, with the worker idle."""
    started = time.monotonic()
    idle = cpu_idle()
    while idle < 0.8 and time.monotonic() - started < limit:
        log(f"machine {idle:.0%} idle; waiting for background work (compaction, merges) to settle")
        idle = cpu_idle()
    return idle


def healthy(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
    except OSError:
        return False


async def client(port: int, key: str, usccs: list[str], latencies: list[float], failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for u in usccs:
        started = time.perf_counter()
        writer.write(f"GET /v1/enterprises/{u}/aggregates HTTP/1.1\r\nHost: bench\r\n"
                     f"Authorization: Bearer {key}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                     .split(b":")[1])
        body = await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        if not head.startswith(b"HTTP/1.1 200") or b'"vat_paid_12m"' not in body:
            failures.append(head.split(b"\r\n")[0].decode() + " " + body[:200].decode(errors="replace"))
    writer.close()


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "lookup.lua"


def run_wrk(port: int, key: str, picks_file: Path, clients: int, seconds: int, pace_ms: int = 0) -> dict:
    env = {**os.environ, "LOOKUP_KEY": key, "LOOKUP_PICKS": str(picks_file), "LOOKUP_PACE_MS": str(pace_ms)}
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "-s", str(WRK_SCRIPT),
                          f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} look-ups failed or lacked the consented fields")
    return {"clients": clients, "offered_per_second": round(clients * 1000 / pace_ms) if pace_ms else "max",
            "lookups": result["lookups"], "per_second": round(result["lookups"] / result["seconds"]),
            **{k: result[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}}


def kafka_acks(kafka: KafkaConnection, messages: int = 2000) -> dict:
    """One message at a time to the audit topic with acks=all, as a look-up's audit waits for it:
    the broker's own share of a look-up's latency, in the same run."""
    from creditstream.schemas.tables import LookupAuditRow
    from creditstream.schemas.topics import AUDIT_TOPIC

    producer = Producer(kafka.producer(**{"linger.ms": 0}))
    latencies = []
    for i in range(messages):
        done = []
        record = LookupAuditRow(dt.datetime.now(UTC), f"bench-ack-{i}", "anonymous", "", "", "bench-ack", "", "", "deny",
                                "the benchmark's own acknowledgement probe", None, 0).to_bytes()
        started = time.perf_counter()
        producer.produce(AUDIT_TOPIC, record, on_delivery=lambda err, msg: done.append(err))
        while not done:
            producer.poll(0.0005)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.001)  # ~1,000/s offered, as the paced look-ups
    return {"messages": messages, **percentiles(latencies)}


def run_clients(port: int, keys: list[str], picks: list[str], clients: int, lookups: int) -> dict:
    per_client = max(1, lookups // clients)
    latencies: list[float] = []
    failures: list[str] = []
    rng = random.Random(clients)

    async def all_clients():
        await asyncio.gather(*(client(port, keys[i], [rng.choice(picks) for _ in range(per_client)], latencies,
                                      failures) for i in range(clients)))
    started = time.perf_counter()
    asyncio.run(all_clients())
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} look-ups failed, first: {failures[0]}")
    return {"clients": clients, "lookups": len(latencies), **percentiles(latencies),
            "per_second": round(len(latencies) / elapsed)}


def percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"p50_ms": round(samples[len(samples) // 2], 2), "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 2),
            "max_ms": round(samples[-1], 2)}


def raw_point_queries(url: str, picks: list[str], threads: int, lookups: int) -> dict:
    clients = ThreadClients(url)
    latencies: list[float] = []
    rng = random.Random(threads)
    work = [[rng.choice(picks) for _ in range(lookups // threads)] for _ in range(threads)]

    def one(usccs):
        c = clients.get()
        for u in usccs:
            started = time.perf_counter()
            rows = c.query("SELECT row_json, updated_at FROM enterprise_aggregates WHERE uscc = {u:String} "
                           "ORDER BY version DESC LIMIT 1", parameters={"u": u}).result_rows
            latencies.append((time.perf_counter() - started) * 1000)
            assert rows, u
    started = time.perf_counter()
    pool = [threading.Thread(target=one, args=(w,)) for w in work]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    return {"threads": threads, "lookups": len(latencies), **percentiles(latencies),
            "per_second": round(len(latencies) / elapsed)}


def start_worker(settings: Settings, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "creditstream.cli", "worker"],
                            env={**os.environ, **settings.to_env()}, stdout=subprocess.DEVNULL,
                            stderr=open(home / "worker.log", "ab"), start_new_session=True)


# How a look-up's audit record is made durable, for --audit: Kafka's acknowledgement of each group,
# or the local journal shipped behind the answers (api/audit_journal.py, the default)
AUDIT_VARIANTS = {"kafka": {"api_audit_journal": False}, "journal": {"api_audit_journal": True}}


# whose CPU is shown beside each level: who shares the two cores with the API
PROCESSES = {"api": b"creditstream.cli\0api", "sink": b"creditstream.cli\0sink",
             "worker": b"creditstream.cli\0worker", "broker": b"kafka.Kafka", "wrk": b"wrk\0"}


def measure_levels(port: int, key: str, picks_file: Path, seconds: int) -> list[dict]:
    """After a warm-up: 1 client, 16 clients as fast as they can, 16 clients offered ~1,140/s (so
    that ≥ 1,000/s are answered: each client's pause comes on top of its answer's time), each with
    the share of a core each process used meanwhile."""
    run_wrk(port, key, picks_file, 4, 2)
    levels = []
    for clients, pace in ((1, 0), (16, 0), (16, 14)):
        before, started = cpu_seconds_by_process(PROCESSES), time.monotonic()
        levels.append(run_wrk(port, key, picks_file, clients, seconds, pace))
        after, elapsed = cpu_seconds_by_process(PROCESSES), time.monotonic() - started
        levels[-1]["cores_used"] = {name: round((after[name] - before[name]) / elapsed, 2) for name in PROCESSES}
    return levels


def compare_audit(settings: Settings, home: Path, key: str, picks_file: Path, variants: list[str], rounds: int,
                  seconds: int) -> list[dict]:
    """Each variant in turn, ``rounds`` times over (so a drift of the machine falls on all of
    them): the worker restarted with it, then ``measure_levels``."""
    results = []
    for round_number in range(1, rounds + 1):
        for variant in variants:
            worker = start_worker(settings.replace(**AUDIT_VARIANTS[variant]), home)
            try:
                wait(lambda: healthy(settings.api_port), 600, f"the API ({variant})")
                levels = measure_levels(settings.api_port, key, picks_file, seconds)
            finally:
                worker.terminate()
                worker.wait(60)
            results.append({"round": round_number, "audit": variant, "levels": levels})
            log(json.dumps(results[-1]))
    return results


def api_rss_mib(worker_pid: int) -> int | None:
    """RSS of the worker's `creditstream api` child process, from /proc."""
    for pid, command in processes():
        if b"api" not in command.split(b"\0"):
            continue
        try:
            status = process_status(pid)
        except OSError:
            continue
        if int(status["PPid"]) == worker_pid:
            return int(status["VmRSS"].split()[0]) // 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--lookups", type=int, default=8000, help="look-ups per level (Python client)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per level (wrk)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--view", choices=("disk", "memory"), default="disk",
                        help="where the API keeps its rows: on local disk (the default, CREDITSTREAM_API_VIEW_DIR) "
                             "or in memory (the reference); a restart is measured either way")
    parser.add_argument("--audit", nargs="+", choices=sorted(AUDIT_VARIANTS),
                        help="instead of the levels above: these ways of making the audit durable, in turn, "
                             "--rounds times over (1 client, 16 clients max and ~1,140/s offered)")
    parser.add_argument("--rounds", type=int, default=3, help="with --audit: rounds over the variants")
    args = parser.parse_args()
    if args.audit and not shutil.which("wrk"):
        parser.error("--audit measures with wrk: install Debian's package wrk")
    home = Path(tempfile.mkdtemp(prefix="cs-lookup-"))
    broker_env = {**os.environ, "KAFKA_PORT": str(PORT), "KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
                  "KAFKA_HOME_DIR": str(home / "kafka"), "KAFKA_HEAP": "1g"}
    script = ROOT / "broker" / "kafka.sh"
    subprocess.run(["bash", str(script), "start"], env=broker_env, check=True)
    admin_user, admin_password = admin_credential(home / "kafka")  # the benchmark administers its own broker
    worker = None
    try:
        settings = Settings(home=str(home), bootstrap_servers=f"127.0.0.1:{PORT}", api_port=free_port(),
                            kafka_username=admin_user, kafka_password=admin_password,
                            web_port=free_port(), personal_data_key="bench", api_rate_per_second=1e6,
                            api_rate_burst=1_000_000,
                            api_view_dir=str(home / "api-view") if args.view == "disk" else "memory")
        create_topics(settings.kafka, settings.partitions, 1)
        rng = random.Random(7)
        picks = [uscc(rng.randrange(args.enterprises)) for _ in range(20_000)]
        keys = [apikeys.new_key() for _ in range(max(args.clients))]
        started = time.monotonic()
        produce(settings.kafka, args.enterprises, picks, keys)
        produced_in = time.monotonic() - started
        log(f"data set produced in {produced_in:.0f} s; starting the worker")
        started = time.monotonic()
        worker = start_worker(settings, home)
        view_loaded = wait(lambda: healthy(settings.api_port), 600, "the API's view to load")
        log(f"API serving after {view_loaded:.1f} s; waiting for the sink to store every row")
        wait(lambda: group_caught_up(settings.kafka, f"{settings.app_id}-sink", SINK_TOPICS), 1800,
             "the sink to catch up", poll=5)
        sink_done = time.monotonic() - started
        idle = settle(600)
        results = []
        client_keys = [k for _, k in keys]
        run_clients(settings.api_port, client_keys, picks, 4, 400)  # warm-up, and a check of every answer
        picks_file = home / "picks.txt"
        picks_file.write_text("\n".join(picks))
        if args.audit:
            first = measure_levels(settings.api_port, client_keys[0], picks_file, args.seconds)
            log("as first started: " + json.dumps(first))
            worker.terminate()
            worker.wait(60)
            worker = None
            compared = compare_audit(settings, home, client_keys[0], picks_file, args.audit, args.rounds, args.seconds)
            print(json.dumps({"enterprises": args.enterprises, "api_view": args.view, "first_start": first,
                              "audit_variants": compared},
                             indent=2))
            return
        if shutil.which("wrk"):
            runs = [(clients, 0) for clients in args.clients] + [(16, 16)]
            for clients, pace in runs:
                results.append(run_wrk(settings.api_port, client_keys[0], picks_file, clients, args.seconds, pace))
                log(json.dumps(results[-1]))
        else:
            log("wrk not found (Debian package wrk): measuring with the Python client")
            for clients in args.clients:
                results.append(run_clients(settings.api_port, client_keys, picks, clients, args.lookups))
                log(json.dumps(results[-1]))
        # the broker's acknowledgement alone, on the same broker, in the same state
        acks = kafka_acks(settings.kafka)
        log("kafka acks " + json.dumps(acks))
        api_rss = api_rss_mib(worker.pid)
        log(f"API RSS {api_rss} MiB")
        worker.terminate()
        worker.wait(60)
        # a restart: the worker and its API again on the same data (with the view on disk, the API
        # reads only what changed since it stopped)
        started = time.monotonic()
        worker = start_worker(settings, home)
        restarted = wait(lambda: healthy(settings.api_port), 600, "the restarted API")
        run_clients(settings.api_port, client_keys, picks, 4, 400)  # every answer checked again
        rss_after_restart = api_rss_mib(worker.pid)
        log(f"API serving {restarted:.1f} s after a restart; RSS {rss_after_restart} MiB")
        worker.terminate()
        worker.wait(60)
        worker = None
        url = settings.clickhouse_url
        stored = connect(url).query("SELECT count() FROM enterprise_aggregates FINAL").result_rows[0][0]
        raw = [raw_point_queries(url, picks, threads, min(args.lookups, 2000)) for threads in (1, 4)]
        for r in raw:
            log("raw " + json.dumps(r))
        print(json.dumps({"enterprises": args.enterprises, "stored_rows": stored, "produce_seconds": round(produced_in),
                          "api_view": args.view,
                          "api_serving_after_start_seconds": round(view_loaded, 1),
                          "api_serving_after_restart_seconds": round(restarted, 1),
                          "api_rss_mib_after_lookups": api_rss, "api_rss_mib_after_restart": rss_after_restart,
                          "sink_caught_up_after_start_seconds": round(sink_done),
                          "cpu_idle_before_measuring": round(idle, 2),
                          "api": results, "kafka_ack_alone": acks, "raw_point_query": raw}, indent=2))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        subprocess.run(["bash", str(script), "stop"], env=broker_env, check=False)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
