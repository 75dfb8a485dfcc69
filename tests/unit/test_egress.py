"""Egress guard decisions. Nothing here opens a connection to a refused address: the decision functions
are pure, and the transport test resolves names through a resolver seam and refuses before connecting."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from wbauto.actions import egress
from wbauto.actions.http import Outbound
from wbauto.errors import DeliveryError

DEFAULT = egress.Policy()
PRIVATE_OK = egress.Policy.build(allow_private=True)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook",           # IPv4 loopback literal
    "https://10.0.0.7/hook",            # private
    "https://[::1]/hook",               # IPv6 loopback literal
    "https://[fd00::1]/hook",           # unique local
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://2130706433/hook",           # decimal form of 127.0.0.1
    "http://0x7f000001/hook",           # hex form
    "http://0177.0.0.1/hook",           # octal form
    "http://127.1/hook",                # short form
    "https://8.8.8.8/hook",             # even public literals: W&B refuses IP literals
    "http://localhost:8080/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "ftp://files.example.com/",
])
def test_refused_urls(url: str) -> None:
    with pytest.raises(egress.EgressDenied):
        egress.check_url(url, DEFAULT)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "0.0.0.0", "::1", "fe80::1", "fd12:3456::1", "::", "100.64.0.1",
                                     "224.0.0.1", "::ffff:10.0.0.1"])
def test_refused_addresses(address: str) -> None:
    with pytest.raises(egress.EgressDenied):
        egress.decide("https://hooks.example.com/x", [address], DEFAULT)


def test_public_names_and_addresses_pass() -> None:
    pinned = egress.decide("https://hooks.example.com/x", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
                           DEFAULT)
    assert str(pinned) == "93.184.215.14"


def test_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(egress.EgressDenied, match="private"):
        egress.decide("https://hooks.example.com/x", ["93.184.215.14", "10.0.0.5"], DEFAULT)


def test_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(egress.EgressDenied, match="loopback"):
        egress.decide("https://innocent.example.com/", ["127.0.0.1"], DEFAULT)


def test_allow_private_lets_private_through_but_never_metadata() -> None:
    egress.check_url("https://10.0.0.5/x", PRIVATE_OK)
    egress.check_url("http://localhost:9000/x", PRIVATE_OK)
    egress.decide("https://svc.cluster.local/x", ["10.96.0.10"], PRIVATE_OK)
    with pytest.raises(egress.EgressDenied, match="link-local"):
        egress.decide("https://svc.cluster.local/x", ["169.254.169.254"], PRIVATE_OK)
    with pytest.raises(egress.EgressDenied):
        egress.check_url("http://169.254.169.254/", PRIVATE_OK)


def test_explicit_cidrs_are_allowed() -> None:
    policy = egress.Policy.build(allow_cidrs=["10.20.0.0/16"])
    egress.decide("https://receiver.team-a.svc/x", ["10.20.3.4"], policy)
    with pytest.raises(egress.EgressDenied):
        egress.decide("https://receiver.team-a.svc/x", ["10.21.3.4"], policy)


async def _server(routes: list[web.RouteDef]) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_a_name_rebound_to_a_private_address_is_refused_on_the_next_connection() -> None:
    """DNS rebinding across a redirect: the same name resolves to loopback (explicitly allowed), then to
    10.0.0.1 for the redirect's new connection — refused by the guard before connecting."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/again", headers={"Connection": "close"})

    runner, port = await _server([web.post("/hook", redirect)])
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    resolved: list[str] = []

    async def resolve(host: str, port_: int) -> list[str]:
        resolved.append(host)
        return answers.pop(0)

    outbound = Outbound(egress.Policy.build(allow_cidrs=["127.0.0.1/32"]), resolve)
    try:
        with pytest.raises(DeliveryError, match=r"egress denied: address 10\.0\.0\.1 is private") as caught:
            await outbound.post(f"http://receiver.example.com:{port}/hook", b"{}", {}, timeout=10)
        assert caught.value.retryable is False
    finally:
        await outbound.aclose()
        await runner.cleanup()
    assert resolved == ["receiver.example.com", "receiver.example.com"]


async def test_redirects_that_would_drop_the_body_fail_and_307_is_followed() -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def temporary(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/final")

    async def final(request: web.Request) -> web.Response:
        return web.Response(text=(await request.read()).decode())

    runner, port = await _server([web.post("/moved", moved), web.post("/temporary", temporary),
                                  web.post("/final", final)])
    outbound = Outbound(egress.Policy.build(allow_cidrs=["127.0.0.1/32"]))
    try:
        with pytest.raises(DeliveryError, match=r"HTTP 302: redirected to .*/elsewhere"):
            await outbound.post(f"http://127.0.0.1:{port}/moved", b"{}", {}, timeout=10)
        response = await outbound.post(f"http://127.0.0.1:{port}/temporary", b'{"kept": true}', {}, timeout=10)
        assert response.status == 200 and response.text == '{"kept": true}' and response.url.endswith("/final")
    finally:
        await outbound.aclose()
        await runner.cleanup()


async def test_connection_is_pinned_to_the_checked_address() -> None:
    """The name resolves once per connection; the connection goes to that address (a loopback server)."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=request.host)

    runner, port = await _server([web.post("/", ok)])
    calls = 0

    async def resolve(host: str, port_: int) -> list[str]:
        nonlocal calls
        calls += 1
        return ["127.0.0.1"]

    outbound = Outbound(egress.Policy.build(allow_cidrs=["127.0.0.0/8"]), resolve)
    try:
        response = await outbound.post(f"http://hooks.test.invalid:{port}/", b"", {}, timeout=10)
        assert response.text == f"hooks.test.invalid:{port}"  # the Host header keeps the name
    finally:
        await outbound.aclose()
        await runner.cleanup()
    assert calls == 1


async def test_whole_attempt_timeout() -> None:
    released = asyncio.Event()  # the endpoint answers only after the test: no server sleep to wait out

    async def slow(request: web.Request) -> web.Response:
        await released.wait()
        return web.Response()

    runner, port = await _server([web.post("/", slow)])
    outbound = Outbound(egress.Policy.build(allow_cidrs=["127.0.0.1/32"]))
    try:
        with pytest.raises(DeliveryError, match=r"timed out after 0\.3s") as caught:
            await outbound.post(f"http://127.0.0.1:{port}/", b"", {}, timeout=0.3)
        assert caught.value.retryable
    finally:
        released.set()
        await outbound.aclose()
        await runner.cleanup()


async def test_redirects_to_another_origin_are_refused() -> None:
    """The token and the signatures must not follow a redirect to another host or scheme."""

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(f"http://other.example.com:{request.url.port}/collect")

    runner, port = await _server([web.post("/hook", away)])

    async def resolve(host: str, port_: int) -> list[str]:
        return ["127.0.0.1"]

    outbound = Outbound(egress.Policy.build(allow_cidrs=["127.0.0.1/32"]), resolve)
    try:
        with pytest.raises(DeliveryError, match="redirected to another origin") as caught:
            await outbound.post(f"http://hooks.example.com:{port}/hook", b"{}", {"Authorization": "Bearer t"},
                                timeout=10)
        assert caught.value.retryable is False
    finally:
        await outbound.aclose()
        await runner.cleanup()
