"""`creditstream replay` throughput on a 24-month history, beside reference (b) — a bare
confluent-kafka consumer that decodes, validates and aggregates the same events (measured by
benchmarks/pipeline_throughput.py; pass its figure with --reference-eps to get the ratio).
Prints JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/replay_throughput.py [--enterprises 100000] [--reference-eps N]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.months import parse_month

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--reference-eps", type=float)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        started = time.perf_counter()
        count = 0
        with path.open("w") as fh:
            for event in Simulator(args.enterprises, args.months, parse_month("2025-06"), seed=3).events():
                fh.write(event_line(event) + "\n")
                count += 1
        generated = time.perf_counter() - started
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "creditstream.cli", "replay", "--as-of", "2025-06", str(path)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    out = {"enterprises": args.enterprises, "months": args.months, "events": count,
           "file_mib": round(size / 2**20, 1),
           "generate_seconds": round(generated, 1), "replay_seconds": round(seconds, 1),
           "replay_events_per_second": round(count / seconds), "rows": result.stdout.count(b"\n")}
    if args.reference_eps:
        out["replay_over_b"] = round(out["replay_events_per_second"] / args.reference_eps, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
