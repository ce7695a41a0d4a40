"""Where a lender's webhook may point: an https:// URL whose host resolves only to public
addresses, checked at registration and again at every delivery (a DNS answer may change after
registration), before any connection is opened; redirects are never followed.

The second probe registered ``http://169.254.169.254/…``, loopback (the sink's query service,
Kafka), ``[::1]`` and private addresses, and read what answered in ``last_error``. Refused now:
loopback, private (RFC 1918, unique-local fc00::/7), link-local, shared (100.64/10), multicast,
reserved and unspecified addresses, and IPv4 addresses inside IPv6 (``::ffff:127.0.0.1``).

``local_test_targets`` (``CREDITSTREAM_WEBHOOK_LOCAL_TEST_TARGETS``) lets tests and the one-machine
demo use plain http:// and loopback receivers; nothing else is ever allowed.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Awaitable, Callable, Optional
from urllib.parse import urlsplit

MAX_URL = 2048
Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host, port) → the addresses it resolves to


class TargetRefused(Exception):
    """The webhook's URL or one of its host's addresses may not receive deliveries."""


def url_problem(url, local_test_targets: bool = False) -> Optional[str]:
    """What is wrong with a webhook URL as text (before any resolution), or None."""
    if not isinstance(url, str) or not url:
        return "the URL the changes are posted to"
    if len(url) > MAX_URL:
        return f"at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        return f"not a URL: {exc}"
    schemes = ("https", "http") if local_test_targets else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return "an absolute https:// URL" if not local_test_targets else "an absolute http:// or https:// URL"
    if parts.username or parts.password:
        return "no credentials in the URL: verify the signature instead"
    return None


def address_problem(address: str, local_test_targets: bool = False) -> Optional[str]:
    """Why a webhook may not be delivered to this IP address, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope id (fe80::1%eth0) names an interface
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if local_test_targets else "a loopback address"
    for kind, holds in (("a multicast", ip.is_multicast), ("an unspecified", ip.is_unspecified),
                        ("a link-local", ip.is_link_local), ("a private", ip.is_private),
                        ("a reserved", ip.is_reserved), ("a non-public", not ip.is_global)):
        if holds:
            return f"{kind} address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    import asyncio

    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


async def checked_addresses(url: str, resolve: Resolver, local_test_targets: bool = False) -> list[str]:
    """The addresses the URL's host resolves to, all allowed; TargetRefused otherwise (every one
    must be allowed: a client may connect to any of them)."""
    problem = url_problem(url, local_test_targets)
    if problem:
        raise TargetRefused(problem)
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise TargetRefused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for address in addresses:
        problem = address_problem(address, local_test_targets)
        if problem:
            raise TargetRefused(f"{host} resolves to {address}, {problem}: webhooks go to public https receivers")
    return addresses


class CheckedResolver:
    """aiohttp's resolver for webhook deliveries: the addresses it returns are the ones checked, so
    a DNS answer that changes between the check and the connection cannot slip through."""

    def __init__(self, resolve: Resolver, local_test_targets: bool = False):
        self.resolve_addresses, self.local_test_targets = resolve, local_test_targets

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        addresses = await self.resolve_addresses(host, port)
        for address in addresses:
            problem = address_problem(address, self.local_test_targets)
            if problem:
                raise OSError(f"{host} resolves to {address}, {problem}")
        return [{"hostname": host, "host": address, "port": port,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST} for address in addresses]

    async def close(self) -> None:
        pass
