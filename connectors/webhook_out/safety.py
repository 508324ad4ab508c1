"""SSRF guard for outbound webhooks: classify addresses, resolve once, connect to what was checked.

A webhook URL is somebody's configuration, so the hub must not let it reach
the hub's own network (ARCHITECTURE.md, "Security"): the loopback interface,
RFC 1918 ranges, link-local addresses (169.254.169.254 is the cloud metadata
service), unique-local IPv6, multicast, unspecified and other special-purpose
addresses, including IPv6 forms that embed such an IPv4 address
(``::ffff:127.0.0.1``, NAT64, 6to4).

Three rules close the usual bypasses:

- *Every* address a name resolves to is checked, not just the first.
- The connection goes to the addresses that were checked: ``PinnedResolver``
  hands aiohttp the pre-resolved list, so a DNS answer that changes between
  the check and the connect (DNS rebinding) changes nothing. TLS still
  verifies the certificate against the URL's host name.
- Redirects are never followed (``refuse_redirects``), so a public endpoint
  cannot bounce the request to an internal one.

Host literals are parsed the way ``inet_aton`` does (``127.1``, ``0x7f.1``,
``2130706433``, ``0177.0.0.1``), because that is how the operating system
will read them when connecting.

``classify`` and ``parse_ip`` are pure; ``resolve_checked`` is the one I/O edge.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType

from hub.errors import PermanentError, TransientError

__all__ = [
    "IPAddress",
    "Lookup",
    "PinnedResolver",
    "RedirectRefused",
    "UnsafeAddressError",
    "check_address",
    "classify",
    "host_allowed",
    "parse_ip",
    "pinned_session",
    "refuse_redirects",
    "resolve_checked",
    "system_lookup",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT (Alibaba metadata)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCT = re.compile(r"0[0-7]*")
_DEC = re.compile(r"[1-9][0-9]*")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")


class UnsafeAddressError(PermanentError):
    """The webhook URL resolves to an address the hub refuses to call (SSRF guard)."""


class RedirectRefused(PermanentError):
    """The endpoint answered with a redirect; webhooks are never forwarded."""


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``inet_aton`` forms: 1-4 dot-separated parts, each decimal, octal (``0``) or hex (``0x``)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            numbers.append(int(part[2:] or "0", 16))
        elif _OCT.fullmatch(part):
            numbers.append(int(part, 8))
        elif _DEC.fullmatch(part):
            numbers.append(int(part, 10))
        else:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IPAddress | None:
    """The address a host literal stands for (brackets, zone ids, ``127.1``, ``0x7f.1``), else None."""
    text = host.strip().rstrip(".") if not host.startswith("[") else host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # fe80::1%eth0: the zone does not change the class
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if ":" in text:
        return None
    return _legacy_ipv4(text)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, compatible, NAT64, 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated "compatible" form)
        return ipaddress.IPv4Address(int(ip))
    return None


def classify(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be called (``"loopback"``, ``"private (RFC 1918)"``...), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = classify(inner)
            return f"{reason}, embedded in IPv6 {ip}" if reason else None
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_loopback:
            return "loopback"
        if ip.is_link_local:
            return "link-local"
        if ip in _UNIQUE_LOCAL:
            return "unique-local (fc00::/7)"
        if ip in _SITE_LOCAL:
            return "site-local (deprecated)"
        if ip.is_multicast:
            return "multicast"
        if not ip.is_global:
            return "reserved or special-purpose"
        return None
    if ip in _THIS_NETWORK:
        return "unspecified (0.0.0.0/8)"
    if ip.is_loopback:
        return "loopback"
    if any(ip in net for net in _RFC1918):
        return "private (RFC 1918)"
    if ip.is_link_local:
        return "link-local (incl. cloud metadata 169.254.169.254)"
    if ip in _SHARED:
        return "shared address space (RFC 6598)"
    if ip.is_multicast:
        return "multicast"
    if not ip.is_global:
        return "reserved or special-purpose"
    return None


def check_address(ip: IPAddress, host: str, *, allow_private: bool) -> None:
    """Raise ``UnsafeAddressError`` when ``ip`` (what ``host`` resolved to) is not public."""
    if allow_private:
        return
    reason = classify(ip)
    if reason is not None:
        shown = f"{host} resolves to {ip}" if parse_ip(host) is None else f"{host} is {ip}"
        raise UnsafeAddressError(
            f"refusing to send the webhook: {shown}, a {reason} address; webhook_out only "
            "calls public addresses unless the connection sets allow_private_networks: true "
            "(do that only for a receiver you run on your own network)"
        )


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """True when ``allowed`` is empty or names ``host`` (``*.example.com`` covers subdomains)."""
    if not allowed:
        return True
    name = host.lower().rstrip(".")
    for entry in allowed:
        pattern = entry.lower().rstrip(".")
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and name != pattern[2:]:
                return True
        elif name == pattern:
            return True
    return False


async def system_lookup(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(
    host: str, port: int, *, allow_private: bool, lookup: Lookup | None = None
) -> list[IPAddress]:
    """Resolve ``host`` once and check every address; the list to connect to.

    Raises:
        UnsafeAddressError: any address is not public (and private ones are not allowed).
        TransientError: the name does not resolve right now.
    """
    literal = parse_ip(host)
    if literal is not None:
        check_address(literal, host, allow_private=allow_private)
        return [literal]
    try:
        raw = await (lookup or system_lookup)(host, port)
    except (OSError, UnicodeError) as exc:
        raise TransientError(
            f"cannot resolve the webhook host {host}: {exc}; check the URL and DNS"
        ) from exc
    addresses: list[IPAddress] = []
    for text in raw:
        ip = parse_ip(text)
        if ip is None:
            raise UnsafeAddressError(f"{host} resolved to {text!r}, which is not an IP address")
        check_address(ip, host, allow_private=allow_private)
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise TransientError(f"{host} resolved to no address; check the URL and DNS")
    return addresses


class PinnedResolver(AbstractResolver):
    """An aiohttp resolver that answers only for ``host``, with the addresses already checked."""

    def __init__(self, host: str, addresses: Sequence[IPAddress]) -> None:
        self._host = host.lower().rstrip(".")
        self._addresses = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower().rstrip(".") != self._host:
            raise OSError(f"{host} was not checked by the SSRF guard; refusing to resolve it")
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in self._addresses
        ]

    async def close(self) -> None:
        """Nothing to release."""


async def refuse_redirects(
    req: aiohttp.ClientRequest, handler: ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp client middleware: a 3xx answer raises ``RedirectRefused`` before it is followed.

    ``HttpClient.request`` cannot pass ``allow_redirects=False``, and a
    followed redirect could lead to an internal address, so the hop is stopped here.
    """
    resp = await handler(req)
    if 300 <= resp.status < 400:
        location = resp.headers.get("Location", "")
        resp.release()
        where = f" to {location}" if location else ""
        raise RedirectRefused(
            f"the webhook endpoint {req.url} redirects ({resp.status}){where}; webhooks do "
            "not follow redirects: configure the final URL on the connection",
            resp.status,
        )
    return resp


def pinned_session(
    host: str, addresses: Sequence[IPAddress], timeout: float, headers: dict[str, Any]
) -> aiohttp.ClientSession:
    """A client session that connects ``host`` to ``addresses`` only and never follows redirects."""
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(host, addresses), use_dns_cache=False, force_close=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers=headers,
        middlewares=(refuse_redirects,),
    )
