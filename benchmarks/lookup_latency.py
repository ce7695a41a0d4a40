"""Look-up latency through the HTTP lender API beside the raw ClickHouse point query on the same
data, at 100k and 1M enterprises (embedded chdb). Prints JSON. Not a test.

    PYTHONPATH=. .venv/bin/python benchmarks/lookup_latency.py [--sizes 100000 1000000] [--lookups 1000]

Each API look-up does what production does: API key check, consent for both scopes, the
aggregate row, and the audit insert before answering.
"""
import argparse
import datetime as dt
import http.client
import json
import random
import statistics
import tempfile
import time

from benchmarks.common import synthetic_uscc as uscc
from creditstream.api.config import ApiConfig
from creditstream.api.server import ApiThread
from creditstream.schemas import apikeys
from creditstream.schemas.tables import columns
from creditstream.sinks.clickhouse import ThreadClients, connect, migrate
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support.builders import payment, statement
from tests.support.kafka import free_port

UTC = dt.timezone.utc


def template_row() -> dict:
    ledger = Ledger()
    for month in range(1, 13):
        ledger.apply(*statement("water", "W1", f"2025-{month:02d}", "10.5", "43.05"))
        ledger.apply(*statement("electricity", "E1", f"2025-{month:02d}", "2400", "1560.00"))
    ledger.apply(*payment("VAT", "2025-10-01", "2025-12-31", "300.00", "300.00", "2026-01-15", "2026-01-10"))
    return compute("X", ledger, 2025 * 12 + 11)


def load(client, n: int, lender: str) -> None:
    row = template_row()
    now = dt.datetime.now(UTC)
    for start in range(0, n, 100_000):
        ids = [uscc(i) for i in range(start, min(n, start + 100_000))]
        client.insert("enterprise_aggregates",
                      [[u, row["as_of_month"], json.dumps({**row, "uscc": u}), now, 1] for u in ids],
                      column_names=columns("enterprise_aggregates"))
        client.insert("consent_grants",
                      [[u, lender, f"c-{u}", ["UTILITY", "TAX"], now - dt.timedelta(days=1),
                        now + dt.timedelta(days=365), False, now, 1] for u in ids],
                      column_names=columns("consent_grants"))


def percentiles(samples):
    samples = sorted(samples)
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
            "mean_ms": round(statistics.fmean(samples), 3)}


def measure(n: int, lookups: int, client, url: str) -> dict:
    lender = "bench-lender"
    started = time.perf_counter()
    load(client, n, lender)
    loaded = time.perf_counter() - started
    key_id, key = apikeys.new_key()
    client.insert("api_keys", [[key_id, apikeys.key_hash(key), "lender", lender, dt.datetime.now(UTC), False, 1]],
                  column_names=columns("api_keys"))
    port = free_port()
    api = ApiThread(ApiConfig(clickhouse_url=url, port=port), ThreadClients(url)).start_and_wait()
    rng = random.Random(n)
    picks = [uscc(rng.randrange(n)) for _ in range(lookups)]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    api_ms, raw_ms = [], []
    for u in picks[:20]:  # warm-up: thread clients, caches
        conn.request("GET", f"/v1/enterprises/{u}/aggregates", headers={"Authorization": f"Bearer {key}"})
        conn.getresponse().read()
    for u in picks:
        t = time.perf_counter()
        conn.request("GET", f"/v1/enterprises/{u}/aggregates", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        response.read()
        api_ms.append((time.perf_counter() - t) * 1000)
        assert response.status == 200, response.status
    for u in picks:
        t = time.perf_counter()
        client.query("SELECT row_json, updated_at FROM enterprise_aggregates WHERE uscc = {u:String} "
                     "ORDER BY version DESC LIMIT 1", parameters={"u": u})
        raw_ms.append((time.perf_counter() - t) * 1000)
    api.stop()
    result = {"enterprises": n, "lookups": lookups, "load_seconds": round(loaded, 1),
              "api": percentiles(api_ms), "raw_point_query": percentiles(raw_ms)}
    result["api_over_raw_p50"] = round(result["api"]["p50_ms"] / result["raw_point_query"]["p50_ms"], 2)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=1000)
    args = parser.parse_args()
    url = "chdb://" + tempfile.mkdtemp(prefix="cs-lookup-")
    client = connect(url)
    migrate(client)
    results = []
    for n in sorted(args.sizes):
        client.command("TRUNCATE TABLE enterprise_aggregates")
        client.command("TRUNCATE TABLE consent_grants")
        results.append(measure(n, args.lookups, client, url))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main()
