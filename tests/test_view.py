"""The API's in-memory view and its guards, without a broker: the consent in force is the last one
in topic order, keys and revocations, rows, malformed messages, the rate limit, the audit record."""
import datetime as dt

from creditstream.api.access import Principal, decide
from creditstream.api.limits import RateLimiter
from creditstream.api.view import ServingView
from creditstream.schemas.models import AGGREGATE_FIELDS, AggregateRow, ConsentState, KeyEvent
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import AGGREGATES_TOPIC, API_KEYS_TOPIC, CONSENT_STATE_TOPIC
from tests.support import builders

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LENDER = Principal("lender", "bank-1", "k1")


def consent(event_id, occurred, revoked=False, scopes=("UTILITY", "TAX")):
    return ConsentState(builders.USCC, "bank-1", event_id, scopes, NOW - dt.timedelta(days=1),
                        NOW + dt.timedelta(days=30), revoked, occurred)


def test_the_consent_in_force_is_the_last_in_topic_order_whatever_its_occurred_at():
    view = ServingView()
    ahead = consent("grant-from-the-future", NOW + dt.timedelta(days=3650))
    late_clock = consent("revocation-from-a-slow-clock", NOW - dt.timedelta(days=300), revoked=True)
    for state in (ahead, late_clock):
        view.apply(CONSENT_STATE_TOPIC, state.key, state.to_bytes(), 0)
    in_force = view.consent(builders.USCC, "bank-1")
    assert in_force.event_id == "revocation-from-a-slow-clock"
    assert decide(LENDER, builders.USCC, "TAX", in_force, NOW).reason.startswith(
        "consent revocation-from-a-slow-clock was revoked at 2026-02-03T12:00:00Z")
    regrant = consent("regrant", NOW - dt.timedelta(days=400))
    view.apply(CONSENT_STATE_TOPIC, regrant.key, regrant.to_bytes(), 0)
    assert decide(LENDER, builders.USCC, "TAX", view.consent(builders.USCC, "bank-1"), NOW).allowed


def test_a_revoked_key_keeps_its_principal_and_a_tombstone_forgets_it():
    view = ServingView()
    issued = KeyEvent("k1", "h" * 64, "lender", "bank-1", NOW, False)
    view.apply(API_KEYS_TOPIC, b"k1", issued.to_bytes(), 0)
    assert view.key("k1") == issued
    view.apply(API_KEYS_TOPIC, b"k1", KeyEvent("k1", "", "lender", "", NOW, True).to_bytes(), 0)
    assert view.key("k1").revoked and view.key("k1").principal_id == "bank-1"
    view.apply(API_KEYS_TOPIC, b"k1", None, 0)
    assert view.key("k1") is None


def test_rows_are_kept_encoded_and_decoded_on_demand():
    view = ServingView()
    row = {"uscc": builders.USCC, "as_of_month": "2026-10", "as_of_date": "2026-10-31",
           **{name: 0 for name in AGGREGATE_FIELDS}, "eval_red_lines": ["X1"]}
    view.apply(AGGREGATES_TOPIC, builders.USCC.encode(), AggregateRow.encode(row), 1_700_000_000_000)
    found = view.row(builders.USCC)
    assert found.values() == row and found.updated_at == dt.datetime.fromtimestamp(1_700_000_000, UTC)
    assert view.row(builders.USCC) is found  # split once, on the first look-up
    assert view.known(builders.USCC) and not view.known("X")
    view.apply(AGGREGATES_TOPIC, builders.USCC.encode(), None, 0)
    assert view.row(builders.USCC) is None


def test_a_message_that_does_not_fit_its_model_is_skipped_and_counted():
    view = ServingView()
    view.apply(CONSENT_STATE_TOPIC, b"x", b"{not json", 0)
    view.apply(API_KEYS_TOPIC, b"x", b'{"key_id": "x"}', 0)
    view.apply(AGGREGATES_TOPIC, b"x", b"[]", 0)
    assert view.skipped == 3 and not view.consents and not view.keys and not view.rows


def test_the_rate_limit_allows_a_burst_then_the_rate_and_says_how_long_to_wait():
    now = [0.0]
    limiter = RateLimiter(10.0, 3, clock=lambda: now[0])
    assert [limiter.wait_needed("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert abs(limiter.wait_needed("k") - 0.1) < 1e-9
    assert limiter.wait_needed("other") == 0.0  # per key
    now[0] = 0.1
    assert limiter.wait_needed("k") == 0.0
    assert limiter.wait_needed("k") > 0


def test_an_audit_record_round_trips_through_its_topic_form():
    row = LookupAuditRow(NOW, "r1", "lender", "bank-1", "k1", "aggregates", builders.USCC, "UTILITY", "allow",
                         "consent c1", "c1", 200)
    assert LookupAuditRow.from_bytes(row.to_bytes()) == row


def test_the_failure_throttle_blocks_an_address_for_a_while_and_forgets_old_ones():
    from creditstream.api.limits import FailureThrottle

    now = [0.0]
    throttle = FailureThrottle(limit=3, window=60, block=100, max_clients=2, clock=lambda: now[0])
    assert [throttle.failed("a") for _ in range(3)] == [False, False, True]
    assert throttle.wait_needed("a") == 100 and throttle.wait_needed("b") == 0
    now[0] = 100.0
    assert throttle.wait_needed("a") == 0  # the block has passed
    throttle.failed("b")
    now[0] = 300.0  # failures older than the window no longer count
    assert [throttle.failed("b") for _ in range(2)] == [False, False]
    for address in ("c", "d", "e"):
        throttle.failed(address)
    assert len(throttle._failures) <= 2
