"""Prometheus metrics of the worker (prefix creditstream_, base units, no per-enterprise labels)."""
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

EVENTS_CONSUMED = Counter(
    "creditstream_events_consumed_total", "Provider messages read by the validators.", ["topic"]
)
EVENTS_FORWARDED = Counter(
    "creditstream_events_forwarded_total", "Valid, normalised events forwarded to the normalised topic.", ["topic"]
)
DEAD_LETTERS = Counter(
    "creditstream_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"]
)
EVENTS_AGGREGATED = Counter(
    "creditstream_events_aggregated_total", "Normalised events folded into enterprise ledgers."
)
AGGREGATES_PUBLISHED = Counter(
    "creditstream_aggregates_published_total", "Aggregate rows published to the aggregates topic."
)
BATCH_SECONDS = Histogram(
    "creditstream_aggregation_batch_seconds", "Time to fold one batch and publish its aggregates.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENT_TIME_LAG = Histogram(
    "creditstream_event_time_lag_seconds", "now - occurred_at of validated events.",
    buckets=(1, 60, 3600, 86400, 7 * 86400, 31 * 86400, 92 * 86400, 365 * 86400),
)
AS_OF_MONTH = Gauge(
    "creditstream_as_of_month_index", "Live as-of month of the aggregates, as year*12 + month - 1."
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
