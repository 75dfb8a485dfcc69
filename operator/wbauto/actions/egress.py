"""Egress guard: where outbound requests (webhooks, Slack) may go.

Decisions are made on exactly the host the HTTP client will connect to: the URL is parsed with yarl
(the parser aiohttp itself uses), whose IDNA / UTS-46 normalisation turns circled or fullwidth digits
and ideographic or fullwidth full stops into ASCII (``①②⑦.0.0.1`` becomes ``127.0.0.1``); a host is an
IP literal exactly when aiohttp treats it as one (its own ``is_ip_address``), and its address is what
libc's numeric parser (``AI_NUMERICHOST``) reads. A URL whose host changes kind under that
normalisation (written as a name, connected to as an address) is refused outright, whatever the policy.

Like W&B, URLs whose host is an IP literal (any form) or ``localhost`` are refused. On top, every name
is resolved and refused when any address is loopback, link-local (cloud metadata), private, unique-local,
shared (CGNAT), multicast, reserved or unspecified; the connection is then pinned to the checked address,
so DNS rebinding cannot swap it. Each redirect hop opens its connection through the same check. IPv6
addresses that embed an IPv4 address (mapped, compatible, 6to4, NAT64, Teredo) are judged by both.

``Policy.allow_private`` (operator setting) lets private targets through for tests, demos and
in-cluster receivers; cloud metadata endpoints (:data:`METADATA_NETWORKS`, every link-local address
included) stay refused unless listed in ``allow_cidrs``.

The decision functions are pure (:func:`check_url`, :func:`check_address`, :func:`decide`): tests
exercise them without opening a connection.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp.helpers import is_canonical_ipv4_address, is_ip_address
from yarl import URL

from wbauto.errors import WbautoError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal",
                            "instance-data", "instance-data.ec2.internal", "metadata.packet.net",
                            "metadata.tencentyun.com"})
METADATA_NETWORKS: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",      # link-local: AWS/GCP/Azure/OpenStack IMDS 169.254.169.254, ECS 169.254.170.2
    "fe80::/10",           # IPv6 link-local
    "fd00:ec2::254/128",   # AWS IMDS over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "192.0.0.192/32",      # Oracle Cloud metadata (legacy)
    "168.63.129.16/32",    # Azure WireServer
))
"""Cloud metadata endpoints: refused even when private targets are allowed."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")  # ASCII after IDNA encoding


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


def _numeric(host: str) -> Address | None:
    """The address libc's numeric parser gives ``host`` (what a socket would connect to), or None."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0])) if infos else None


def _legacy_literal(host: str) -> bool:
    """Whether the host as ``urllib`` sees it (ASCII only) is an IP literal in any form libc accepts."""
    h = host.strip("[]").rstrip(".")
    return bool(h) and h.isascii() and _numeric(h) is not None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = ip.packed
    if ip in _NAT64 or (packed[:12] == bytes(12) and int(ip) > 1):  # NAT64 well-known prefix, ::a.b.c.d
        return ipaddress.IPv4Address(packed[12:])
    return None


def parse(url: str) -> URL:
    """The URL exactly as aiohttp will use it; raises EgressDenied when it cannot be parsed."""
    try:
        parsed = URL(url)
        host = parsed.raw_host
        parsed.port  # noqa: B018 - yarl validates the port lazily
    except (ValueError, UnicodeError) as exc:
        raise EgressDenied(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise EgressDenied(f"scheme {parsed.scheme!r} is not allowed; use http or https")
    if not host:
        raise EgressDenied("URL has no host")
    return parsed


def check_url(url: str | URL, policy: Policy) -> URL:
    """The static part (no DNS): scheme, IP literals, localhost and metadata names, on the host the client
    connects to. Returns the parsed URL: pass that object to the client, so what was checked is what is
    used. Pure (libc's numeric parser is too): a URL string's answer is remembered, refusals are not."""
    return _allowed_url(url, policy) if isinstance(url, str) else _check_url(url, policy)


@functools.lru_cache(maxsize=4096)
def _allowed_url(url: str, policy: Policy) -> URL:
    return _check_url(url, policy)


def _check_url(url: str | URL, policy: Policy) -> URL:
    parsed = url if isinstance(url, URL) else parse(url)
    host = parsed.raw_host or ""
    written = host if isinstance(url, URL) else (urlsplit(url).hostname or "")
    if is_ip_address(host):
        if ":" not in host and not is_canonical_ipv4_address(host):
            raise EgressDenied(f"host {host} is not a canonical IP address (use a DNS name)")
        literal = _numeric(host)
        if literal is None:
            raise EgressDenied(f"host {host} looks like an IP address but is not a valid one")
        if not _legacy_literal(written):
            raise EgressDenied(f"host {written!r} is written as a name but connects to the IP address {literal}; "
                               "write the host in ASCII (punycode for international names)")
        if policy.explicitly_allowed(literal) or (policy.allow_private and not _is_metadata(literal)):
            check_address(literal, policy)
            return parsed
        raise EgressDenied(f"host {host} is an IP address; W&B refuses IP literals (SSRF protection): use a "
                           "DNS name, or allow private targets in the operator settings")
    if _legacy_literal(written):
        raise EgressDenied(f"host {written} is an IP address in a non-standard form; W&B refuses IP literals "
                           "(SSRF protection): use a DNS name")
    if not _DNS_NAME.fullmatch(host):
        raise EgressDenied(f"host {host!r} has characters a DNS name cannot have (percent-encoding, spaces, ...)")
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        if policy.allow_private:
            return parsed
        raise EgressDenied(f"host {name} is localhost; W&B refuses localhost (SSRF protection)")
    if name in METADATA_HOSTS:
        raise EgressDenied(f"host {name} is a cloud metadata endpoint")
    return parsed


def _is_metadata(ip: Address) -> bool:
    candidates: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (v4 := _embedded_ipv4(ip)) is not None:
        candidates.append(v4)
    return any(c.version == n.version and c in n for c in candidates for n in METADATA_NETWORKS)


def _kind(ip: Address) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_global:
        return None
    return "private" if ip.is_private else "reserved or shared"


def check_address(ip: Address, policy: Policy) -> None:
    """Refuse an address that is not a public unicast address (unless the policy allows it). An IPv6
    address embedding an IPv4 address must pass for both."""
    if policy.explicitly_allowed(ip):
        return
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded is not None and policy.explicitly_allowed(embedded):
        return
    if _is_metadata(ip):
        raise EgressDenied(f"address {ip} is a cloud metadata (link-local) address")
    for candidate in (ip, embedded):
        if candidate is None:
            continue
        kind = _kind(candidate)
        if kind is None or (policy.allow_private and kind not in ("multicast", "unspecified")):
            continue
        shown = f"{ip} (IPv4 {candidate})" if candidate is not ip else str(ip)
        raise EgressDenied(f"address {shown} is {kind}; only public addresses are allowed unless the operator "
                           "allows private targets")


def decide(url: str | URL, addresses: Sequence[str], policy: Policy) -> Address:
    """Check ``url`` and its resolved ``addresses``; return the address to pin the connection to.

    Every address must pass: a name that resolves to one public and one private address is refused.
    """
    parsed = check_url(url, policy)
    if not addresses:
        raise EgressDenied(f"{parsed.host} did not resolve to any address")
    checked = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
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
