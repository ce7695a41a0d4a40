"""The gateway's per-record checks without Kafka, and provider keys that carry their topics."""
import datetime as dt

from creditstream.api.gateway import Gateway
from creditstream.api.view import ServingView
from creditstream.schemas.models import KeyEvent
from creditstream.schemas.records import to_json
from tests.support import builders
from tests.support.stream import CODEC

WATER = "credit.utility.water.v1"


def water(**changes):
    _record, value = builders.statement("water", "W1", "2025-06", "12.000", "48.00", provider="heihe-water")
    return {"topic": WATER, "value": {**to_json(value), **changes}}


def test_each_record_is_checked_for_shape_topic_permission_provider_and_schema():
    gateway = Gateway(ServingView(), writer=None)
    allowed = {WATER}
    ok = gateway.check(0, water(), "heihe-water", allowed)
    assert ok["status"] == "accepted" and ok["_key"] == builders.USCC.encode()
    assert CODEC.decode(ok["_value"])[1]["event_id"] == ok["event_id"]
    refused = {
        "shape": gateway.check(1, ["not", "an", "object"], "heihe-water", allowed),
        "topic": gateway.check(2, {"topic": "credit.nope.v1", "value": {}}, "heihe-water", allowed),
        "foreign": gateway.check(3, {**water(), "topic": "credit.tax.rating.v1"}, "heihe-water", allowed),
        "impostor": gateway.check(4, water(provider_id="heihe-gas"), "heihe-water", allowed),
        "schema": gateway.check(5, water(usage="lots"), "heihe-water", allowed),
        "no topics": gateway.check(6, water(), "heihe-water", set()),
    }
    assert {name: (r["code"], r["field"]) for name, r in refused.items()} == {
        "shape": (400, "records[1]"), "topic": (400, "records[2].topic"), "foreign": (403, "records[3].topic"),
        "impostor": (403, "records[4].value.provider_id"), "schema": (400, "records[5].value"),
        "no topics": (403, "records[6].topic")}
    assert "usage" in refused["schema"]["reason"] and "given no topics" in refused["no topics"]["reason"]


def test_a_provider_key_carries_its_topics_and_older_key_events_still_read():
    event = KeyEvent("k1", "f" * 64, "provider", "heihe-water", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), False,
                     "heihe-water", (WATER,))
    assert KeyEvent.from_bytes(event.to_bytes()) == event
    older = event.to_bytes().replace(b', "topics": ["credit.utility.water.v1"]', b"")
    assert b"topics" not in older and KeyEvent.from_bytes(older).topics == ()


def test_no_provider_may_push_consents():
    """Consents are the enterprises' own: a provider key is refused the consent topic when it is
    made, and the gateway refuses it even for a key that carries it."""
    import pytest

    from creditstream import apikeys
    from creditstream.api.gateway import refusal
    from creditstream.schemas.kafka import KafkaConnection
    from creditstream.schemas.topics import CONSENT_RECORD, TOPIC_OF

    consent = TOPIC_OF[CONSENT_RECORD]
    with pytest.raises(apikeys.KeyRefused, match="consents are the enterprises' own"):
        apikeys.add_provider(KafkaConnection("127.0.0.1:9"), "heihe-water", (WATER, consent))  # refused before Kafka
    assert refusal(consent, "heihe-water", "heihe-water", {WATER, consent})[0] == "topic"
    assert refusal(WATER, "heihe-water", "heihe-water", {WATER, consent}) is None
