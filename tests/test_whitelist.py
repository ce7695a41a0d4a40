"""Whitelist changes, without Kafka: the publisher announces each change of ``whitelisted`` once,
with an id that a crash before the ledger is persisted reproduces; cursors and signatures."""
import asyncio
import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from creditstream.api.http.errors import ApiError
from creditstream.api.whitelist import decode_cursor, encode_cursor
from creditstream.schemas.models import WebhookState, WhitelistChange
from creditstream.schemas.months import last_day, parse_month
from creditstream.schemas.topics import WHITELIST_TOPIC
from creditstream.schemas.webhooks import sign, verify, webhook_secret
from creditstream.streams.checkpoint import Checkpoint
from creditstream.streams.ledger import Ledger, heap_estimate
from creditstream.streams.publishing import Publisher
from creditstream.streams.state import LedgerState
from tests.support import builders
from tests.support.legacy_ledger import json_bytes, json_form

KEY = builders.USCC.encode()
AS_OF = parse_month("2025-06")


class Sent:
    def __init__(self):
        self.messages = []

    def send(self, topic, key, value, timestamp_ms=0, headers=None, partition=-1):
        self.messages.append((topic, key, value, partition))

    def changes(self):
        return [WhitelistChange.from_bytes(v) for t, _k, v, _p in self.messages if t == WHITELIST_TOPIC]


def good_standing(ledger: Ledger) -> None:
    months = [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
    for m in months:
        ledger.apply(*builders.statement("water", "W1", m, "10.000", "40.00"))
        ledger.apply(*builders.payment("VAT", f"{m}-01", builders.last_day_of(m), "100.00", "100.00",
                                       builders.next_15th(m), builders.next_15th(m)))
    ledger.apply(*builders.rating(2024, "A", "2025-04-01T00:00:00"))


def publisher(table=None):
    state = LedgerState(table if table is not None else {}, 100 * 20_000)
    sent = Sent()
    return Publisher(state, sent, lambda: (AS_OF, last_day(AS_OF)), 1.0), state, sent


def test_each_change_of_whitelisted_is_announced_once_with_a_numbered_id():
    pub, state, sent = publisher()
    ledger = state.load(KEY)
    good_standing(ledger)
    pub.send_row(KEY, ledger, 0.0)
    pub.last_published.clear()  # even a row sent again announces nothing new
    pub.send_row(KEY, ledger, 0.0)
    ledger.apply(*builders.rating(2024, "C", "2025-05-01T00:00:00"))
    pub.send_row(KEY, ledger, 0.0)
    changes = sent.changes()
    assert [(c.change_id, c.whitelisted, c.eval_grade) for c in changes] == [
        (f"{builders.USCC}:1:join", True, "AA"), (f"{builders.USCC}:2:leave", False, "A")]
    assert changes[1].failed == ("W1", "W2") and changes[0].failed == ()
    assert changes[0].enterprise_name == "黑河市测试有限公司"
    assert all(partition == 0 for t, _k, _v, partition in sent.messages if t == WHITELIST_TOPIC)
    assert KEY in state.unpersisted  # the ledger's new whitelist state is persisted next round


def test_a_crash_before_the_ledger_is_persisted_announces_the_same_change_under_the_same_id():
    table = {}
    pub, state, sent = publisher(table)
    ledger = state.load(KEY)
    good_standing(ledger)
    table[KEY] = ledger.to_bytes()  # persisted with its facts, before the change was announced
    pub.send_row(KEY, ledger, 0.0)
    again, _state, sent_again = publisher(table)  # the restarted worker: the table is the truth
    again.send_row(KEY, _state.load(KEY), 0.0)
    assert [c.change_id for c in sent.changes()] == [c.change_id for c in sent_again.changes()]


def test_the_ledger_keeps_its_whitelist_state_and_the_firms_name():
    ledger = Ledger()
    good_standing(ledger)
    ledger.whitelisted, ledger.whitelist_changes = True, 3
    restored = Ledger.from_bytes(ledger.to_bytes())
    assert (restored.whitelisted, restored.whitelist_changes, restored.name) == (True, 3, ledger.name)
    assert restored.name[1] == "黑河市测试有限公司"
    old_form = json_form(ledger)
    del old_form["w"]
    old = Ledger.from_bytes(json_bytes(old_form))  # written before the feed
    assert (old.whitelisted, old.whitelist_changes) == (False, 0)


def test_cursors_round_trip_and_foreign_ones_are_refused_naming_the_field():
    assert decode_cursor(encode_cursor(0)) == 0 and decode_cursor(encode_cursor(123456789)) == 123456789
    for bad in ("12", "wl1.", "wl1.!!", "wl1." + "A" * 60, "wl1.LTE"):  # LTE = "-1"
        with pytest.raises(ApiError) as refused:
            decode_cursor(bad)
        assert refused.value.field == "after" and refused.value.status == 400


def test_a_signature_holds_for_its_body_and_time_only():
    secret = webhook_secret(b"k" * 32, "w-1")
    assert secret != webhook_secret(b"k" * 32, "w-2") and secret != webhook_secret(b"j" * 32, "w-1")
    body, now = b'{"change_id":"x"}', 1_800_000_000
    signature = sign(secret, now, body)
    assert verify(secret, str(now), signature, body, now + 10) == (True, "")
    assert verify(secret, str(now), signature, body + b" ", now)[0] is False
    assert verify(secret, str(now + 1), signature, body, now)[0] is False
    assert verify(secret, str(now), signature, body, now + 301)[0] is False
    assert verify(secret, "soon", signature, body, now)[0] is False


def test_each_purpose_has_its_own_key_and_what_was_made_before_still_holds():
    from creditstream.api.reports import code_hash, derived_code, report_code
    from creditstream.schemas.keys import IDENTITY, PURPOSES, REPORT_CODE, WEBHOOK_SECRET, hkdf, purpose_key
    from creditstream.schemas.models import WebhookState
    from creditstream.schemas.personal import id_hmac

    secret = b"s" * 32
    keys = {purpose: purpose_key(secret, purpose) for purpose in PURPOSES}
    assert keys[IDENTITY] == secret  # every stored identity hash stays valid
    assert len({keys[REPORT_CODE], keys[WEBHOOK_SECRET], secret}) == 3
    assert hkdf(secret, b"creditstream/report-code") == keys[REPORT_CODE] != hkdf(b"t" * 32, b"creditstream/report-code")
    # RFC 5869's construction: a known answer for the first block (HMAC-SHA256 expand of the extract)
    import hashlib
    import hmac as hmac_module
    prk = hmac_module.new(b"creditstream key derivation v2", secret, hashlib.sha256).digest()
    assert keys[WEBHOOK_SECRET] == hmac_module.new(prk, b"creditstream/webhook-secret\x01", hashlib.sha256).digest()
    assert id_hmac("11010519491231002X", secret) == hmac_module.new(secret, b"11010519491231002X",
                                                                   hashlib.sha256).hexdigest()
    # a webhook registered before (no secret_version on the topic) keeps the secret its lender holds
    legacy = WebhookState.from_bytes(b'{"webhook_id": "w-1", "lender_id": "bank-1", "url": "https://x.example/", '
                                     b'"state": "ACTIVE", "delivered_offset": -1, "failures": 0, "last_error": "", '
                                     b'"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}')
    assert legacy.secret_version == 1
    assert webhook_secret(secret, "w-1", 1) == hmac_module.new(secret, b"creditstream webhook secret\x00w-1",
                                                               hashlib.sha256).hexdigest()
    assert webhook_secret(secret, "w-1", 2) != webhook_secret(secret, "w-1", 1)
    # a report code printed before still renders and verifies; new codes come from the derived key
    old_code = derived_code(secret, "R-1")
    assert report_code(secret, "R-1") != old_code and code_hash(old_code) != code_hash(report_code(secret, "R-1"))


def test_a_red_line_starting_and_ending_by_date_alone_moves_the_firm_off_and_back_on_the_list():
    """The daily re-evaluation (a new R, no new event): a dishonest-debtor listing that starts, is
    removed, and a customs-dishonest grade that then applies until its validity ends. Each leaving
    change names the red lines hit; every change names the model."""
    import asyncio
    import datetime as dt

    reference = {"r": dt.date(2025, 5, 20)}
    state = LedgerState({}, 100 * 20_000)
    sent = Sent()
    pub = Publisher(state, sent, lambda: (AS_OF, reference["r"]), 1.0)
    ledger = state.load(KEY)
    good_standing(ledger)
    ledger.apply(*builders.dishonest("K1", "2025-06-01", removed_on="2025-06-12"))
    ledger.apply(*builders.customs_grade("D1", "DISHONEST", "2025-06-12", valid_until="2025-06-19"))
    states = []
    for day in ("2025-05-20", "2025-06-01", "2025-06-11", "2025-06-12", "2025-06-19", "2025-06-20"):
        reference["r"] = dt.date.fromisoformat(day)
        asyncio.run(pub.republish([KEY], lambda ledger: ledger.registers))
        states.append(state.load(KEY).whitelisted)
    assert states == [True, False, False, False, False, True]
    changes = sent.changes()
    assert [(c.whitelisted, c.failed, c.eval_grade, c.eval_model) for c in changes] == [
        (True, (), "AA", "cs-eval-2"), (False, ("W1", "X1"), "C", "cs-eval-2"), (True, (), "AA", "cs-eval-2")]


def test_a_deleted_webhook_stays_deleted_whatever_order_its_last_states_arrive_in():
    """The lender deletes a webhook while its deliverer records a failed attempt computed from the
    state before the deletion but stamped after it: in either order the webhook stays deleted; a
    later registration under the same id is a new webhook."""
    at = dt.datetime(2026, 12, 5, 5, 0, tzinfo=dt.timezone.utc)
    active = WebhookState("w-1", "bank-1", "https://x.example/", "ACTIVE", 3, 0, "", at, at)
    deleted = dataclasses.replace(active, state="DELETED", updated_at=at + dt.timedelta(seconds=1))
    failed = dataclasses.replace(active, failures=1, last_error="refused", updated_at=at + dt.timedelta(seconds=2))

    def fold(*states):
        held = None
        for state in states:
            if state.supersedes(held):
                held = state
        return held

    assert fold(active, deleted, failed) == deleted
    assert fold(active, failed, deleted) == deleted
    assert fold(active, failed) == failed  # otherwise the later update wins
    assert fold(failed, active) == failed  # and an earlier one never does
    again = dataclasses.replace(active, created_at=at + dt.timedelta(seconds=5), updated_at=at + dt.timedelta(seconds=5))
    assert fold(active, deleted, again) == again  # registered again: a new webhook
    assert fold(active, deleted, again, failed, deleted) == again  # the old registration's states change nothing


def test_a_pass_announcing_many_changes_writes_out_the_ledgers_it_pins_once_past_the_bound():
    """At 100,000 × 24 one pass announced 33,596 joins and pinned 241 MB of ledgers with nothing to
    bound it: the publisher's ``relieve`` lets the checkpoint write them out between chunks."""
    table, log = {}, []
    ledger = Ledger()
    good_standing(ledger)
    stored = ledger.to_bytes()  # folded by replay, which never announces: whitelisted still false
    keys = [f"91350100M{i:08d}X".encode() for i in range(1_000)]
    for key in keys:
        table[key] = stored
    state = LedgerState(table, 50 * heap_estimate(ledger))
    limit = 100 * heap_estimate(ledger)
    sent, peaks = Sent(), []

    async def flushed():
        log.append("flush")

    def write(key, value):
        table[key] = value

    async def relieve():
        peaks.append(state.pinned_bytes)
        if state.unpersisted_bytes >= limit:
            await checkpoint.free_memory()

    pub = Publisher(state, sent, lambda: (AS_OF, last_day(AS_OF)), 1.0, relieve=relieve)
    checkpoint = Checkpoint(state, write, SimpleNamespace(flush=flushed), pub.publish_changed, pytest.fail,
                            acknowledge=lambda partition, offset: None)
    for key in keys:
        state.unpublished[key] = 1.0
    assert asyncio.run(checkpoint.persist()) is True
    assert len(sent.changes()) == len(keys)  # every join announced once …
    assert all(Ledger.from_bytes(table[key]).whitelisted for key in keys)  # … and remembered on disk
    assert max(peaks) <= limit + 200 * heap_estimate(ledger)  # the bound and one chunk of rows (YIELD_EVERY)
    assert state.pinned_bytes == 0 and log == ["flush"]
