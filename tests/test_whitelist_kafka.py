"""The whitelist end to end, through the real broker, the worker and the API: an enterprise joins,
leaves when its tax grade drops and joins again when it recovers; each change is announced once,
read in order from the feed after a cursor, and delivered signed to a webhook, also after the
receiver was down for a while; a webhook that keeps failing is paused and counted."""
import json
import time

from creditstream import apikeys
from creditstream.schemas.topics import TOPIC_OF
from creditstream.schemas.webhooks import CHANGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support import builders
from tests.support.kafka import free_port, scrape_metrics, wait_for
from tests.support.stream import CODEC, produce_all
from tests.support.webhooks import Receiver

E1 = "91350100MA0WHL0014"  # its own: the session's other tests share the whitelist topic


def send(*facts):
    produce_all([(TOPIC_OF[record], E1.encode(), CODEC.encode(record, value)) for record, value in builders.about(E1, *facts)])


def feed(http, key, cursor=None, limit=100):
    """A page of the feed, with only this test's enterprise's changes in ``changes``."""
    path = "/v1/whitelist/changes?limit=%d" % limit + (f"&after={cursor}" if cursor else "")
    status, body, _ = http.get(path, key)
    assert status == 200, body
    return {**body, "all": body["changes"], "changes": [c for c in body["changes"] if c["uscc"] == E1]}


def delivered_ids(receiver):
    return [json.loads(body)["change_id"] for _headers, body in receiver.deliveries if json.loads(body)["uscc"] == E1]


def test_whitelist_changes_arrive_once_each_in_the_feed_and_at_a_webhook(platform_factory):
    settings, _sink, http, client, _worker = platform_factory("2025-06", webhook_retry_seconds=0.2,
                                                               webhook_retry_max_seconds=5.0, webhook_pause_after=6,
                                                               webhook_local_test_targets=True, webhooks_per_lender=2)
    bank = apikeys.issue(settings.kafka, "lender", "bank-1")[1]
    firm = apikeys.issue(settings.kafka, "enterprise", E1)[1]
    wait_for(lambda: http.get("/v1/whitelist", bank)[0] == 200 and http.get("/v1/whoami", firm)[0] == 200, 30,
             "the API and both keys")
    assert http.get("/v1/whitelist", firm)[0] == 403

    receiver = Receiver(free_port()).start()
    status, hook = http.send("POST", "/v1/webhooks", bank, {"url": receiver.url})
    assert status == 201 and hook["state"] == "ACTIVE", hook
    secret = hook["secret"]
    broken = http.send("POST", "/v1/webhooks", bank, {"url": f"http://127.0.0.1:{free_port()}/nobody"})[1]
    assert http.send("POST", "/v1/webhooks", bank, {"url": "ftp://x"})[0] == 400
    third = http.send("POST", "/v1/webhooks", bank, {"url": receiver.url})  # the cap (here 2 a lender)
    assert third[0] == 409 and third[1]["field"] == "url"
    refused = http.send("POST", "/v1/webhooks", bank, {"url": "http://10.0.0.1/x"})  # local tests: loopback only
    assert refused[0] == 400 and "private" in refused[1]["reason"]

    # joins
    send(*builders.good_standing())
    wait_for(lambda: len(feed(http, bank)["changes"]) == 1, 120, "the join in the feed")
    join = feed(http, bank)["changes"][0]
    assert (join["uscc"], join["whitelisted"], join["eval_grade"], join["failed"]) == (E1, True, "AA", [])
    assert join["enterprise_name"] == "黑河市测试有限公司"
    wait_for(lambda: delivered_ids(receiver) == [join["change_id"]], 30, "the join at the webhook")
    headers, body = next((h, b) for h, b in receiver.deliveries if json.loads(b)["uscc"] == E1)
    assert headers[CHANGE_ID_HEADER] == join["change_id"]
    assert verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, time.time()) == (True, "")
    tampered = body.replace(b'"whitelisted":true', b'"whitelisted":false')
    assert tampered != body
    assert verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], tampered, time.time())[0] is False
    assert verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, time.time() + 3600)[0] is False
    listed = http.get("/v1/whitelist?limit=500", bank)[1]
    assert [(m["uscc"], m["eval_grade"]) for m in listed["items"] if m["uscc"] == E1] == [(E1, "AA")]
    assert listed["size"] == len(listed["items"]) >= 1
    assert E1 in [m["uscc"] for m in http.get("/v1/whitelist?grade=AA&limit=500", bank)[1]["items"]]
    assert E1 not in [m["uscc"] for m in http.get("/v1/whitelist?grade=AAA&limit=500", bank)[1]["items"]]

    # the receiver goes down; the tax grade drops (leave) and recovers (join) meanwhile
    receiver.stop()
    send(builders.rating(2024, "C", "2025-05-01T00:00:00"))
    wait_for(lambda: len(feed(http, bank)["changes"]) == 2, 60, "the leave in the feed")
    leave = feed(http, bank)["changes"][1]
    assert leave["whitelisted"] is False and "W2" in leave["failed"] and "W1" in leave["failed"], leave
    assert E1 not in [m["uscc"] for m in http.get("/v1/whitelist?limit=500", bank)[1]["items"]]
    wait_for(lambda: any(w["failures"] >= 2 and w["webhook_id"] == hook["webhook_id"]
                         for w in http.get("/v1/webhooks", bank)[1]["items"]), 30, "failed deliveries")
    send(builders.rating(2024, "A", "2025-05-02T00:00:00"))
    wait_for(lambda: len(feed(http, bank)["changes"]) == 3, 60, "the second join in the feed")
    receiver.start()
    changes = feed(http, bank)["changes"]
    wait_for(lambda: delivered_ids(receiver) == [c["change_id"] for c in changes], 30,
             "the leave and the join at the webhook, once each, in order")
    assert len(set(c["change_id"] for c in changes)) == 3

    # the feed is resumable: page by page after each cursor, nothing missed or repeated
    everything = feed(http, bank, limit=500)["all"]
    seen, cursor = [], None
    for _ in range(len(everything) + 1):
        page = feed(http, bank, cursor, limit=1)
        seen += [c["change_id"] for c in page["all"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [c["change_id"] for c in everything] and len(set(seen)) == len(seen)
    assert [c for c in seen if c.startswith(E1)] == [c["change_id"] for c in changes]
    assert feed(http, bank, cursor)["all"] == []
    assert http.get("/v1/whitelist/changes?after=12", bank)[0] == 400

    # stored in ClickHouse too, once per change
    stored = lambda: client.query(  # noqa: E731
        "SELECT change_id, whitelisted FROM whitelist_changes FINAL WHERE uscc = {u:String} ORDER BY at",
        parameters={"u": E1}).result_rows
    wait_for(lambda: len(stored()) == 3, 30, "the changes in ClickHouse")
    assert stored() == [(c["change_id"], c["whitelisted"]) for c in changes]

    # the webhook that keeps failing is paused, and counted
    wait_for(lambda: any(w["webhook_id"] == broken["webhook_id"] and w["state"] == "PAUSED"
                         for w in http.get("/v1/webhooks", bank)[1]["items"]), 60, "the broken webhook paused")
    wait_for(lambda: scrape_metrics(settings.api_metrics_port).get("creditstream_webhooks_paused") == 1.0, 10, "the gauge")
    assert scrape_metrics(settings.api_metrics_port)["creditstream_whitelist_size"] == listed["size"]
    status, resumed = http.send("POST", f"/v1/webhooks/{broken['webhook_id']}/resume", bank)
    assert status == 200 and resumed["state"] == "ACTIVE" and resumed["failures"] == 0
    assert http.send("DELETE", f"/v1/webhooks/{broken['webhook_id']}", bank)[0] == 200
    assert [w["webhook_id"] for w in http.get("/v1/webhooks", bank)[1]["items"]] == [hook["webhook_id"]]
