"""Scale-out: 1, 2 and 4 workers in one consumer group split the partitions and must publish
exactly the aggregate rows `replay` computes from the same events. Reports each run's combined
throughput, every worker's share and peak RSS, and what the fastest run implies for the issue's
1M × 24 data set. Faust agents only (sink and API off, so the workers need no shared
ClickHouse); each worker has its own local state directory (RocksDB, as in production). Needs the
local broker; RECREATES the platform topics. Prints JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python -m benchmarks.scale_out [--enterprises 10000] [--months 24] [--workers 1 2 4]
        [--ledger-cache N] [--max-unpersisted N]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import process_status, status_mib
from tests.support.kafka import STREAM_AS_OF, WorkerProcess, platform_settings, reset_topics, wait_for
from tests.support.stream import aggregates_equal, publish, simulated

TARGET_ENTERPRISES, TARGET_MONTHS = 1_000_000, 24  # the data set, projected from the measured rate


def log(message: str) -> None:
    print(f"[scale-out] {message}", file=sys.stderr, flush=True)


def peak_rss_mib(pid: int) -> int:
    """The process's peak resident set (VmHWM), from /proc."""
    return status_mib(process_status(pid), "VmHWM")


def run(workers: int, events, valid: int, expected: dict, tmp: Path, memory_bounds: dict) -> dict:
    reset_topics(platform_settings())
    published = time.perf_counter()
    publish(events)
    log(f"{workers} worker(s): {len(events):,} events published in {time.perf_counter() - published:.0f} s")
    app_id = f"bench-scale-{workers}-{time.time_ns()}"
    procs = [WorkerProcess(tmp, app_id, CREDITSTREAM_AS_OF=STREAM_AS_OF, CREDITSTREAM_SINK_ENABLED="false",
                           CREDITSTREAM_API_ENABLED="false",
                           CREDITSTREAM_DATA_DIR=str(tmp / f"{app_id}-worker-{n}"), **memory_bounds).start()
             for n in range(workers)]
    try:
        def total(name):
            return sum(p.metrics().get(name, 0) for p in procs)

        wait_for(lambda: total('creditstream_events_consumed_total{topic="credit.utility.water.v1"}') > 0, 300,
                 "consumption to start", interval=0.1)
        started, shown = time.perf_counter(), 0.0

        def folded_all() -> bool:
            nonlocal shown
            done = total("creditstream_events_aggregated_total")
            if time.perf_counter() - shown >= 10:
                shown = time.perf_counter()
                log(f"{workers} worker(s): {done:,.0f} of {valid:,} events folded")
            return done >= valid

        wait_for(folded_all, 3600, "aggregation", interval=0.1)
        seconds = time.perf_counter() - started
        shares = [int(p.metrics().get("creditstream_events_aggregated_total", 0)) for p in procs]
        # the rows of the last events are published by the next round: wait for them to equal replay
        try:
            wait_for(aggregates_equal(expected), 300, "the rows to equal replay", interval=2)
            same = True
        except AssertionError:
            same = False
        rss = [peak_rss_mib(p.proc.pid) for p in procs]
    finally:
        for p in procs:
            p.stop()
    result = {"workers": workers, "seconds": round(seconds, 2), "events_per_second": round(len(events) / seconds),
              "folded_per_worker": shares, "peak_rss_mib_per_worker": rss, "aggregates_equal_replay": same}
    log(json.dumps(result))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ledger-cache-mib", type=int, help="the workers' ledger_cache_mib (default: the setting's)")
    parser.add_argument("--unpersisted-mib", type=int,
                        help="the workers' unpersisted_ledgers_mib (default: the setting's)")
    args = parser.parse_args()
    memory_bounds = {name: str(value) for name, value in (("CREDITSTREAM_LEDGER_CACHE_MIB", args.ledger_cache_mib),
                                                          ("CREDITSTREAM_UNPERSISTED_LEDGERS_MIB",
                                                           args.unpersisted_mib)) if value is not None}
    log(f"simulating {args.enterprises:,} enterprises × {args.months} months and replaying them")
    events, expected = simulated(args.enterprises, args.months, seed=8, invalid_share=0.01)
    valid = sum(e.expect is None for e in events)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run(n, events, valid, expected, Path(tmp), memory_bounds) for n in args.workers]
    best = max(runs, key=lambda r: r["events_per_second"])
    per_enterprise_month = len(events) / (args.enterprises * args.months)
    target_events = per_enterprise_month * TARGET_ENTERPRISES * TARGET_MONTHS
    print(json.dumps({
        "enterprises": args.enterprises, "months": args.months, "events": len(events), "valid_events": valid,
        "memory_bounds": memory_bounds,
        "runs": runs,
        "speed_up": {r["workers"]: round(r["events_per_second"] / runs[0]["events_per_second"], 2) for r in runs},
        "projected_1m_x_24": {"events": round(target_events),
                              "hours_at_best_rate": round(target_events / best["events_per_second"] / 3600, 1),
                              "best_rate_workers": best["workers"]},
    }, indent=2))


if __name__ == "__main__":
    main()
