"""Bad HTTP input from the second probe (issue 27, items 8, 9, 10, 25): each is a 4xx with the
field and the reason, never a 500; every answer is UTF-8 JSON with its charset and carries
X-Request-Id."""
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from creditstream import apikeys
from creditstream.schemas.topics import TOPIC_OF
from tests.support import builders
from tests.support.kafka import STREAM_AS_OF, scrape_metrics, wait_for
from tests.support.stream import CODEC, produce_all

pytestmark = pytest.mark.kafka


def raw(base, path, data=None, headers=None, method=None):
    """(status, headers, body bytes) of a request; never raises on a status."""
    request = urllib.request.Request(base + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sign_in(base, key):
    """A portal session cookie for this key (through the sign-in form, with its CSRF cookie)."""
    status, headers, page = raw(base, "/portal/sign-in")
    cookie = re.search(r"cs_signin=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(base + "/portal/sign-in", data=urllib.parse.urlencode(
        {"csrf": token, "key": key}).encode(), headers={"Cookie": f"cs_signin={cookie}"}, method="POST")
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        return re.search(r"cs_session=([^;]+)", exc.headers["Set-Cookie"]).group(1)
    raise AssertionError("sign-in did not redirect")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_bad_bodies_and_queries_are_4xx_and_every_answer_is_utf8_json_with_a_request_id(platform):
    settings, _sink, http, client, _worker = platform
    base = http.base
    lender = apikeys.issue(settings.kafka, "lender", "bank-h")[1]
    operator = apikeys.issue(settings.kafka, "operator", "op-h")[1]
    wait_for(lambda: all(http.get("/v1/whoami", k)[0] == 200 for k in (lender, operator)), 60, "the keys")
    auth = {"Authorization": f"Bearer {lender}", "Content-Type": "application/json"}
    uscc = "91350100MA0HTF0019"  # this test's own enterprise: the session's topics are shared
    produce_all([(TOPIC_OF[record], uscc.encode(), CODEC.encode(record, value)) for record, value in
                 builders.about(uscc, builders.statement("water", "W1", STREAM_AS_OF, "1.000", "2.00"))])

    # deep JSON on every JSON route is 400 naming the body (it was a RecursionError, 500)
    deep = b"[" * 200_000 + b"]" * 200_000
    for path in (f"/v1/enterprises/{uscc}/verify", "/v1/webhooks", "/v1/sql", "/v1/me/consents"):
        status, headers, body = raw(base, path, deep, auth, "POST")
        assert status in (400, 403), (path, status, body[:200])
        if status == 400:
            assert json.loads(body)["field"] == "body", path

    # a 9.5 MB body on /v1/sql: 413, not 500
    big = json.dumps({"query": "SELECT 1 -- " + "x" * 9_500_000}).encode()
    status, headers, body = raw(base, "/v1/sql", big, {**auth, "Authorization": f"Bearer {operator}"}, "POST")
    assert status == 413 and json.loads(body)["error"] == "too_large"

    # one encoder: UTF-8 with its charset, Chinese unescaped, and the request id on every answer
    for path, data in ((f"/v1/enterprises/{uscc}/aggregates", None), ("/v1/whoami", None),
                       (f"/v1/enterprises/{uscc}/verify", json.dumps({"claims": [{"type": "no_tax_arrears"}]}).encode()),
                       ("/v1/whitelist?grade=ZZ", None)):
        status, headers, body = raw(base, path, data, auth, "POST" if data else "GET")
        assert headers["Content-Type"] == "application/json; charset=utf-8", (path, headers["Content-Type"])
        assert headers.get("X-Request-Id"), path
        assert b"\\u" not in body, path
    wait_for(lambda: raw(base, f"/v1/enterprises/{uscc}/aggregates", headers=auth)[0] == 200, 120, "the row")
    body = raw(base, f"/v1/enterprises/{uscc}/records/{urllib.parse.quote('水电')}", headers=auth)[2]
    assert "'水电'".encode() in body and b"\\u" not in body  # the refusal quotes it as the caller wrote it

    # the portal: a grade the API refuses is shown as that refusal; a form that is not UTF-8 is 400
    cookie = sign_in(base, lender)
    status, headers, page = raw(base, "/portal/whitelist?grade=ZZ", headers={"Cookie": f"cs_session={cookie}"})
    assert status == 400 and "grade" in page.decode(), page[:300]
    status, headers, page = raw(base, "/portal/sign-in", b"csrf=\xff\xfe&key=\xff", {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "POST")
    assert status == 400, page[:300]
    wait_for(lambda: client.query("SELECT count() FROM lookup_audit WHERE route = 'portal.form' AND status = 400"
                                  ).result_rows[0][0] >= 1, 30, "the refused form in the audit")


def test_an_address_that_keeps_failing_to_authenticate_is_slowed_down(platform_factory):
    """Issue 27, item 13 (no key is awaited here: waiting for one to load answers 401s, which count)."""
    settings, _sink, http, _client, _worker = platform_factory("2025-06", api_auth_failures_limit=5,
                                                                api_auth_block_seconds=600)
    base = http.base
    wait_for(lambda: raw(base, "/healthz")[0] == 200, 60, "the API to load")
    statuses = [raw(base, "/v1/whoami", headers={"Authorization": f"Bearer cs_nokey{i}.wrong"})[0] for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    status, headers, _ = raw(base, "/v1/whoami", headers={"Authorization": "Bearer cs_anykey.at-all"})
    assert status == 429 and int(headers["Retry-After"]) > 500  # whatever key that address sends next
    assert scrape_metrics(settings.api_metrics_port).get("creditstream_api_auth_throttled_total", 0) >= 3
    # the portal's sign-in counts the same failures for the browser's address, before any key is tried
    status, headers, page = raw(base, "/portal/sign-in")
    cookie = re.search(r"cs_signin=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    status, _, page = raw(base, "/portal/sign-in", urllib.parse.urlencode({"csrf": token, "key": "cs_x.y"}).encode(),
                          {"Cookie": f"cs_signin={cookie}"}, "POST")
    assert status == 429 and "登录失败次数过多" in page.decode()
