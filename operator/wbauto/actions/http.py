"""Outbound HTTP for actions (webhooks, Slack), behind the egress guard.

aiohttp with a resolver that checks every address a name resolves to and returns only the checked one,
so the connection is pinned to it (no DNS rebinding); IP-literal hosts, which aiohttp never resolves,
are checked before each request. Redirects: 307/308 to the same origin are followed (method and body kept, every hop
checked again, at most 5); a redirect to another origin is refused (the token and signatures must not
travel there), and 301/302/303 would turn the POST into a GET: both are reported as failures.
The whole attempt — connect, send, response — is bounded by one timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from wbauto.actions import egress
from wbauto.errors import DeliveryError
from wbauto.redact import scrub

MAX_REDIRECTS = 5
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]
    text: str
    url: str


class GuardedResolver(AbstractResolver):
    def __init__(self, policy: egress.Policy, resolve: egress.Resolve) -> None:
        self._policy = policy
        self._resolve = resolve

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        pinned = egress.decide(f"http://{host}/", addresses, self._policy)
        return [ResolveResult(hostname=host, host=str(pinned), port=port,
                              family=socket.AF_INET6 if pinned.version == 6 else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@dataclass
class Outbound:
    """One aiohttp session per CA bundle; create once per process, ``aclose()`` at shutdown."""

    policy: egress.Policy
    resolve: egress.Resolve = egress.system_resolve
    _sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)

    def _session(self, ca_bundle: str | None) -> aiohttp.ClientSession:
        key = hashlib.sha256(ca_bundle.encode()).hexdigest() if ca_bundle else ""
        session = self._sessions.get(key)
        if session is None:
            context = ssl.create_default_context(cadata=ca_bundle) if ca_bundle else ssl.create_default_context()
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy, self.resolve), ssl=context,
                                             limit=256, limit_per_host=64, use_dns_cache=False)
            # no aiohttp timeout (its default is 5 minutes): post() bounds the whole attempt itself, and a
            # second timer per request costs more than the rest of the client's bookkeeping
            session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                            headers={"User-Agent": "wbauto"}, timeout=aiohttp.ClientTimeout())
            self._sessions[key] = session
        return session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float,
                   ca_bundle: str | None = None) -> Response:
        """POST once (following method-preserving redirects); raises DeliveryError on transport failures."""
        session = self._session(ca_bundle)
        try:
            target = egress.check_url(url, self.policy)  # the parsed URL is what aiohttp connects to
            async with asyncio.timeout(timeout):
                for _ in range(MAX_REDIRECTS + 1):
                    async with session.post(target, data=body, headers=dict(headers), allow_redirects=False) as r:
                        if r.status in (307, 308) and "Location" in r.headers:
                            hop = egress.check_url(_join(target, r.headers["Location"]), self.policy)
                            if hop.origin() != target.origin():
                                raise DeliveryError(
                                    f"HTTP {r.status}: redirected to another origin ({hop.origin()}); "
                                    "credentials are not sent there: update the URL", retryable=False,
                                    status_code=r.status)
                            target = hop
                            continue
                        if r.status in (301, 302, 303):
                            where = _join(target, r.headers.get("Location", ""))
                            raise DeliveryError(
                                f"HTTP {r.status}: redirected to {where.host}{where.path}; a redirect would turn "
                                "the POST into a GET: update the URL", retryable=False, status_code=r.status)
                        text = (await _read(r, MAX_BODY)).decode("utf-8", "replace")
                        return Response(r.status, r.reason or "", dict(r.headers), text, str(target))
                raise DeliveryError(f"more than {MAX_REDIRECTS} redirects", retryable=False)
        except egress.EgressDenied as exc:
            raise DeliveryError(f"egress denied: {exc}", retryable=False) from exc
        except TimeoutError as exc:
            raise DeliveryError(f"timed out after {timeout:g}s", retryable=True) from exc
        except aiohttp.ClientError as exc:
            cause: Any = exc.__cause__ or exc
            if isinstance(cause, egress.EgressDenied):
                raise DeliveryError(f"egress denied: {cause}", retryable=False) from exc
            raise DeliveryError(f"connection failed: {scrub(str(exc)) or type(exc).__name__}", retryable=True) from exc

    async def aclose(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def _join(base: URL, location: str) -> URL:
    """A redirect's target; an unparsable Location is an egress refusal, not a crash."""
    try:
        return base.join(URL(location))
    except (ValueError, UnicodeError) as exc:
        raise egress.EgressDenied(f"redirect Location is not a valid URL: {exc}") from None


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (a huge answer is not buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
