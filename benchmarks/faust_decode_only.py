"""Reference (a): a bare Faust agent that only decodes the provider topics — the framework's own
ceiling on this machine. Run by benchmarks/pipeline_throughput.py:

    python benchmarks/faust_decode_only.py BOOTSTRAP EXPECTED_COUNT RESULT_FILE APP_ID [--fold | --handle]
        [--take] [--ledgers FILE]

With ``--fold`` the agent also validates and folds every event into plain in-memory ledgers (the
contract's per-event work, nothing else: no outputs, no changelog, no aggregate rows): the
ceiling for any Faust pipeline that does that work per event.

With ``--handle`` (a″) it hands every message to the worker's own per-event handler
(``CreditStream.handle``: validate, normalise, send the normalised copy through the worker's
librdkafka producer, fold into the worker's ledger state), and nothing else: no checkpoint, no
ledger writes, no aggregate rows, no sink. Beside (a′) and the full pipeline it shows which side
of that seam the pipeline's time goes to. It writes to the worker's own topics (normalised,
masked, re-keyed): pipeline_throughput.py empties them again before its full run.

With ``--take`` the agent takes its stream in batches (Faust's ``noack_take``, acknowledging each
event once handled) of the worker's own size (``agent_batch_events`` / ``agent_batch_seconds``
from the environment, as the worker reads them): beside the per-event agent, the ceiling for a
pipeline that takes its stream that way.

With ``--fold --ledgers FILE`` the in-memory ledgers start from the history in FILE (a pickle of
``(stored ledgers, USCCs)``: the i-th USCC's ledger is ``Ledger.from_bytes(stored[i % len(stored)])``),
loaded before the agent starts: steady_month.py's (a′), the same history the worker recovers.
"""
import json
import os
import pickle
import sys
import time

import faust

from creditstream.schemas.codec import DecodeError, default_codec
from creditstream.schemas.rules import Invalid
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.settings import Settings
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept, decode_avro, fold_into


def worker_handler(bootstrap: str):
    """The worker's CreditStream.handle with its real librdkafka producer (its Faust app is never
    started); every provider topic counts as co-partitioned with the ledgers, as the worker finds
    them after ``topics create``, so each event is folded or re-keyed as in the worker."""
    from creditstream.streams.app import CreditStream

    settings = Settings.from_env(bootstrap_servers=bootstrap, personal_data_key="benchmark-key")
    stream = CreditStream(settings.stream())
    stream.router.assigned({topic: settings.partitions for topic in PROVIDER_TOPICS})
    handled = 0

    def handle(message) -> None:
        nonlocal handled
        stream.handle(message)
        handled += 1
        if handled % 1000 == 0:  # serve librdkafka's delivery reports, as the worker's flusher does
            stream.output.poll()
    return handle


def main():
    bootstrap, expected, result_file, app_id = sys.argv[1:5]
    expected, fold, handle = int(expected), "--fold" in sys.argv[5:], "--handle" in sys.argv[5:]
    batched = "--take" in sys.argv[5:]
    registry = default_codec()
    # the same secured broker as the worker: credentials from CREDITSTREAM_KAFKA_USERNAME/PASSWORD
    settings = Settings.from_env(bootstrap_servers=bootstrap)
    auth = settings.kafka.aiokafka_auth()
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", producer_linger=0.01,
                    broker_credentials=faust.SASLCredentials(**auth) if auth else None,
                    consumer_auto_offset_reset="earliest", web_enabled=False,
                    datadir=os.path.join(os.path.dirname(result_file), "faust-data"))  # not the working directory
    schema = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state = {"count": 0, "first": None, "last": None, "errors": 0}
    ledgers: dict[str, Ledger] = {}
    if "--ledgers" in sys.argv[5:]:
        with open(sys.argv[sys.argv.index("--ledgers") + 1], "rb") as fh:
            stored, usccs = pickle.load(fh)
        ledgers.update((uscc, Ledger.from_bytes(stored[i % len(stored)])) for i, uscc in enumerate(usccs))

    def decode_and_fold(message) -> None:
        try:
            record, decoded = decode_avro(registry, message.topic, message.value)
            decoded = accept(record, decoded)
        except Invalid:
            state["errors"] += 1
            return
        fold_into(ledgers, record, decoded)

    def decode_only(message) -> None:
        try:
            registry.decode(message.value)
        except DecodeError:
            state["errors"] += 1

    if handle:
        work = worker_handler(bootstrap)
    elif fold:
        work = decode_and_fold
    else:
        work = decode_only

    def counted(handled: int) -> None:
        state["count"] += handled
        state["last"] = time.perf_counter()
        if state["count"] >= expected:
            with open(result_file, "w") as fh:
                json.dump({"events": state["count"], "seconds": state["last"] - state["first"],
                           **({"ledgers_held": len(ledgers)} if fold else {})}, fh)
            os._exit(0)

    @app.agent(app.topic(*PROVIDER_TOPICS, schema=schema))
    async def decode(stream):
        if batched:  # as the worker's agents take their stream (streams.app.acknowledged_by_checkpoint)
            async for events in stream.noack_take(settings.agent_batch_events, settings.agent_batch_seconds):
                state["first"] = state["first"] or time.perf_counter()
                for event in events:
                    work(event.message)
                    event.ack()
                counted(len(events))
        else:
            async for _ in stream:
                state["first"] = state["first"] or time.perf_counter()
                work(stream.current_event.message)
                counted(1)

    worker = faust.Worker(app, loglevel="warning")
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
