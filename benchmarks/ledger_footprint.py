"""What one enterprise's ledger costs the worker (issue 29, targets 1 and 2): heap per decoded
ledger, bytes per stored ledger, and the time to decode, encode and compute a row (and to encode
the row), beside two references in the same run: the JSON form ledgers were stored in before
2026-12-05 (decoded and encoded by the same ``Ledger``), and those JSON bytes parsed by
``json.loads`` into plain objects (what any decoded form of them costs at least).

Simulated events (every category, 24 months, the simulator's delivery order) are folded through
replay's code; the ledgers are written to bytes, and every ledger decoded from its bytes (either
form) must give the same aggregate row as the ledger it was written from, or the run fails (a
benchmark that measures a broken ledger measures nothing). No broker, no ClickHouse. Prints
JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python -m benchmarks.ledger_footprint [--enterprises 1000] [--months 24]
"""
import argparse
import gc
import io
import json
import sys
import time
import tracemalloc

from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.models import AggregateRow
from creditstream.schemas.months import parse_month
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from creditstream.streams.replay import fold_lines
from tests.support.legacy_ledger import json_bytes, json_form

AS_OF = "2025-06"


def log(message: str) -> None:
    print(f"[ledger-footprint] {message}", file=sys.stderr, flush=True)


def heap_of(build) -> tuple[object, int]:
    """What ``build()`` returns and the bytes of heap it still holds once it has returned."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    built = build()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return built, held


def per_item_us(action, items) -> float:
    started = time.perf_counter()
    for item in items:
        action(item)
    return round((time.perf_counter() - started) / len(items) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args()
    as_of = parse_month(AS_OF)

    lines = [event_line(e) for e in Simulator(args.enterprises, args.months, as_of, seed=args.seed,
                                               invalid_share=0.0).events()]
    log(f"{len(lines):,} events for {args.enterprises:,} enterprises × {args.months} months; folding")
    started = time.perf_counter()
    folded = fold_lines(lines, default_codec(), io.StringIO())
    fold_seconds = time.perf_counter() - started
    stored = {uscc: ledger.to_bytes() for uscc, ledger in folded.items()}
    stored_as_json = {uscc: json_bytes(json_form(ledger)) for uscc, ledger in folded.items()}
    rows = {uscc: compute(uscc, ledger, as_of) for uscc, ledger in folded.items()}
    del folded

    log("decoding every ledger under tracemalloc")
    ledgers, ledger_heap = heap_of(lambda: {uscc: Ledger.from_bytes(data) for uscc, data in stored.items()})
    for form, read in (("stored", ledgers), ("JSON", {k: Ledger.from_bytes(v) for k, v in stored_as_json.items()})):
        wrong = [uscc for uscc, ledger in read.items() if compute(uscc, ledger, as_of) != rows[uscc]]
        if wrong:
            raise SystemExit(f"{len(wrong)} ledgers decoded from their {form} bytes give another row, e.g. {wrong[0]}")
    plain, plain_heap = heap_of(lambda: {uscc: json.loads(data) for uscc, data in stored_as_json.items()})
    del plain

    values, count = list(stored.values()), len(stored)
    decoded = list(ledgers.values())
    result = {
        "enterprises": count, "months": args.months, "events": len(lines),
        "fold_events_per_s": round(len(lines) / fold_seconds),
        "ledger": {
            "heap_bytes_per_enterprise": round(ledger_heap / count),
            "stored_bytes_per_enterprise": round(sum(map(len, values)) / count),
            "decode_us": per_item_us(Ledger.from_bytes, values),
            "encode_us": per_item_us(Ledger.to_bytes, decoded),
            "row_us": per_item_us(lambda pair: compute(pair[0], pair[1], as_of), list(ledgers.items())),
            # what a publish round pays per enterprise before the producer: the row and its message
            "row_encoded_us": per_item_us(lambda pair: AggregateRow.encode_with_fingerprint(
                compute(pair[0], pair[1], as_of)), list(ledgers.items())),
        },
        "reference_json_form": {
            "stored_bytes_per_enterprise": round(sum(map(len, stored_as_json.values())) / count),
            "decode_us": per_item_us(Ledger.from_bytes, list(stored_as_json.values())),
            "encode_us": per_item_us(lambda ledger: json_bytes(json_form(ledger)), decoded),
        },
        "reference_json_loads": {
            "heap_bytes_per_enterprise": round(plain_heap / count),
            "decode_us": per_item_us(json.loads, list(stored_as_json.values())),
        },
        "rows_equal_after_decode": True,
    }
    result["ledger"]["heap_per_1m_enterprises_gib"] = round(ledger_heap / count * 1e6 / 2**30, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
