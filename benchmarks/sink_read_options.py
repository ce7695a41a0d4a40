"""Measure the ClickHouse options for effectively-once, latest-row reads (docs/sink-design.md).

Loads N enterprises with D versions each into a ReplacingMergeTree (as re-deliveries and updates
leave them before merges), then times point look-ups by USCC with FINAL, argMax and
ORDER BY version DESC LIMIT 1, and times a batch insert with and without a deduplication token
(and its repeat). Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/sink_read_options.py [--enterprises 100000] [--versions 3]
"""
import argparse
import json
import random
import statistics
import tempfile
import time

from benchmarks.common import synthetic_uscc as uscc
from creditstream.sinks.clickhouse import connect


def timed(fn, repeats):
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=500)
    args = parser.parse_args()
    client = connect("chdb://" + tempfile.mkdtemp(prefix="cs-bench-"))
    client.command("CREATE TABLE agg (uscc String, row_json String, version UInt64) ENGINE = ReplacingMergeTree(version) "
                   "ORDER BY uscc SETTINGS non_replicated_deduplication_window = 10000")
    payload = json.dumps({"field": "x" * 1200})
    keys = [uscc(i) for i in range(args.enterprises)]
    for version in range(args.versions):  # separate inserts: separate parts, as a live sink leaves them
        client.insert("agg", [[k, payload, version] for k in keys], column_names=["uscc", "row_json", "version"])
    rng = random.Random(1)
    picks = [rng.choice(keys) for _ in range(args.lookups)]
    it = iter(picks * 3)
    reads = {
        "FINAL": "SELECT row_json FROM agg FINAL WHERE uscc = {u:String}",
        "argMax": "SELECT argMax(row_json, version) FROM agg WHERE uscc = {u:String}",
        "order_by_limit_1": "SELECT row_json FROM agg WHERE uscc = {u:String} ORDER BY version DESC LIMIT 1",
    }
    result = {"enterprises": args.enterprises, "versions_per_enterprise": args.versions, "point_lookup": {}}
    for name, sql in reads.items():
        result["point_lookup"][name] = timed(lambda: client.query(sql, parameters={"u": next(it)}), args.lookups)
    batch = [[k, payload, 99] for k in keys[:5000]]
    cols = ["uscc", "row_json", "version"]
    result["insert_5000_rows"] = {
        "no_token": timed(lambda: client.insert("agg", batch, column_names=cols), 3),
        "token_first_then_repeats": timed(
            lambda: client.insert("agg", batch, column_names=cols, settings={"insert_deduplication_token": "t1"}), 3),
    }
    result["rows_after_repeats"] = client.query("SELECT count() FROM agg WHERE version = 99").result_rows[0][0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
