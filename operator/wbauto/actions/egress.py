"""Egress guard: where outbound requests (webhooks, Slack) may go.

Like W&B, URLs whose host is an IP literal (any form: dotted, decimal, hex, octal, IPv6) or
``localhost`` are refused. On top, every name is resolved and refused when any address is loopback,
link-local (cloud metadata), private, unique-local, shared (CGNAT), multicast, reserved or unspecified;
the connection is then pinned to the checked address, so DNS rebinding cannot swap it. Each redirect
hop opens its connection through the same check.

``Policy.allow_private`` (operator setting) lets private targets through for tests, demos and
in-cluster receivers; link-local (metadata) addresses stay refused unless listed in ``allow_cidrs``.

The decision functions are pure (:func:`check_url`, :func:`check_address`, :func:`decide`): tests
exercise them without opening a connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wbauto.errors import WbautoError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal",
                            "instance-data", "instance-data.ec2.internal"})


class EgressDenied(WbautoError):
    """Raised when a URL or a resolved address is not an allowed outbound target."""


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False
    allow_cidrs: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, allow_private: bool = False, allow_cidrs: Iterable[str] = ()) -> Policy:
        return cls(allow_private, tuple(ipaddress.ip_network(c, strict=False) for c in allow_cidrs))

    def explicitly_allowed(self, ip: Address) -> bool:
        return any(ip.version == n.version and ip in n for n in self.allow_cidrs)


def _ip_literal(host: str) -> Address | None:
    """The address a host string denotes literally, in any form libc accepts (127.1, 0x7f.1, 2130706433)."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(h))
    except OSError:
        return None


def check_url(url: str, policy: Policy) -> None:
    """The static part (no DNS): scheme, IP literals, localhost and metadata names."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise EgressDenied(f"scheme {parts.scheme!r} is not allowed; use http or https")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise EgressDenied("URL has no host")
    literal = _ip_literal(host)
    if literal is not None:
        if policy.explicitly_allowed(literal) or (policy.allow_private and not literal.is_link_local):
            return
        raise EgressDenied(f"host {host} is an IP address; W&B refuses IP literals (SSRF protection): use a "
                           "DNS name, or allow private targets in the operator settings")
    if host == "localhost" or host.endswith(".localhost"):
        if policy.allow_private:
            return
        raise EgressDenied(f"host {host} is localhost; W&B refuses localhost (SSRF protection)")
    if host in METADATA_HOSTS:
        raise EgressDenied(f"host {host} is a cloud metadata endpoint")


def check_address(ip: Address, policy: Policy) -> None:
    """Refuse an address that is not a public unicast address (unless the policy allows it)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if policy.explicitly_allowed(ip):
        return
    if ip.is_link_local:
        raise EgressDenied(f"address {ip} is link-local (cloud metadata range)")
    if ip.is_global and not ip.is_multicast:
        return
    if policy.allow_private and not (ip.is_multicast or ip.is_unspecified):
        return
    kind = ("loopback" if ip.is_loopback else "unspecified" if ip.is_unspecified else
            "multicast" if ip.is_multicast else "private" if ip.is_private else "reserved or shared")
    raise EgressDenied(f"address {ip} is {kind}; only public addresses are allowed unless the operator "
                       "allows private targets")


def decide(url: str, addresses: Sequence[str], policy: Policy) -> Address:
    """Check ``url`` and its resolved ``addresses``; return the address to pin the connection to.

    Every address must pass: a name that resolves to one public and one private address is refused.
    """
    check_url(url, policy)
    if not addresses:
        raise EgressDenied(f"{urlsplit(url).hostname} did not resolve to any address")
    checked = [ipaddress.ip_address(a) for a in addresses]
    for ip in checked:
        check_address(ip, policy)
    return checked[0]


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen
