"""Scale-out: two workers in one consumer group split the partitions and produce exactly the
aggregates one worker produces. Reports both throughputs (Faust agents only, sink off, so the
two workers need no shared ClickHouse). Needs the local broker; RECREATES the platform topics.

    PYTHONPATH=. .venv/bin/python benchmarks/scale_out.py [--enterprises 1000] [--months 12]
"""
import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import AGGREGATES_TOPIC
from creditstream.streams.replay import aggregate_rows, fold_lines
from tests.support.kafka import WorkerProcess, latest_by_key, platform_settings, read_topic, reset_topics, wait_for
from tests.test_stream_kafka import publish

AS_OF = "2025-06"


def run(workers: int, events, valid: int, expected: dict, tmp: Path) -> dict:
    reset_topics(platform_settings())
    publish(events)
    app_id = f"bench-scale-{workers}-{time.time_ns()}"
    procs = [WorkerProcess(tmp, app_id, CREDITSTREAM_AS_OF=AS_OF, CREDITSTREAM_SINK_ENABLED="false",
                           CREDITSTREAM_API_ENABLED="false").start() for _ in range(workers)]
    try:
        def total(name):
            return sum(p.metrics().get(name, 0) for p in procs)
        wait_for(lambda: total('creditstream_events_consumed_total{topic="credit.utility.water.v1"}') > 0, 180,
                 "consumption to start", interval=0.1)
        started = time.perf_counter()
        wait_for(lambda: total("creditstream_events_aggregated_total") >= valid, 1800, "aggregation", interval=0.1)
        seconds = time.perf_counter() - started
        shares = [p.metrics().get("creditstream_events_aggregated_total", 0) for p in procs]
        time.sleep(2)
        same = latest_by_key(read_topic(AGGREGATES_TOPIC)) == expected
    finally:
        for p in procs:
            p.stop()
    return {"workers": workers, "seconds": round(seconds, 2), "events_per_second": round(len(events) / seconds),
            "aggregated_per_worker": shares, "aggregates_equal_replay": same}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    events = list(Simulator(args.enterprises, args.months, parse_month(AS_OF), seed=8, invalid_share=0.01).events())
    valid = sum(e.expect is None for e in events)
    expected = {r["uscc"]: r for r in aggregate_rows(
        fold_lines([event_line(e) for e in events], default_codec(), io.StringIO()), parse_month(AS_OF))}
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, events, valid, expected, Path(tmp))
        two = run(2, events, valid, expected, Path(tmp))
    print(json.dumps({"events": len(events), "one_worker": one, "two_workers": two,
                      "speed_up": round(two["events_per_second"] / one["events_per_second"], 2)}, indent=2))


if __name__ == "__main__":
    main()
