"""Scale-out: 1, 2 and 4 workers in one consumer group split the partitions and must publish
exactly the aggregate rows `replay` computes from the same events. Reports each run's combined
throughput, every worker's share and peak RSS, and what the fastest run implies for the issue's
1M × 24 data set. Faust agents only (sink and API off, so the workers need no shared
ClickHouse); each worker has its own local state directory (RocksDB, as in production). Needs the
local broker; RECREATES the platform topics. Prints JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python -m benchmarks.scale_out [--enterprises 10000] [--months 24] [--workers 1 2 4]
        [--ledger-cache-mib N] [--unpersisted-mib N]

``--from-ledgers`` measures the issue's data set as the workers would hold it, since folding
1M × 24 months from nothing takes ~9 hours here: ENTERPRISES ledgers of 24 months (SAMPLE
simulated enterprises' ledgers under fresh USCCs, as state_size.py writes them) on the changelog,
recovered by the workers into their own stores, then one new event for every enterprise (each
ledger read from disk, changed, written and its row published). Every enterprise's row must equal
what replay's code computes from its ledger and that event.

    PYTHONPATH=. .venv/bin/python -m benchmarks.scale_out --from-ledgers --enterprises 1000000 --workers 4
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import process_status, status_mib
from benchmarks.common import synthetic_uscc as uscc
from benchmarks.state_size import AS_OF as LEDGERS_AS_OF
from benchmarks.state_size import delete_topic, new_statement, publish_month_for_everyone, sample_ledgers, write_changelog
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import AGGREGATES_TOPIC
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept, fold_into
from tests.support.kafka import STREAM_AS_OF, WorkerProcess, each_message, platform_settings, reset_topics, wait_for
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


def expected_row(i: int, stored: list[bytes], as_of: int) -> dict:
    """What replay's code computes for the i-th enterprise: its ledger (sample i mod SAMPLE)
    with its new event folded in."""
    record, value = new_statement(i)
    ledgers = {uscc(i): Ledger.from_bytes(stored[i % len(stored)])}
    fold_into(ledgers, record, accept(record, value))
    return compute(uscc(i), ledgers[uscc(i)], as_of)


def rows_against_replay(enterprises: int, stored: list[bytes]) -> dict:
    """Every enterprise's latest row on the aggregates topic against replay's, streamed (a
    million rows are read as bytes, and each expected row is computed when compared)."""
    latest = {m.key(): m.value() for m in each_message(AGGREGATES_TOPIC, timeout=1800)}
    as_of, differ, missing = parse_month(LEDGERS_AS_OF), [], 0
    for i in range(enterprises):
        actual = latest.pop(uscc(i).encode(), None)
        if actual is None:
            missing += 1
        elif json.loads(actual) != expected_row(i, stored, as_of):
            differ.append(uscc(i))
        if i and i % 100_000 == 0:
            log(f"compared {i:,} rows with replay's")
    return {"rows_compared": enterprises, "missing": missing, "differ": len(differ), "first_differing": differ[:3],
            "extra": len(latest), "rows_equal_replay": not (missing or differ or latest)}


def from_ledgers(workers: int, enterprises: int, sample: int, tmp: Path, memory_bounds: dict) -> dict:
    """``workers`` workers recover ``enterprises`` ledgers from the changelog into their own
    stores, then fold one new event for every enterprise; their combined rate and peak RSS, and
    every row against replay's."""
    settings = platform_settings()
    reset_topics(settings)
    stored, _ = sample_ledgers(sample)
    app_id = f"bench-scale-ledgers-{workers}-{time.time_ns()}"
    env = {"CREDITSTREAM_AS_OF": LEDGERS_AS_OF, "CREDITSTREAM_SINK_ENABLED": "false",
           "CREDITSTREAM_API_ENABLED": "false", **memory_bounds}
    changelog = f"{WorkerProcess(tmp, app_id).app_id}-ledger-changelog"
    write_changelog(changelog, stored, enterprises, settings.partitions)
    log(f"{enterprises:,} ledgers on the changelog; starting {workers} worker(s)")
    started = time.perf_counter()
    procs = [WorkerProcess(tmp, app_id, CREDITSTREAM_DATA_DIR=str(tmp / f"{app_id}-worker-{n}"), **env).start()
             for n in range(workers)]
    try:
        def totals(*names) -> list[float]:
            """Each series summed over the workers, from one scrape of each."""
            scraped = [p.metrics() for p in procs]
            return [sum(page.get(name, 0) for page in scraped) for name in names]

        wait_for(lambda: totals("creditstream_ledgers") == [enterprises], 1800, "the workers to hold every ledger",
                 interval=1)
        recovered = time.perf_counter() - started
        log(f"{workers} worker(s) hold the {enterprises:,} ledgers after {recovered:.0f} s; publishing the month")
        started, shown = time.perf_counter(), [time.perf_counter()]
        publish_month_for_everyone(enterprises)

        def folded_and_published() -> bool:
            folded, published = totals("creditstream_events_aggregated_total",
                                       "creditstream_aggregates_published_total")
            if time.perf_counter() - shown[0] >= 15:
                shown[0] = time.perf_counter()
                log(f"{folded:,.0f} of {enterprises:,} events folded, {published:,.0f} rows published, RSS "
                    + " / ".join(str(status_mib(process_status(p.proc.pid), "VmRSS")) for p in procs) + " MiB")
            return folded >= enterprises and published >= enterprises

        wait_for(folded_and_published, 7200, "every event folded and every row published", interval=1)
        seconds = time.perf_counter() - started
        shares = [int(p.metrics().get("creditstream_events_aggregated_total", 0)) for p in procs]
        rss = [peak_rss_mib(p.proc.pid) for p in procs]
    finally:
        for p in procs:
            p.stop()
    result = {"workers": workers, "enterprises": enterprises, "seconds_to_hold_every_ledger": round(recovered, 1),
              "seconds": round(seconds, 1), "events_per_second": round(enterprises / seconds),
              "folded_per_worker": shares, "peak_rss_mib_per_worker": rss}
    log(json.dumps(result))
    for n in range(workers):  # the next run needs the disk (~6 GB of stores and ~12 GB of changelog at 1M)
        shutil.rmtree(tmp / f"{app_id}-worker-{n}", ignore_errors=True)
    result.update(rows_against_replay(enterprises, stored))
    log(json.dumps(result))
    delete_topic(changelog)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ledger-cache-mib", type=int, help="the workers' ledger_cache_mib (default: the setting's)")
    parser.add_argument("--unpersisted-mib", type=int,
                        help="the workers' unpersisted_ledgers_mib (default: the setting's)")
    parser.add_argument("--from-ledgers", action="store_true",
                        help="start from ENTERPRISES ledgers of 24 months and give each one new event")
    parser.add_argument("--sample", type=int, default=500, help="--from-ledgers: simulated enterprises cloned")
    args = parser.parse_args()
    memory_bounds = {name: str(value) for name, value in (("CREDITSTREAM_LEDGER_CACHE_MIB", args.ledger_cache_mib),
                                                          ("CREDITSTREAM_UNPERSISTED_LEDGERS_MIB",
                                                           args.unpersisted_mib)) if value is not None}
    if args.from_ledgers:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [from_ledgers(n, args.enterprises, args.sample, Path(tmp), memory_bounds) for n in args.workers]
        print(json.dumps({"from_ledgers": True, "enterprises": args.enterprises, "sample": args.sample,
                          "memory_bounds": memory_bounds, "runs": runs}, indent=2))
        return
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
