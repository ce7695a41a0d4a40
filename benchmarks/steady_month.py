"""Pipeline throughput at a province's size in its steady state (issue 29, target 1 at 100,000 ×
24): one month's delivery for ENTERPRISES enterprises that already have HISTORY months of ledgers,
beside the references of pipeline_throughput.py measured in the same run on the same events:

  (a)  a bare Faust agent that only decodes them;
  (a′) the same agent validating and folding each event into in-memory ledgers that start from
       the same history (loaded before it starts; all of it in memory, ~1.9 GB at 100,000 × 23
       months: the ceiling with no bound on memory);
  (a′ batched) the same, taking its stream in batches as the worker's agents do;
  floor: in process, without Faust, what a worker whose memory is bounded must add to (a′)'s
       work per event at least (the ledger read from RocksDB, decoded, encoded, written back:
       bounded_floor.py), and the ceiling on full / (a′) that sets;
  full: the worker (its ledgers on disk, its memory bounded) with its embedded sink, from its
       first event consumed to the last aggregate row inserted into ClickHouse (``--no-full``
       skips it).

Why not all 24 months from nothing: 100,000 × 24 is ~19M events, about 2.5 hours for the three
runs on this machine. A month on top of 23 is the province's steady state, when every month's
bills, payments and register changes arrive for enterprises with long ledgers: the most per event
the worker pays (a from-nothing run averages over ledgers of every length).

How: SAMPLE enterprises × (HISTORY + 1) months are simulated (every event valid, the simulator's
delivery order). What is delivered before the as-of month is folded (replay's code) into the
sample's ledgers; the i-th of ENTERPRISES synthetic USCCs gets the (i mod SAMPLE)-th sample's
ledger, written to the worker's changelog (as state_size.py does), and that sample's as-of-month
events under its own USCC, all of them shuffled (``--order``). Fails unless the worker read every
ledger from its changelog, held exactly ENTERPRISES ledgers at the end and published a row for
each, and unless (a′) held them too.

Needs the local broker; RECREATES the platform topics. Prints JSON; progress on stderr.

    PYTHONPATH=. .venv/bin/python benchmarks/steady_month.py [--enterprises 100000] [--sample 500]
        [--history 23] [--order delivery|clustered]
"""
import argparse
import io
import json
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bounded_floor import bounded_floor
from benchmarks.common import synthetic_uscc
from benchmarks.pipeline_throughput import AS_OF, faust_decode_only, full_pipeline
from benchmarks.state_size import write_changelog
from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.schemas.uscc import normalise_uscc
from creditstream.streams.replay import fold_lines
from tests.support.kafka import WorkerProcess, platform_settings, reset_topics
from tests.support.stream import produce_all


def progress(text: str) -> None:
    print(f"[steady_month] {text}", file=sys.stderr, flush=True)


def history_and_month(sample: int, history: int):
    """The sample's ledgers (stored bytes, in the order of their first event) and its as-of-month
    events as (index of their enterprise in that order, event)."""
    as_of = parse_month(AS_OF)
    before, month = [], []
    for delivered, event in Simulator(sample, history + 1, as_of, seed=24, invalid_share=0.0).delivered():
        (before if delivered < as_of else month).append(event)
    ledgers = fold_lines([event_line(e) for e in before], default_codec(), io.StringIO())
    order = {uscc: i for i, uscc in enumerate(ledgers)}
    if len(order) != sample:
        raise SystemExit(f"{len(order)} of the {sample} sampled enterprises have a history: try more --history")
    month = [(order[normalise_uscc(e.value["uscc"])], e) for e in month]
    return [ledger.to_bytes() for ledger in ledgers.values()], month, len(before)


def delivered_month(month, enterprises: int, sample: int, order: str):
    """(topic, key, value) of the as-of month for every enterprise: the i-th gets the events of
    sample i mod SAMPLE under its own USCC. ``order``: "delivery" shuffles them all, as the
    simulator shuffles a month's batch (an enterprise's ~10 events spread over the whole month, so
    nearly every event finds its ledger on disk); "clustered" repeats the sample's order for each
    copy of the sample (each SAMPLE enterprises' events together: the best case for a cache)."""
    picks = [(copy * sample + owner, event) for copy in range(-(-enterprises // sample))
             for owner, event in month if copy * sample + owner < enterprises]
    if order == "delivery":
        random.Random(24).shuffle(picks)
    codec = default_codec()
    for i, event in picks:
        uscc = synthetic_uscc(i)
        yield event.topic, uscc.encode(), codec.encode(PROVIDER_TOPICS[event.topic], {**event.value, "uscc": uscc})


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"steady_month measured nothing: {message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--history", type=int, default=23, help="months of ledgers before the as-of month")
    parser.add_argument("--order", choices=("delivery", "clustered"), default="delivery",
                        help="the month's events shuffled as the simulator delivers them, or each sample copy's together")
    parser.add_argument("--no-full", action="store_true", help="measure the references and the floor only")
    args = parser.parse_args()
    settings = platform_settings()
    reset_topics(settings)
    stored, month, history_events = history_and_month(args.sample, args.history)
    progress(f"{args.sample} sampled ledgers from {history_events:,} events; "
             f"{len(month):,} as-of-month events in the sample; publishing them for {args.enterprises:,}")
    started = time.perf_counter()
    delivered = list(delivered_month(month, args.enterprises, args.sample, args.order))
    events = len(produce_all(delivered))
    published = time.perf_counter() - started
    usccs = [synthetic_uscc(i) for i in range(args.enterprises)]

    with tempfile.TemporaryDirectory() as tmp:
        ledgers_file = Path(tmp) / "ledgers.pickle"
        ledgers_file.write_bytes(pickle.dumps((stored, usccs)))
        progress("(a): decode only")
        a = faust_decode_only(events)
        progress(f"(a): {a['events_per_second']:,}/s; (a′): decode, validate, fold onto the history in memory")
        a_fold = faust_decode_only(events, "--fold", "--ledgers", str(ledgers_file))
        check(a_fold["ledgers_held"] == args.enterprises, f"(a′) held {a_fold['ledgers_held']} ledgers")
        progress(f"(a′): {a_fold['events_per_second']:,}/s; (a′ batched): the same, taken as the worker takes it")
        a_batched = faust_decode_only(events, "--fold", "--ledgers", str(ledgers_file), "--take")
        check(a_batched["ledgers_held"] == args.enterprises, f"(a′ batched) held {a_batched['ledgers_held']} ledgers")
        progress(f"(a′ batched): {a_batched['events_per_second']:,}/s; the floor, in process")
        floor = bounded_floor(stored, usccs, delivered, a_fold["events_per_second"])
        del delivered
        if args.no_full:
            print(json.dumps({"enterprises": args.enterprises, "events": events, "a_bare_faust_decode": a,
                              "a_prime_faust_decode_validate_fold": a_fold, "a_prime_batched": a_batched,
                              "bounded_floor": floor}, indent=2))
            return
        progress(f"writing {args.enterprises:,} ledgers to the worker's changelog")
        app_id = f"bench-steady-{time.time_ns()}"
        changelog = f"{WorkerProcess(Path(tmp), app_id).app_id}-ledger-changelog"
        write_changelog(changelog, stored, args.enterprises, settings.partitions)  # the worker's partitions
        progress("full: the worker recovers its ledgers, then folds the month")
        full = full_pipeline(events, events, Path(tmp), app_id)
    check(full["changelog_records_read"] == args.enterprises,
          f"the worker read {full['changelog_records_read']} of the {args.enterprises} ledgers written")
    check(full["ledgers_held"] == args.enterprises, f"the worker held {full['ledgers_held']} ledgers at the end")
    check(full["aggregate_rows_inserted"] >= args.enterprises,
          f"{full['aggregate_rows_inserted']} rows inserted for {args.enterprises} enterprises")
    print(json.dumps({
        "enterprises": args.enterprises, "history_months": args.history, "sample": args.sample, "order": args.order,
        "events": events, "events_per_enterprise": round(events / args.enterprises, 2),
        "publish_seconds": round(published, 1),
        "a_bare_faust_decode": a, "a_prime_faust_decode_validate_fold": a_fold, "a_prime_batched": a_batched,
        "bounded_floor": floor, "full_pipeline": full,
        "full_over_a_prime": round(full["events_per_second"] / a_fold["events_per_second"], 2),
        "full_over_a_prime_batched": round(full["events_per_second"] / a_batched["events_per_second"], 2),
        "full_over_a": round(full["events_per_second"] / a["events_per_second"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
