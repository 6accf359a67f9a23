"""Which addresses a fetch may reach.

By default citewatch fetches nothing on loopback, private, link-local,
shared, reserved or cloud-metadata addresses: a cited URL (or a redirect, or
a DNS answer) must not turn the crawler against the network it runs in. The
check runs on resolved addresses, in :class:`crawler.resolver.GuardedResolver`,
so it holds after DNS resolution and on every redirect hop; literal addresses
in URLs are checked here before any connection.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

# Addresses that ipaddress does not flag but that lead to cloud metadata services.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}

# Host names that stand for this machine whatever DNS says.
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

ALLOWED_SCHEMES = ("http", "https")


def forbidden_reason(address: str) -> str | None:
    """Why ``address`` may not be fetched, or None when it may.

    >>> forbidden_reason("127.0.0.1"), forbidden_reason("10.1.2.3"), forbidden_reason("93.184.215.14")
    ('loopback', 'private', None)
    >>> forbidden_reason("169.254.169.254"), forbidden_reason("::ffff:127.0.0.1")
    ('cloud metadata', 'loopback')
    >>> forbidden_reason("2002:7f00:1::"), forbidden_reason("0x7f.1"), forbidden_reason("fd12::1")
    ('loopback', 'loopback', 'private')
    """
    ip = _parse_address(address)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address: judge the IPv4 address.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return forbidden_reason(str(embedded))
    if ip in _METADATA:
        return "cloud metadata"
    for reason, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return reason
    if not ip.is_global:
        return "non-public"
    return None


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address in any form a resolver accepts, or None for a host name.

    >>> [str(_parse_address(t)) for t in ("2130706433", "0x7f.1", "127.1", "0177.0.0.1", "::1")]
    ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1', '::1']
    >>> _parse_address("example.org") is None
    True
    """
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    # inet_aton reads the legacy forms (decimal, octal, hex, fewer than four parts)
    # that URL parsers and resolvers also accept.
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def host_forbidden_reason(host: str) -> str | None:
    """Like :func:`forbidden_reason` for a URL's host before resolution (literals, local names).

    A browser (and many a proxy) percent-decodes a host before reading it, so the check does too.

    >>> [host_forbidden_reason(h) for h in ("LOCALHOST", "[::1]", "example.org", "%31%32%37.0.0.1")]
    ['loopback', 'loopback', None, 'loopback']
    """
    host = unquote(host).strip("[]").lower().rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return "loopback"
    return forbidden_reason(host)


def blocked_message(host: str, address: str, reason: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    return (
        f"blocked: {shown} is a {reason} address; set allow_private_networks "
        "(CITEWATCH_ALLOW_PRIVATE_NETWORKS=1) to allow it"
    )


def proxy_hosts(env: dict[str, str] | None = None) -> set[str]:
    """Host names of the configured HTTP(S) proxies: the guard lets citewatch reach these."""
    proxies = (
        getproxies()
        if env is None
        else {k.lower().removesuffix("_proxy"): v for k, v in env.items() if k.lower().endswith("_proxy")}
    )
    hosts = set()
    for scheme, url in proxies.items():
        if scheme in {"http", "https", "all"} and url:
            host = urlsplit(url if "://" in url else f"http://{url}").hostname
            if host:
                hosts.add(host.lower())
    return hosts


def browser_proxy(env: dict[str, str] | None = None) -> dict[str, str] | None:
    """Playwright's ``proxy`` launch option from HTTP(S)_PROXY and NO_PROXY."""
    env = dict(os.environ) if env is None else env
    lookup = {k.lower(): v for k, v in env.items()}
    server = lookup.get("https_proxy") or lookup.get("http_proxy") or lookup.get("all_proxy")
    if not server:
        return None
    option = {"server": server}
    if lookup.get("no_proxy"):
        option["bypass"] = lookup["no_proxy"]
    return option
