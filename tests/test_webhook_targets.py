"""Webhooks never reach into the internal network (issue 27, item 5): https to public addresses
only, checked at registration and at every delivery, before any connection is opened. No traffic
leaves loopback: the resolvers here are functions that answer what a hostile DNS would."""
import asyncio
import datetime as dt

import pytest

from creditstream.api.config import ApiConfig
from creditstream.api.view import ServingView
from creditstream.api.webhook_targets import CheckedResolver, TargetRefused, address_problem, checked_addresses
from creditstream.api.whitelist import WebhookDeliveries
from creditstream.schemas.models import WebhookState, WhitelistChange


def answering(*addresses):
    calls = []

    async def resolve(host, port):
        calls.append((host, port))
        return list(addresses)
    resolve.calls = calls
    return resolve


def check(url, resolve=None, local=False):
    return asyncio.run(checked_addresses(url, resolve or answering("93.184.216.34"), local))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/", "https://127.0.0.1:8123/query",
    "https://[::1]/", "https://10.0.0.8/", "https://192.168.1.1/", "https://172.16.0.1/", "https://100.64.0.1/",
    "https://[fc00::1]/", "https://[fe80::1]/", "https://224.0.0.1/", "https://[ff02::1]/", "https://0.0.0.0/",
    "https://240.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:10.0.0.1]/"])
def test_internal_addresses_are_refused_at_registration(url):
    with pytest.raises(TargetRefused):
        check(url)


def test_plain_http_needs_the_local_test_setting_and_loopback_only_that():
    with pytest.raises(TargetRefused, match="https"):
        check("http://hooks.bank.example/x")
    assert check("http://127.0.0.1:9/x", local=True) == ["127.0.0.1"]
    with pytest.raises(TargetRefused, match="private"):
        check("http://10.1.2.3/x", local=True)
    assert check("https://hooks.bank.example/x") == ["93.184.216.34"]


def test_a_name_that_resolves_to_any_internal_address_is_refused():
    resolve = answering("93.184.216.34", "10.0.0.5")
    with pytest.raises(TargetRefused, match="10.0.0.5, a private address"):
        check("https://hooks.bank.example/x", resolve)
    assert resolve.calls == [("hooks.bank.example", 443)]
    for address in ("127.0.0.1", "::1", "169.254.169.254", "fd12::1"):
        assert address_problem(address) is not None, address
    assert address_problem("8.8.8.8") is None and address_problem("2001:4860:4860::8888") is None


def test_the_connectors_resolver_refuses_what_dns_answers_at_connection_time():
    resolver = CheckedResolver(answering("192.168.0.10"))
    with pytest.raises(OSError, match="192.168.0.10, a private address"):
        asyncio.run(resolver.resolve("hooks.bank.example", 443))
    assert asyncio.run(CheckedResolver(answering("93.184.216.34")).resolve("hooks.bank.example", 443))[0][
        "host"] == "93.184.216.34"


class NoConnections:
    """A session that fails the test if anything tries to connect."""

    def post(self, *args, **kwargs):
        raise AssertionError("a connection was opened")


def test_a_delivery_rechecks_dns_and_opens_no_connection_when_it_now_answers_private():
    now = dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)
    webhook = WebhookState("w-1", "bank-a", "https://hooks.bank.example/x", "ACTIVE", -1, 0, "", now, now)
    change = WhitelistChange("E:1:join", "91230100MA1XXXXX0A", "甲", True, "A", (), now)
    deliveries = WebhookDeliveries(ServingView(), None, ApiConfig(kafka=None), lambda: True,
                                   resolve=answering("127.0.0.1"))  # registered public, rebound to loopback since
    error = asyncio.run(deliveries.post(NoConnections(), webhook, "secret", 0, change))
    assert error.startswith("refused:") and "127.0.0.1, a loopback address" in error
