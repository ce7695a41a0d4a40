"""The HTTP push gateway against the real broker, worker and API: a batch mixing valid, invalid and
foreign records puts exactly the valid ones into Kafka at the offsets the answer names; the
same batch again changes no aggregate; a revoked provider is refused; oversize batches are 413.
An uploaded export (CSV or JSON Lines) lands its valid lines and names every rejected one.
(With Kafka unreachable the gateway answers 503: tests/test_api_kafka_down.py.)"""
import copy
import csv
import io
import json

from creditstream import apikeys
from creditstream.connectors.simulate import SimulatedEvent
from creditstream.schemas.records import record_from_json, to_json
from creditstream.schemas.topics import AGGREGATES_TOPIC, TOPIC_OF
from tests.support import builders
from tests.support.kafka import group_caught_up, latest_by_key, read_topic, wait_for
from tests.support.stream import CODEC, replay_rows

FIRM = "91350100MA0GWY001J"
WATER = "credit.utility.water.v1"


def record(fact, provider="gw-water"):
    name, value = builders.about(FIRM, fact)[0]
    return {"topic": TOPIC_OF[name], "value": to_json({**value, "provider_id": provider})}


def test_a_mixed_batch_lands_exactly_its_valid_records_and_a_repeat_changes_nothing(platform):
    settings, _sink, http, _client, _worker = platform
    key_id, key = apikeys.issue(settings.kafka, "provider", "gw-water", "gw-water", (WATER,))
    wait_for(lambda: http.get("/v1/whoami", key)[0] == 200, 30, "the provider's key")
    may = record(builders.statement("water", "W1", "2025-05", "10.000", "40.00", occurred="2025-05-25T00:00:00"))
    june = record(builders.statement("water", "W1", "2025-06", "12.000", "48.00", occurred="2025-06-25T00:00:00"))
    broken = copy.deepcopy(june)
    del broken["value"]["usage"]
    broken["value"]["event_id"] = "gw-broken-1"
    foreign = record(builders.rating(2024, "A", "2025-04-01T00:00:00"))
    impostor = record(builders.statement("water", "W2", "2025-06", "1.000", "4.00"), provider="someone-else")
    batch = {"records": [may, broken, foreign, impostor, june, {"topic": "nope", "value": {}}]}

    status, answer = http.send("POST", "/v1/providers/events", key, batch)
    assert status == 202, answer
    outcomes = [(r["status"], r.get("code"), r.get("field")) for r in answer["results"]]
    assert outcomes == [("accepted", None, None), ("rejected", 400, "records[1].value"),
                        ("rejected", 403, "records[2].topic"), ("rejected", 403, "records[3].value.provider_id"),
                        ("accepted", None, None), ("rejected", 400, "records[5].topic")]
    assert "usage" in answer["results"][1]["reason"] and "may not publish" in answer["results"][2]["reason"]
    assert (answer["accepted"], answer["rejected"]) == (2, 4)

    # exactly the valid records, at the partitions and offsets the answer names
    landed = {(m.partition(), m.offset()): CODEC.decode(m.value())[1]["event_id"] for m in read_topic(WATER)}
    for result, sent in ((answer["results"][0], may), (answer["results"][4], june)):
        assert landed[(result["partition"], result["offset"])] == sent["value"]["event_id"] == result["event_id"]
    assert not any(event_id in (broken["value"]["event_id"], impostor["value"]["event_id"])
                   for event_id in landed.values())

    # the same batch again: accepted again, and the aggregates are those of one delivery
    assert http.send("POST", "/v1/providers/events", key, batch)[0] == 202
    water = CODEC.current("WaterStatement").raw
    expected = replay_rows([SimulatedEvent(r["topic"], record_from_json(water, r["value"])) for r in (may, june)])[FIRM]
    wait_for(lambda: group_caught_up(settings.app_id, [WATER]), 120, "the worker to read both batches")
    wait_for(lambda: latest_by_key(read_topic(AGGREGATES_TOPIC)).get(FIRM) == expected, 30, "the row of one delivery")

    # limits and keys
    assert http.send("POST", "/v1/providers/events", key, {"records": [may] * 1001})[0] == 413
    assert http.send("POST", "/v1/providers/events", key, {"records": []})[0] == 400
    lender = apikeys.issue(settings.kafka, "lender", "gw-bank")[1]
    wait_for(lambda: http.get("/v1/whoami", lender)[0] == 200, 30, "the lender's key")
    assert http.send("POST", "/v1/providers/events", lender, batch)[0] == 403
    apikeys.revoke(settings.kafka, key_id, "provider", "gw-water", "gw-water")
    wait_for(lambda: http.send("POST", "/v1/providers/events", key, batch)[0] == 401, 10, "the revocation")


def csv_export(*values) -> bytes:
    """A water company's CSV export of typed statements (header = the schema's fields)."""
    fields = [f["name"] for f in CODEC.current("WaterStatement").raw["fields"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for value in values:
        writer.writerow({k: ("" if v is None else v) for k, v in to_json(value).items()})
    return out.getvalue().encode()


def test_an_uploaded_export_lands_its_valid_lines_and_names_every_rejected_one(platform):
    settings, _sink, http, _client, _worker = platform
    key = apikeys.issue(settings.kafka, "provider", "gw-water", "gw-water", (WATER,))[1]
    wait_for(lambda: http.get("/v1/whoami", key)[0] == 200, 30, "the provider's key")

    def statement(month, provider="gw-water", **changes):
        value = builders.about(FIRM, builders.statement("water", "W1", month, "10.000", "40.00",
                                                        occurred=f"{month}-25T00:00:00"))[0][1]
        return {**value, "provider_id": provider, **changes}

    march, april = statement("2025-03"), statement("2025-04")
    body = csv_export(march, statement("2025-05", usage="lots"), statement("2025-05", provider="someone-else"), april)
    status, answer = http.upload(f"/v1/providers/files?topic={WATER}", key, body, "text/csv")
    assert status == 202, answer
    assert (answer["accepted"], answer["rejected"]) == (2, 2)
    assert [(r["line"], r["code"], r["field"]) for r in answer["rejections"]] == [(3, 400, "value"),
                                                                                   (4, 403, "value.provider_id")]
    assert "usage" in answer["rejections"][0]["reason"]
    landed = read_topic(WATER)
    assert sorted(CODEC.decode(m.value())[1]["event_id"] for m in landed) == sorted([march["event_id"],
                                                                                     april["event_id"]])
    spans = {(s["partition"], s["first_offset"], s["last_offset"], s["records"]) for s in answer["partitions"]}
    assert spans == {(landed[0].partition(), min(m.offset() for m in landed), max(m.offset() for m in landed), 2)}

    # JSON Lines: each line names its topic; a foreign topic and a line that is not JSON are named
    lines = [json.dumps({"topic": WATER, "value": to_json(statement("2025-02"))}),
             json.dumps(record(builders.rating(2024, "A", "2025-04-01T00:00:00"))), "", "{not json"]
    status, answer = http.upload("/v1/providers/files", key, "\n".join(lines).encode(), "application/x-ndjson")
    assert status == 202 and answer["accepted"] == 1, answer
    assert [(r["line"], r["code"], r["field"]) for r in answer["rejections"]] == [(2, 403, "topic"), (4, 400, "line")]

    # what the request itself gets wrong is 400 naming it; a file with nothing acceptable is 422
    assert http.upload("/v1/providers/files", key, body, "text/plain")[1]["field"] == "format"
    assert http.upload("/v1/providers/files", key, body, "text/csv")[1]["field"] == "topic"
    assert http.upload(f"/v1/providers/files?topic={WATER}", key, b"\xff\xfe,x\n1,2\n", "text/csv")[0] == 400
    assert http.upload("/v1/providers/files", key, b"{not json\n", "application/x-ndjson")[0] == 422
    assert len(read_topic(WATER)) == 3
