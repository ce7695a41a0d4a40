"""Reference (a): a bare Faust agent that only decodes the provider topics — the framework's own
ceiling on this machine. Run by benchmarks/pipeline_throughput.py:

    python benchmarks/faust_decode_only.py BOOTSTRAP EXPECTED_COUNT RESULT_FILE APP_ID [--fold]

With ``--fold`` the agent also validates and folds every event into plain in-memory ledgers (the
contract's per-event work, nothing else: no outputs, no changelog, no aggregate rows): the
ceiling for any Faust pipeline that does that work per event.
"""
import json
import os
import sys
import time

import faust

from creditstream.schemas.codec import DecodeError, default_codec
from creditstream.schemas.rules import Invalid
from creditstream.schemas.topics import PROVIDER_TOPICS
from creditstream.settings import Settings
from creditstream.streams.ledger import Ledger
from creditstream.streams.pipeline import accept, decode_avro, fold_into


def main():
    bootstrap, expected, result_file, app_id = sys.argv[1:5]
    expected, fold = int(expected), "--fold" in sys.argv[5:]
    registry = default_codec()
    # the same secured broker as the worker: credentials from CREDITSTREAM_KAFKA_USERNAME/PASSWORD
    auth = Settings.from_env(bootstrap_servers=bootstrap).kafka.aiokafka_auth()
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", producer_linger=0.01,
                    broker_credentials=faust.SASLCredentials(**auth) if auth else None,
                    consumer_auto_offset_reset="earliest", web_enabled=False,
                    datadir=os.path.join(os.path.dirname(result_file), "faust-data"))  # not the working directory
    schema = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state = {"count": 0, "first": None, "last": None, "errors": 0}
    ledgers: dict[str, Ledger] = {}

    def decode_and_fold(topic: str, value: bytes) -> None:
        try:
            record, decoded = decode_avro(registry, topic, value)
            decoded = accept(record, decoded)
        except Invalid:
            state["errors"] += 1
            return
        fold_into(ledgers, record, decoded)

    @app.agent(app.topic(*PROVIDER_TOPICS, schema=schema))
    async def decode(stream):
        async for value in stream:
            if state["first"] is None:
                state["first"] = time.perf_counter()
            if fold:
                decode_and_fold(stream.current_event.message.topic, value)
            else:
                try:
                    registry.decode(value)
                except DecodeError:
                    state["errors"] += 1
            state["count"] += 1
            state["last"] = time.perf_counter()
            if state["count"] >= expected:
                with open(result_file, "w") as fh:
                    json.dump({"events": state["count"], "seconds": state["last"] - state["first"]}, fh)
                os._exit(0)

    worker = faust.Worker(app, loglevel="warning")
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
