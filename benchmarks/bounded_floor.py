"""The least a worker whose memory is bounded adds to (a′)'s work per event (issue 29, target 1 at
100,000 × 24), measured in process, beside (a′)'s own work on the same events in the same run.

(a′) folds every event into ledgers that all stay decoded in memory (~1.9 GB at 100,000 × 24).
A worker held to target 2's memory keeps ~5 % of them, so when a month's events are shuffled over
the enterprises nearly every event finds its ledger on disk. The floor is what such a worker must
then do for each event whatever else it does, with its ledger stored as one value (as the
changelog and the store hold it): read the ledger's bytes from RocksDB, decode them, and after
folding encode the ledger and write it back. Nothing else a worker does is counted: no Faust, no
changelog record, no checkpoint, no row, no sink. So ``extra_us_per_event`` is a lower bound on
what the full pipeline adds to (a′), and ``ceiling_over_a_prime`` (given (a′)'s rate in Faust,
measured beside it by steady_month.py) is an upper bound on full / (a′) for this layout.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bounded_floor [--enterprises 100000] [--sample 500]
"""
import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from creditstream.schemas.codec import default_codec
from creditstream.schemas.rules import Invalid
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept, decode_avro, fold_into


def log(message: str) -> None:
    print(f"[bounded-floor] {message}", file=sys.stderr, flush=True)


def in_memory(stored: list[bytes], usccs: list[str], events: list) -> tuple[float, dict[str, Ledger]]:
    """(a′)'s work without Faust: decode, validate and fold every event into decoded ledgers; the
    seconds it took, and the ledgers."""
    codec = default_codec()
    ledgers = {uscc: Ledger.from_bytes(stored[i % len(stored)]) for i, uscc in enumerate(usccs)}
    started = time.perf_counter()
    for topic, _key, value in events:
        try:
            record, decoded = decode_avro(codec, topic, value)
            decoded = accept(record, decoded)
        except Invalid:
            continue
        fold_into(ledgers, record, decoded)
    return time.perf_counter() - started, ledgers


def from_store(stored: list[bytes], usccs: list[str], events: list, directory: Path, expected: dict) -> dict:
    """The same work with every ledger read from RocksDB, decoded, encoded and written back; the
    seconds of each step. Fails unless the store ends holding the ledgers ``expected`` (those
    folded in memory): a floor that folded nothing measured nothing."""
    from rocksdict import Options, Rdict

    codec, steps = default_codec(), dict.fromkeys(("read", "decode", "fold", "encode", "write"), 0.0)
    db = Rdict(str(directory / "ledgers.rdict"), Options(raw_mode=True))
    try:
        for i, uscc in enumerate(usccs):
            db[uscc.encode()] = stored[i % len(stored)]
        db.flush()
        clock = time.perf_counter
        for topic, key, value in events:
            t0 = clock()
            data = db[key]
            t1 = clock()
            ledger = Ledger.from_bytes(data)
            t2 = clock()
            try:
                record, decoded = decode_avro(codec, topic, value)
                decoded = accept(record, decoded)
            except Invalid:
                continue
            fold_into({decoded["uscc"]: ledger}, record, decoded)
            t3 = clock()
            data = ledger.to_bytes()
            t4 = clock()
            db[key] = data
            t5 = clock()
            for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                steps[step] += seconds
        differ = [uscc for uscc in usccs[::max(1, len(usccs) // 1000)]
                  if db[uscc.encode()] != expected[uscc].to_bytes()]
        if differ:
            raise SystemExit(f"the floor's ledgers differ from those folded in memory: {differ[:3]}")
    finally:
        db.close()
    return steps


def bounded_floor(stored: list[bytes], usccs: list[str], events: list, a_prime_per_second: float | None = None) -> dict:
    """Both measurements on ``events`` ((topic, key, value) as delivered), and what they bound."""
    log(f"in memory: {len(events):,} events onto {len(usccs):,} decoded ledgers")
    reference, ledgers = in_memory(stored, usccs, events)
    log(f"in memory: {len(events) / reference:,.0f}/s; from the store")
    with tempfile.TemporaryDirectory() as tmp:
        steps = from_store(stored, usccs, events, Path(tmp), ledgers)
    del ledgers
    per_event = {step: round(seconds / len(events) * 1e6, 1) for step, seconds in steps.items()}
    extra = per_event["read"] + per_event["decode"] + per_event["encode"] + per_event["write"]
    result = {"events": len(events), "enterprises": len(usccs),
              "in_memory_us_per_event": round(reference / len(events) * 1e6, 1),
              "from_store_us_per_event": per_event, "extra_us_per_event": round(extra, 1)}
    if a_prime_per_second:
        a_prime_us = 1e6 / a_prime_per_second
        result["a_prime_us_per_event"] = round(a_prime_us, 1)
        result["budget_us_per_event_at_0_85"] = round(a_prime_us / 0.85 - a_prime_us, 1)
        result["ceiling_over_a_prime"] = round(a_prime_us / (a_prime_us + extra), 2)
    log(json.dumps(result))
    return result


def main() -> None:
    from benchmarks.common import synthetic_uscc
    from benchmarks.steady_month import delivered_month, history_and_month

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--a-prime", type=float, help="(a′)'s events/s measured in Faust on these events, if known")
    args = parser.parse_args()
    stored, month, _ = history_and_month(args.sample, 23)
    events = list(delivered_month(month, args.enterprises, args.sample, "delivery"))
    usccs = [synthetic_uscc(i) for i in range(args.enterprises)]
    log(f"{dt.datetime.now():%H:%M:%S}: {len(events):,} events for {args.enterprises:,} enterprises")
    print(json.dumps(bounded_floor(stored, usccs, events, args.a_prime), indent=2))


if __name__ == "__main__":
    main()
