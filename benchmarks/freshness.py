"""Freshness at a steady event rate: provider produce → lender-visible in ClickHouse, p50 and p99.

Starts `creditstream worker` (agents + sink on embedded ClickHouse), produces simulated events at
a steady rate (default 1,000/s for 60 s) and reads the sink's creditstream_freshness_seconds
histogram, whose start is each row's newest provider produce time. Percentiles are interpolated
within histogram buckets, like PromQL's histogram_quantile. Then, in the same run with the worker
stopped, the reference: a bare consumer of the provider topics timing produce → consume of the
first 20 s of the same events at the same rate (the broker's own latency on this machine, a floor
for any pipeline behind it; run beside the worker it competed for the same two cores: p99
0.99-1.96 s in three runs, against 0.75-0.95 s without it). Needs the local broker; RECREATES the
platform topics. Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/freshness.py [--rate 1000] [--seconds 60]
"""
import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer

from benchmarks.common import produce_steadily, steady_events
from creditstream.schemas.topics import PROVIDER_TOPICS
from tests.support.kafka import WorkerProcess, admin_kafka, platform_settings, reset_topics, wait_for

REFERENCE_SECONDS = 20  # of the same events, at the same rate, for the reference


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile over cumulative (upper bound, count) pairs."""
    total = buckets[-1][1]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / max(count - previous_count, 1e-9)
        previous_bound, previous_count = bound, count
    return float("nan")


def joined(metrics: dict[str, float]) -> bool:
    """The worker holds its input partitions and the sink reports the lag of its own (it does once
    assigned), and the sink can insert."""
    return (metrics.get("creditstream_worker_input_partitions", 0) > 0
            and metrics.get("creditstream_sink_target_up") == 1
            and any(name.startswith("creditstream_sink_consumer_lag{") for name in metrics))


def drained(worker, events: int, settle: float = 3.0, timeout: float = 120) -> dict[str, float]:
    """The worker's metrics once it has consumed every event and no row has been inserted for
    ``settle`` seconds (the rows of the last events had that long to arrive)."""
    deadline, last_rows, last_change = time.monotonic() + timeout, -1.0, time.monotonic()
    while time.monotonic() < deadline:
        metrics = worker.metrics()
        consumed = sum(value for name, value in metrics.items() if name.startswith("creditstream_events_consumed_total{"))
        rows = metrics.get("creditstream_freshness_seconds_count", 0.0)
        if rows != last_rows:
            last_rows, last_change = rows, time.monotonic()
        if consumed >= events and rows and time.monotonic() - last_change >= settle:
            return metrics
        time.sleep(0.25)
    raise RuntimeError(f"the worker did not consume {events} events and go quiet in {timeout} s")


class BareConsumer(threading.Thread):
    """The reference: reads the provider topics from their end, noting now - produce time of each
    message, until ``expected`` messages or ``stop``."""

    def __init__(self, expected: int):
        super().__init__(daemon=True)
        self.expected, self.latencies, self.stop, self.ready = expected, [], threading.Event(), threading.Event()

    def run(self) -> None:
        consumer = Consumer(admin_kafka().consumer(f"bench-fresh-bare-{time.time_ns()}", **{"auto.offset.reset": "latest"}))
        consumer.subscribe(list(PROVIDER_TOPICS), on_assign=lambda *_: self.ready.set())
        try:
            while len(self.latencies) < self.expected and not self.stop.is_set():
                message = consumer.poll(0.1)  # one at a time: a batch would wait for its last message
                if message is not None and not message.error():
                    self.latencies.append(time.time() - message.timestamp()[1] / 1000)
        finally:
            consumer.close()

    def percentiles(self) -> dict:
        ordered = sorted(self.latencies)
        if not ordered:
            return {"messages": 0}
        return {"messages": len(ordered), "p50_seconds": round(ordered[len(ordered) // 2], 3),
                "p99_seconds": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)}


def bare_reference(producer, events, rate: int) -> dict:
    """Produce ``events`` again at ``rate`` with only the reference consumer reading them."""
    bare = BareConsumer(len(events))
    bare.start()
    try:
        wait_for(bare.ready.is_set, 60, "the reference consumer to be assigned its partitions")
        produce_steadily(producer, events, rate)
        wait_for(lambda: len(bare.latencies) >= len(events), 60, "the reference consumer to read every event")
    finally:
        bare.stop.set()
        bare.join(10)
    return bare.percentiles()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    reset_topics(platform_settings())
    events = steady_events(args.rate, args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        worker = WorkerProcess(Path(tmp), f"bench-fresh-{time.time_ns()}", CREDITSTREAM_AS_OF="2025-06",
                               CREDITSTREAM_API_ENABLED="false").start()
        try:
            # measured from the first event on: the worker and its sink must already read their topics
            wait_for(lambda: joined(worker.metrics()), 120, "the worker and its sink to join their groups")
            producer = Producer(admin_kafka().producer(**{"linger.ms": 5}))
            sent_seconds = produce_steadily(producer, events, args.rate)
            metrics = drained(worker, len(events))
        finally:
            worker.stop()
    reference = bare_reference(producer, events[:args.rate * REFERENCE_SECONDS], args.rate)
    buckets = sorted((float(name.split('le="')[1].split('"')[0]), value) for name, value in metrics.items()
                     if name.startswith("creditstream_freshness_seconds_bucket"))
    print(json.dumps({
        "target_rate": args.rate, "events": len(events), "achieved_rate": round(len(events) / sent_seconds),
        "aggregate_rows_observed": int(buckets[-1][1]),
        "freshness_p50_seconds": round(quantile(0.5, buckets), 3),
        "freshness_p99_seconds": round(quantile(0.99, buckets), 3),
        "reference_bare_consumer_produce_to_consume": reference,
        "buckets": buckets,
    }, indent=2))


if __name__ == "__main__":
    main()
