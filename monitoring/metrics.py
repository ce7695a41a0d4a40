"""Prometheus metrics of every process (prefix creditstream_, base units, no per-enterprise labels).

The declared seam through which streams/, sinks/ and api/ report: they import this module and
nothing else of monitoring/."""
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# The sink and the API run in the sink service process (creditstream.runtime): their series live in a
# registry of their own, which that process serves and the worker appends to its /metrics.
SERVICE = CollectorRegistry()

EVENTS_CONSUMED = Counter(
    "creditstream_events_consumed_total", "Provider messages read by the validators.", ["topic"]
)
EVENTS_FORWARDED = Counter(
    "creditstream_events_forwarded_total", "Valid, normalised events forwarded to the normalised topic.", ["topic"]
)
DEAD_LETTERS = Counter(
    "creditstream_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"]
)
EVENTS_REPARTITIONED = Counter(
    "creditstream_events_repartitioned_total",
    "Valid events re-keyed to the ledger repartition topic (provider partition differs from the USCC's).", ["topic"]
)
EVENTS_AGGREGATED = Counter(
    "creditstream_events_aggregated_total", "Valid events handled by the ledger stage (consent included)."
)
AGGREGATES_PUBLISHED = Counter(
    "creditstream_aggregates_published_total", "Aggregate rows published to the aggregates topic."
)
BATCH_SECONDS = Histogram(
    "creditstream_aggregation_batch_seconds", "Time to compute and publish one round of changed aggregates.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PERSIST_SECONDS = Histogram(
    "creditstream_persist_seconds",
    "Time to write changed ledgers to the changelog, confirm delivery and acknowledge the events.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENT_TIME_LAG = Histogram(
    "creditstream_event_time_lag_seconds", "now - occurred_at of validated events.",
    buckets=(1, 60, 3600, 86400, 7 * 86400, 31 * 86400, 92 * 86400, 365 * 86400),
)
ROWS_REEVALUATED = Counter(
    "creditstream_rows_reevaluated_total",
    "Rows republished by the daily re-evaluation of the registers (a penalty leaving publicity, a licence expiring).",
)
INPUT_PARTITIONS = Gauge(
    "creditstream_worker_input_partitions",
    "Partitions assigned to this worker's consumer (0 until it has joined its group, and while partitions move).",
)
REBALANCE_SECONDS = Histogram(
    "creditstream_worker_rebalance_seconds",
    "Consumer group rebalances this worker took part in, each from its start to the end of its tables' recovery "
    "(no event is folded meanwhile).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
LEDGERS_HELD = Gauge(
    "creditstream_ledgers", "Enterprise ledgers in this worker's table (its partitions), read when scraped."
)
LEDGER_MEMORY = Gauge(
    "creditstream_ledger_memory_bytes",
    "Estimated heap of the decoded ledgers this worker holds, read when scraped: held=cached (unchanged, "
    "bounded by ledger_cache_mib) or held=pinned (changed and not yet written; a checkpoint comes at "
    "unpersisted_ledgers_mib, folding waits at twice that).",
    ["held"],
)
EVENTS_READ_BACK = Counter(
    "creditstream_events_read_back_total",
    "Messages Faust's fetcher passed over (never handed to an agent) that the worker read back from the broker "
    "before going on (streams.continuity); each would otherwise have been committed past and lost.", ["topic"]
)
TABLE_RECOVERED_RECORDS = Counter(
    "creditstream_table_recovered_records_total",
    "Changelog records a table store on disk read back since start (after a restart: only those it did not hold).",
    ["table"],
)
AS_OF_MONTH = Gauge(
    "creditstream_as_of_month_index", "Live as-of month of the aggregates, as year*12 + month - 1."
)


OUTPUT_QUEUE_FULL = Counter(
    "creditstream_output_queue_full_total",
    "Times the worker waited for its producer's local queue to drain (producer_queue_mib): the broker is slow.",
)
OUTPUT_QUEUED = Gauge(
    "creditstream_output_queued_messages", "Messages in the worker's producer queues, not yet acknowledged by the broker."
)
WHITELIST_CHANGES = Counter(
    "creditstream_whitelist_changes_total", "Whitelist joins and leaves announced on credit.whitelist.v1.", ["change"]
)


FINANCE_CHANGES = Counter(
    "creditstream_finance_changes_total", "Loan-loop changes the worker folded and accepted, by topic.", ["topic"]
)


class Tally:
    """Counts kept in plain integers on the worker's per-event path and added to their Prometheus
    counters in one go (``flush``: by the worker's flusher every tick and before every scrape).
    A Prometheus ``inc`` takes a lock; three of them per event were a fifth of the worker's
    per-event time (benchmarks.md, issue 29). Counters stay exact; they lag by at most a tick
    between scrapes."""

    def __init__(self):
        self.pending: dict = {}  # counter (or labelled child) → count not yet added

    def add(self, counter, amount: int = 1) -> None:
        self.pending[counter] = self.pending.get(counter, 0) + amount

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for counter, amount in pending.items():
            counter.inc(amount)


def exposition(service: bool = True) -> tuple[bytes, str]:
    """This process's series; ``service=False`` leaves out the sink/API registry (the worker then
    appends its sink service's)."""
    body = generate_latest(REGISTRY) + (generate_latest(SERVICE) if service else b"")
    return body, CONTENT_TYPE_LATEST

# -- ClickHouse sink ---------------------------------------------------------------------------
SINK_ROWS = Counter("creditstream_sink_rows_total", "Rows inserted into ClickHouse.", ["table"], registry=SERVICE)
SINK_BATCH_ROWS = Histogram(
    "creditstream_sink_batch_rows", "Rows per sink batch.", buckets=(1, 10, 100, 500, 1000, 5000, 20000),
    registry=SERVICE,
)
SINK_INSERT_SECONDS = Histogram(
    "creditstream_sink_insert_seconds", "Time to insert one sink batch (all tables).",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=SERVICE,
)
SINK_FAILURES = Counter("creditstream_sink_failures_total", "Failed sink batch inserts (each retried).", registry=SERVICE)
SINK_UNCONVERTIBLE = Counter(
    "creditstream_sink_unconvertible_total",
    "Messages the sink could not turn into rows (sent to the dead-letter topic as SINK_UNCONVERTIBLE).", ["topic"],
    registry=SERVICE,
)
SINK_UP = Gauge("creditstream_sink_target_up", "1 when the last ClickHouse insert succeeded, 0 while retrying.",
                registry=SERVICE)
FRESHNESS = Histogram(
    "creditstream_freshness_seconds",
    "Provider produce → lender-visible: produce time of the newest event in an aggregate row to the row's "
    "ClickHouse insert.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300), registry=SERVICE,
)
CONSUMER_LAG = Gauge("creditstream_sink_consumer_lag", "Messages behind the end of each partition.", ["topic", "partition"],
                     registry=SERVICE)

# -- lender API --------------------------------------------------------------------------------
API_REQUESTS = Counter("creditstream_api_requests_total", "Lender API requests.", ["route", "status"],
                       registry=SERVICE)
API_SECONDS = Histogram(
    "creditstream_api_request_seconds", "Lender API request latency, audit write included.", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1), registry=SERVICE,
)
CONSENT_REFUSALS = Counter(
    "creditstream_consent_refusals_total", "Look-ups refused for lack of consent.", ["scope"], registry=SERVICE
)
API_VIEW_ROWS = Gauge("creditstream_api_view_rows", "Aggregate rows held in the API's in-memory view.", registry=SERVICE)
API_VIEW_SKIPPED = Counter("creditstream_api_view_skipped_total",
                           "Messages of a view topic the API could not read (the sink dead-letters them).", ["topic"],
                           registry=SERVICE)
API_AUDIT_FAILURES = Counter("creditstream_api_audit_failures_total",
                             "Look-ups answered 503 because their audit record could not be made durable (Kafka's "
                             "acknowledgement, or the local journal: not written, or its backlog full).",
                             registry=SERVICE)
API_AUDIT_UNSHIPPED = Gauge("creditstream_api_audit_unshipped_records",
                            "Audit records durable in the API's local journal and not yet acknowledged by Kafka.",
                            registry=SERVICE)
API_AUDIT_UNSHIPPED_AGE = Gauge("creditstream_api_audit_unshipped_age_seconds",
                                "How long the oldest audit record in the API's local journal has waited for Kafka's "
                                "acknowledgement (0: none waits).", registry=SERVICE)
API_AUTH_THROTTLED = Counter(
    "creditstream_api_auth_throttled_total",
    "Requests refused 429 because their address failed to authenticate too often (API keys, portal sign-ins).",
    registry=SERVICE)
API_RATE_LIMITED = Counter("creditstream_api_rate_limited_total", "Requests refused 429 by the per-key rate limit.",
                           registry=SERVICE)
DISPUTES_OVERDUE = Gauge("creditstream_disputes_overdue",
                         "Open disputes past their answer's due time (20 days after filing).", registry=SERVICE)
FINANCE_APPLICATIONS_OVERDUE = Gauge(
    "creditstream_finance_applications_overdue",
    "Loan applications past their working-day deadline (accept or reject in 2, decide in 10), per lender.",
    ["lender_id"], registry=SERVICE)
FINANCE_MONTH = Gauge("creditstream_finance_month",
                      "The loan loop's figures of the current month (Asia/Shanghai) from ClickHouse, as GET "
                      "/v1/finance/statistics computes them, refreshed every api_statistics_publish_seconds: per "
                      "lender id, and lender=\"all\" over every lender; amounts in yuan.", ["figure", "lender"], registry=SERVICE)
FINANCE_CLAIMS_OVERDUE = Gauge("creditstream_finance_claims_overdue",
                               "Compensation claims undecided past their 10 working days.", registry=SERVICE)
REPAIRS_OVERDUE = Gauge("creditstream_repairs_overdue",
                        "Repair applications undecided past their due day (10 working days).", registry=SERVICE)
VERIFICATIONS = Counter("creditstream_verifications_total", "Verification claims answered, by claim type and outcome.",
                        ["claim", "outcome"], registry=SERVICE)
IDENTITY_CLAIMS_REFUSED = Counter(
    "creditstream_verification_identity_limit_total",
    "legal_representative_id claims refused because the principal used its daily budget for that enterprise, "
    "by principal (a lender guessing an identity number hits it).", ["principal"], registry=SERVICE)
WHITELIST_SIZE = Gauge("creditstream_whitelist_size", "Enterprises on the whitelist, as the API's feed holds it.",
                       registry=SERVICE)
WEBHOOK_DELIVERIES = Counter("creditstream_webhook_deliveries_total",
                             "Whitelist webhook delivery attempts, by outcome (delivered, failed).", ["outcome"],
                             registry=SERVICE)
WEBHOOKS_PAUSED = Gauge("creditstream_webhooks_paused", "Webhooks paused after failing repeatedly (resume to deliver).",
                        registry=SERVICE)
WEBHOOK_BACKLOG = Gauge("creditstream_webhook_backlog", "Whitelist changes not yet delivered, summed over active webhooks.",
                        registry=SERVICE)
REPORTS_ISSUED = Counter("creditstream_reports_issued_total", "Standardised credit reports issued, by requester kind.",
                         ["requester"], registry=SERVICE)
REPORT_VERIFICATIONS = Counter("creditstream_report_verifications_total",
                               "Report verification requests, by outcome (genuine, not_genuine).", ["outcome"],
                               registry=SERVICE)
GATEWAY_RECORDS = Counter("creditstream_gateway_records_total",
                          "Records pushed through the HTTP gateway, by provider and outcome (accepted, rejected, "
                          "unavailable: Kafka could not acknowledge, the batch was refused 503).",
                          ["provider", "outcome"], registry=SERVICE)
GATEWAY_SECONDS = Histogram("creditstream_gateway_request_seconds",
                            "Gateway requests from arrival to the answer (every accepted record acknowledged).",
                            ["provider"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                            registry=SERVICE)

# -- the provincial link (`creditstream province mirror`: MirrorMaker 2 and its lag collector) ---------
MIRROR = CollectorRegistry()
REPLICATION_LAG = Gauge("creditstream_replication_lag_records",
                        "Records of a replicated topic in the city not yet at the province (end offsets, summed "
                        "over partitions).", ["topic"], registry=MIRROR)
REPLICATED_RECORDS = Gauge("creditstream_replication_province_records",
                           "End offsets of the replicated topic at the province, summed over partitions: it stops "
                           "moving when the link is down.", ["topic"], registry=MIRROR)
PROVINCE_REACHABLE = Gauge("creditstream_replication_province_reachable",
                           "1 when the last look at the provincial cluster succeeded.", registry=MIRROR)
MIRROR_RUNNING = Gauge("creditstream_replication_mirror_running",
                       "1 while the MirrorMaker 2 process runs.", registry=MIRROR)
