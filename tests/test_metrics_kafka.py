"""During an end-to-end run, /metrics moves by exactly the expected amounts."""
import time
import urllib.error
import urllib.request
from collections import Counter

from creditstream import apikeys
from creditstream.connectors.simulate import Simulator
from creditstream.schemas.months import parse_month
from creditstream.schemas.topics import PROVIDER_TOPICS
from tests.support.kafka import WorkerProcess, admin_kafka, free_port, scrape_metrics, wait_for
from tests.support.stream import publish


def get(port: int, path: str, key=None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # not listening yet
        return 0


def test_counters_move_by_exactly_the_expected_amounts(kafka_settings, tmp_path):
    events = list(Simulator(25, 8, parse_month("2025-06"), seed=4, invalid_share=0.05).events())
    per_topic = Counter(e.topic for e in events)
    valid_per_topic = Counter(e.topic for e in events if e.expect is None)
    reasons = Counter(e.expect for e in events if e.expect)
    assert len(reasons) >= 3  # the run exercises several reasons
    api_port, api_metrics_port = free_port(), free_port()
    worker = WorkerProcess(tmp_path, f"metrics-{time.time_ns()}", CREDITSTREAM_AS_OF="2025-06",
                           CREDITSTREAM_API_PORT=str(api_port), CREDITSTREAM_SINK_BATCH_SECONDS="0.2",
                           CREDITSTREAM_API_METRICS_PORT=str(api_metrics_port)).start()
    try:
        wait_for(lambda: get(api_port, "/healthz") == 200, 120, "the worker's API")
        publish(events)
        key = apikeys.issue(admin_kafka(), "lender", "metrics-lender")[1]
        dead = sum(reasons.values())
        # the worker's /metrics carries its own series and its sink service's
        wait_for(lambda: worker.metrics().get('creditstream_sink_rows_total{table="dead_letters"}') == dead
                 and worker.metrics().get('creditstream_sink_rows_total{table="api_keys"}') == 1, 120,
                 "every dead letter and the key in ClickHouse")
        valid = sum(valid_per_topic.values())
        wait_for(lambda: worker.metrics().get("creditstream_events_aggregated_total") == valid, 120,
                 "every valid event aggregated")
        uscc = next(e.value["uscc"].strip().upper() for e in events if e.expect is None)
        statuses = [get(api_port, f"/v1/enterprises/{uscc}/history/water", key),  # no consent: 403
                    get(api_port, f"/v1/enterprises/{uscc}/aggregates"),  # no key: 401
                    get(api_port, f"/v1/enterprises/{uscc[:17]}Z/aggregates", key)]  # Z is never valid: 400
        metrics = worker.metrics()
        api_metrics = scrape_metrics(api_metrics_port)  # the API is a process of its own, with its own /metrics
    except AssertionError:
        raise AssertionError(worker.tail()) from None
    finally:
        worker.stop()
    for topic in PROVIDER_TOPICS:
        assert metrics.get(f'creditstream_events_consumed_total{{topic="{topic}"}}', 0) == per_topic[topic], topic
        assert metrics.get(f'creditstream_events_forwarded_total{{topic="{topic}"}}', 0) == valid_per_topic[topic]
    for reason, count in reasons.items():
        assert metrics[f'creditstream_dead_letters_total{{reason="{reason}"}}'] == count, reason
    assert metrics["creditstream_events_aggregated_total"] == sum(valid_per_topic.values())
    assert statuses == [403, 401, 400]
    assert api_metrics['creditstream_api_requests_total{route="history",status="403"}'] == 1
    assert api_metrics['creditstream_api_requests_total{route="aggregates",status="401"}'] == 1
    assert api_metrics['creditstream_api_requests_total{route="aggregates",status="400"}'] == 1
    assert api_metrics['creditstream_consent_refusals_total{scope="UTILITY"}'] == 1
    assert api_metrics.get('creditstream_consent_refusals_total{scope="TAX"}', 0) == 0
    assert api_metrics['creditstream_api_request_seconds_count{route="aggregates"}'] == 2
    assert api_metrics['creditstream_api_request_seconds_count{route="history"}'] == 1
