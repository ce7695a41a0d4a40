"""Pipeline throughput for one worker process, beside two references measured in the same run:

  (a) a bare Faust agent that only decodes the same topics (benchmarks/faust_decode_only.py);
  (a') the same agent also validating and folding each event into in-memory ledgers (--fold):
       the ceiling for any Faust agent doing the contract's per-event work, event by event (the
       issue's yardstick);
  (a' batched) the same, taking its stream in batches as the worker's agents do (--take): the
       ceiling for the worker's way of reading its stream;
  (a″) the batched agent handing each message to the worker's own per-event handler (validate,
       normalise, produce the normalised copy, fold into the worker's ledger state; --handle): no
       checkpoint, no aggregate rows, no sink. Between (a″) and full lies the worker's
       persist-then-acknowledge rounds, its rows and the sink sharing the machine;
  (b) a bare confluent-kafka consumer that decodes, validates and aggregates in plain Python;
  full: publish → validate → aggregate → lender-visible in ClickHouse (creditstream worker with
        its embedded sink), from the first event consumed to the last aggregate row inserted.

Needs the local broker (broker/kafka.sh start); RECREATES the platform topics. Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/pipeline_throughput.py [--enterprises 2500] [--months 12]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer

from benchmarks.common import LEDGER_RECORDS_RECOVERED, process_status, status_mib
from creditstream.connectors.simulate import Simulator
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.rules import Invalid
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.streams.aggregates import compute
from creditstream.streams.pipeline import accept, decode_avro, fold_into
from tests.support.kafka import (
    BOOTSTRAP,
    ROOT,
    WorkerProcess,
    admin_env,
    admin_kafka,
    free_port,
    platform_settings,
    reset_topics,
    scrape_metrics,
)
from tests.test_stream_kafka import publish

AS_OF = "2025-06"
# How the full run's progress is read. Each read of the worker's /metrics makes it fetch its sink
# service's series over HTTP from a thread: at 4 Hz that probe was 5.7 % of the worker's busy
# samples (py-spy, 2026-12-05), a load a 15 s Prometheus scrape never puts on it. So the rows are
# read from the sink service's own /metrics at 4 Hz (the end time within 0.25 s) and the worker
# is asked at 4 Hz only until its first event, then once a second for its aggregated count (the
# end is the later of the last row and that count, and the last row comes after it)
POLL_SECONDS = 0.25
WORKER_POLL_SECONDS = 1.0


def bare_consumer(expected: int) -> dict:
    registry = default_codec()
    consumer = Consumer(admin_kafka().consumer(f"bench-bare-{time.time_ns()}"))
    consumer.subscribe(list(PROVIDER_TOPICS))
    ledgers, count, first = {}, 0, None
    while count < expected:
        for message in consumer.consume(1000, timeout=1):
            if message.error():
                continue
            first = first or time.perf_counter()
            count += 1
            try:
                record, value = decode_avro(registry, message.topic(), message.value())
                value = accept(record, value)
            except Invalid:
                continue
            fold_into(ledgers, record, value)
    rows = [compute(u, ledger, parse_month(AS_OF)) for u, ledger in ledgers.items() if ledger.has_facts]
    seconds = time.perf_counter() - first
    consumer.close()
    return {"events": count, "seconds": round(seconds, 2), "events_per_second": round(count / seconds),
            "enterprises": len(rows)}


def faust_decode_only(expected: int, *flags: str) -> dict:
    result = Path(tempfile.mkdtemp()) / "result.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "faust_decode_only.py"), BOOTSTRAP, str(expected),
                    str(result), f"bench-decode-{time.time_ns()}", *flags], cwd=ROOT, timeout=1800,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **admin_env()})
    data = json.loads(result.read_text())
    return {**data, "seconds": round(data["seconds"], 2), "events_per_second": round(data["events"] / data["seconds"])}


def full_pipeline(expected: int, valid: int, tmp: Path, app_id: str | None = None) -> dict:
    """The worker (``app_id``'s, its changelog recovered first if it has one) from its first event
    consumed to the last aggregate row inserted; with the ledgers it held at the end and the
    changelog records it read at its start, so a run that was meant to start from given ledgers
    can tell whether it did."""
    sink_port = free_port()
    worker = WorkerProcess(tmp, app_id or f"bench-full-{time.time_ns()}", CREDITSTREAM_AS_OF=AS_OF,
                           CREDITSTREAM_API_ENABLED="false", CREDITSTREAM_SINK_METRICS_PORT=str(sink_port)).start()
    try:
        start = aggregated_at = None
        rows_key = 'creditstream_sink_rows_total{table="enterprise_aggregates"}'
        last_rows, last_change, worker_asked = -1, None, 0.0
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            now = time.perf_counter()
            if start is None or (aggregated_at is None and now - worker_asked >= WORKER_POLL_SECONDS):
                worker_asked, counts = now, worker.metrics()
                if start is None and counts.get('creditstream_events_consumed_total{topic="credit.utility.water.v1"}'):
                    start = now
                if counts.get("creditstream_events_aggregated_total") == valid:
                    aggregated_at = now
            rows = scrape_metrics(sink_port).get(rows_key, 0)
            if rows != last_rows:
                last_rows, last_change = rows, now
            if aggregated_at is not None and rows and now - max(last_change, aggregated_at) > 3:
                break  # the rows of the last events had 3 s to arrive after those events were folded
            time.sleep(POLL_SECONDS)
        else:
            raise RuntimeError("the pipeline did not finish in an hour")
        # done when every event is folded in and the last row is in ClickHouse
        seconds = max(aggregated_at, last_change) - start
        held = worker.metrics()
        return {"events": expected, "seconds": round(seconds, 2), "events_per_second": round(expected / seconds),
                "aggregate_rows_inserted": int(last_rows),
                "worker_peak_rss_mib": status_mib(process_status(worker.proc.pid), "VmHWM"),
                "ledgers_held": int(held.get("creditstream_ledgers", 0)),
                "changelog_records_read": int(held.get(LEDGER_RECORDS_RECOVERED, 0))}
    finally:
        worker.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--enterprises", type=int, default=2500)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    reset_topics(platform_settings())
    events = list(Simulator(args.enterprises, args.months, parse_month(AS_OF), seed=2, invalid_share=0.01).events())
    valid = sum(e.expect is None for e in events)
    started = time.perf_counter()
    publish(events)
    published = time.perf_counter() - started
    a = faust_decode_only(len(events))
    a_fold = faust_decode_only(len(events), "--fold")
    # the worker takes its stream in batches (streams.app): the same references taken that way
    a_fold_batched = faust_decode_only(len(events), "--fold", "--take")
    a_handle = faust_decode_only(len(events), "--handle", "--take")
    reset_topics(platform_settings(), keep=PROVIDER_TOPICS)  # (a″) wrote the worker's outputs: not the full run's
    b = bare_consumer(len(events))
    with tempfile.TemporaryDirectory() as tmp:
        full = full_pipeline(len(events), valid, Path(tmp))
    print(json.dumps({
        "events": len(events), "enterprises": args.enterprises, "months": args.months,
        "publish_seconds": round(published, 2),
        "a_bare_faust_decode": a, "a_prime_faust_decode_validate_fold": a_fold,
        "a_prime_over_a": round(a_fold["events_per_second"] / a["events_per_second"], 2),
        "a_prime_batched": a_fold_batched,
        "a_second_faust_worker_handler_batched": a_handle,
        "a_second_over_a_prime_batched": round(a_handle["events_per_second"] / a_fold_batched["events_per_second"], 2),
        "b_bare_consumer_decode_validate_aggregate": b, "full_pipeline": full,
        "full_over_a_prime": round(full["events_per_second"] / a_fold["events_per_second"], 2),
        "full_over_a_prime_batched": round(full["events_per_second"] / a_fold_batched["events_per_second"], 2),
        "full_over_a_second": round(full["events_per_second"] / a_handle["events_per_second"], 2),
        "full_over_a": round(full["events_per_second"] / a["events_per_second"], 2),
        "full_over_b": round(full["events_per_second"] / b["events_per_second"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
