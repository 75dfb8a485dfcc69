# ruff: noqa: RUF001 - the point of this file is ambiguous Unicode spellings
"""The egress guard against the HTTP client's own URL handling: ≥ 40 spellings of hosts, in both modes.

The reference is not ours: yarl (aiohttp's URL parser: IDNA / UTS-46 normalisation) says which host the
client connects to, aiohttp's ``is_ip_address`` says whether it treats it as an IP literal, and libc's
numeric parser (``getaddrinfo(AI_NUMERICHOST)``) says which address a literal denotes. A spelling the
guard lets through must lead to an address the policy allows. Only loopback is ever connected to: other
addresses are checked through the decision function alone.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata

import pytest
from aiohttp import web
from aiohttp.helpers import is_ip_address
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from wbauto.actions import egress
from wbauto.actions.http import Outbound
from wbauto.errors import DeliveryError

DEFAULT = egress.Policy()
PRIVATE = egress.Policy.build(allow_private=True)

# (spelling of the host part, refused by default, refused with private targets allowed)
TABLE: list[tuple[str, bool, bool]] = [
    ("127.0.0.1", True, False),
    ("2130706433", True, True),                 # decimal
    ("0x7f000001", True, True),                 # hex
    ("0x7f.0.0.1", True, True),                 # mixed hex
    ("0177.0.0.1", True, True),                 # octal
    ("0177.0.0.01", True, True),                # octal parts
    ("127.1", True, True),                      # short form
    ("127.0.1", True, True),                    # short form
    ("127.0.0.1.", True, True),                 # trailing dot
    ("127.000.000.001", True, True),            # zero padded
    ("[::1]", True, False),                     # IPv6 loopback
    ("[0:0:0:0:0:0:0:1]", True, False),         # long form
    ("[::ffff:127.0.0.1]", True, False),        # IPv4-mapped
    ("[::ffff:7f00:1]", True, False),           # IPv4-mapped, hex
    ("[::127.0.0.1]", True, False),             # IPv4-compatible
    ("[::ffff:169.254.169.254]", True, True),   # mapped metadata
    ("[::169.254.169.254]", True, True),        # compatible metadata
    ("[64:ff9b::a9fe:a9fe]", True, True),       # NAT64 metadata
    ("[2002:a9fe:a9fe::]", True, True),         # 6to4 metadata
    ("[fe80::1%25eth0]", True, True),           # zone id
    ("[fe80::1]", True, True),                  # link-local
    ("[fd00:ec2::254]", True, True),            # AWS IPv6 IMDS
    ("169.254.169.254", True, True),            # IMDS
    ("169.254.170.2", True, True),              # ECS task metadata
    ("100.100.100.200", True, True),            # Alibaba metadata
    ("168.63.129.16", True, True),              # Azure WireServer
    ("0.0.0.0", True, True),                    # unspecified
    ("0", True, True),                          # unspecified, short
    ("[::]", True, True),                       # unspecified IPv6
    ("224.0.0.1", True, True),                  # multicast
    ("10.0.0.1", True, False),                  # private
    ("①②⑦.0.0.1", True, True),                  # circled digits → 127.0.0.1
    ("１２７．０．０．１", True, True),              # fullwidth digits and dots
    ("127。0。0。1", True, True),                  # ideographic full stop
    ("127．0．0．1", True, True),                  # fullwidth full stop
    ("127｡0｡0｡1", True, True),                  # halfwidth ideographic full stop
    ("①⑥⑨.②⑤④.①⑥⑨.②⑤④", True, True),          # circled → 169.254.169.254
    ("１６９．２５４．１６９．２５４", True, True),      # fullwidth → metadata
    ("%31%32%37.0.0.1", True, True),            # percent-encoded digits
    ("a@127.0.0.1", True, False),               # userinfo: the host is what counts
    ("127.0.0.1\\@hooks.example.com", True, True),  # backslash in the authority
    ("localhost", True, False),
    ("LOCALHOST.", True, False),
    ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", True, False),             # circled letters → localhost
    ("ｌｏｃａｌｈｏｓｔ", True, False),            # fullwidth letters → localhost
    ("api.localhost", True, False),
    ("metadata.google.internal", True, True),
    ("ｍｅｔａｄａｔａ.google.internal", True, True),  # fullwidth → metadata name
    ("[127.0.0.1]", True, True),                # bracketed IPv4: not a valid URL
    ("8.8.8.8", True, False),                   # public literal: W&B refuses IP literals
    ("hooks.example.com", False, False),        # a name: the resolver decides
    ("ＨＯＯＫＳ.example.com", False, False),      # fullwidth letters → the same name
    ("bücher.example", False, False),           # an IDN name
]


def _decision(host: str, policy: egress.Policy) -> bool:
    """True when the guard refuses ``http://<host>:8080/hook`` before any DNS."""
    try:
        egress.check_url(f"http://{host}:8080/hook", policy)
    except egress.EgressDenied:
        return True
    return False


@pytest.mark.parametrize(("host", "refused_default", "refused_private"), TABLE, ids=[t[0] for t in TABLE])
def test_spelling_table(host: str, refused_default: bool, refused_private: bool) -> None:
    assert _decision(host, DEFAULT) is refused_default
    assert _decision(host, PRIVATE) is refused_private


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 40


def _client_target(url: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address aiohttp connects to for an IP-literal host, by the client's own parsing; None for names."""
    host = URL(url).raw_host or ""
    if not is_ip_address(host):
        return None
    info = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    return ipaddress.ip_address(str(info[0][4][0]))


_DIGITS = {d: [c for c in map(chr, range(0x10FFFF)) if unicodedata.digit(c, None) == d
               and unicodedata.normalize("NFKC", c) == str(d)] for d in range(10)}
_DOTS = [".", "．", "。", "｡"]


def _spell(address: str, draw: st.DrawFn) -> str:
    out = []
    for ch in address:
        if ch.isdigit():
            out.append(draw(st.sampled_from([ch, *_DIGITS[int(ch)]])))
        else:
            out.append(draw(st.sampled_from(_DOTS)))
    return "".join(out)


@st.composite
def unicode_spellings(draw: st.DrawFn) -> str:
    return _spell(draw(st.sampled_from(["127.0.0.1", "169.254.169.254", "10.0.0.1", "100.100.100.200"])), draw)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(unicode_spellings())
def test_no_unicode_spelling_reaches_an_address_the_policy_refuses(host: str) -> None:
    """Whatever the mix of Unicode digits and dots, an allowed URL only leads where the policy allows."""
    url = f"http://{host}:8080/hook"
    for policy in (DEFAULT, PRIVATE):
        refused = _decision(host, policy)
        try:
            target = _client_target(url)
        except (ValueError, OSError):
            continue  # the client itself cannot use this URL
        if target is None:
            continue
        if not refused:
            egress.check_address(target, policy)  # raises if the guard let through a refused address
            assert host.isascii(), f"{host!r} changes kind under normalisation but was allowed"


async def _server() -> tuple[web.AppRunner, int, list[str]]:
    seen: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request.host)
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.post("/hook", hook)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], seen  # type: ignore[union-attr]


LOOPBACK_SPELLINGS = [h for h, _, _ in TABLE if h.strip("[]") in ("127.0.0.1",) or "①②⑦" in h or "１２７" in h
                      or h.startswith("127")]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_loopback_spellings_never_connect_by_default(host: str) -> None:
    """The only real connections in this file: loopback spellings, refused before connecting by default;
    with private targets allowed only the plain ASCII spelling arrives."""
    runner, port, seen = await _server()
    try:
        for policy, may_arrive in ((DEFAULT, False), (PRIVATE, host == "127.0.0.1")):
            outbound = Outbound(policy)
            try:
                await outbound.post(f"http://{host}:{port}/hook", b"{}", {}, timeout=5)
                arrived = True
            except DeliveryError as exc:
                assert exc.retryable is False
                arrived = False
            finally:
                await outbound.aclose()
            assert arrived is may_arrive
            assert len(seen) == int(may_arrive)
            seen.clear()
    finally:
        await runner.cleanup()
