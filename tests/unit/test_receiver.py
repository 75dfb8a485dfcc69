"""The inbound receiver over real loopback sockets: bodies split across writes, hostile bodies, replays,
and connections that never finish their headers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from wbauto.api.event import Event
from wbauto.runtime import http
from wbauto.sources import receiver as receiver_mod
from wbauto.sources.receiver import Receiver, ReceiverConfig

SECRET = "receiver-unit-secret"


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def payload(**overrides: Any) -> dict[str, Any]:
    doc = {"event_type": "ADD_ARTIFACT_ALIAS", "event_author": "alice", "entity_name": "acme",
           "project_name": "fraud", "artifact_version": "wandb-artifact://_id/QXJ0aWZhY3Q6OQ==",
           "artifact_version_string": "acme/fraud/fraud-model:production",
           "artifact_collection_name": "fraud-model", "alias": "production"}
    doc.update(overrides)
    return doc


class Served:
    def __init__(self, port: int, events: list[Event], receiver: Receiver, clock: list[float]) -> None:
        self.port = port
        self.events = events
        self.receiver = receiver
        self.clock = clock  # the receiver's now(), in unix seconds: a test may move it

    async def raw(self, *pieces: bytes, pause: float = 0.05) -> tuple[int, dict[str, Any]]:
        """Send a request in pieces over one connection; return the status and the JSON answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(pause)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            return status, json.loads(await reader.readexactly(length))
        finally:
            writer.close()

    async def post(self, body: bytes, *, split: int = 1, headers: dict[str, str] | None = None,
                   ) -> tuple[int, dict[str, Any]]:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {"X-Wandb-Signature": sign(body)}).items())
        head = (f"POST /wandb/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode()
        size = max(1, -(-len(body) // split))
        return await self.raw(head, *(body[i:i + size] for i in range(0, len(body), size)))


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    events: list[Event] = []

    async def resolve(namespace: str, name: str) -> str:
        return SECRET

    async def handle(event: Event) -> list[Any]:
        events.append(event)
        return [event]

    clock = [time.time()]
    receiver = Receiver(ReceiverConfig(("default", "inbound")), resolve, handle, now=lambda: clock[0])
    port = _free_port()
    runner = await http.serve(f"127.0.0.1:{port}", receiver.routes(), header_timeout=0.5, idle_timeout=1.0)
    assert runner is not None
    try:
        yield Served(port, events, receiver, clock)
    finally:
        await runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_body_split_across_writes_is_verified_whole(served: Served) -> None:
    body = json.dumps(payload()).encode()
    assert len(body) > 150
    status, answer = await served.post(body, split=2)
    assert status == 202, answer
    status, answer = await served.post(body, split=7)
    assert status == 202, answer
    assert [e.id for e in served.events] == [served.events[0].id] * 2  # the same body is the same event


async def test_a_large_body_in_one_write_is_verified_whole(served: Served) -> None:
    body = json.dumps(payload(padding="x" * 300_000)).encode()
    status, answer = await served.post(body)
    assert status == 202, answer


@pytest.mark.parametrize(("body", "code"), [
    (b"[" * 100_000 + b"]" * 100_000, 400),                     # 100k-deep JSON
    (json.dumps(payload(alias="\ud800")).encode(), 400),       # a lone surrogate escape
    (json.dumps(payload(artifact_version_string="acme/fraud/fraud-model:v\u00b2")).encode(), 202),  # v²
    (json.dumps(payload(event_type={"x": 1})).encode(), 422),
    (json.dumps(payload(project_name=5, artifact_version_string="acme/5/m:v1")).encode(), 202),  # bare number
    (json.dumps(payload(entity_name=["a"])).encode(), 422),     # W&B renders text, never an array
    (b'{"event_type": "ADD_ARTIFACT_ALIAS"' + b" " * 10, 400),  # truncated
])
async def test_hostile_bodies_get_4xx_never_5xx(served: Served, body: bytes, code: int) -> None:
    status, _ = await served.post(body)
    assert status == code


async def test_a_replay_much_later_is_the_same_event(served: Served) -> None:
    """The id depends on the body only: a replay after 10 minutes or 3 hours maps to the same event."""
    body = json.dumps(payload()).encode()
    for later in (0.0, 600.0, 3 * 3600.0):
        served.clock[0] += later
        assert (await served.post(body))[0] == 202
    assert len({e.id for e in served.events}) == 1


async def test_signed_timestamps_bound_replays(served: Served) -> None:
    body = json.dumps(payload()).encode()
    now = int(time.time())

    def headers(stamp: int, delivery: str = "d-1") -> dict[str, str]:
        bound = "v1=" + base64.b64encode(hmac.new(SECRET.encode(), f"{delivery}.{stamp}.".encode() + body,
                                                  hashlib.sha256).digest()).decode()
        return {"X-Wandb-Signature": sign(body), "X-Wbauto-Timestamp": str(stamp), "X-Wbauto-Delivery": delivery,
                "X-Wbauto-Signature": bound}

    assert (await served.post(body, headers=headers(now)))[0] == 202
    status, answer = await served.post(body, headers=headers(now - 3 * 3600))
    assert status == 401 and "stale" in answer["message"]
    forged = {**headers(now), "X-Wbauto-Timestamp": str(now + 1)}
    assert (await served.post(body, headers=forged))[0] == 401
    assert (await served.post(body, headers=headers(now, "d-2")))[0] == 202
    assert len({e.id for e in served.events}) == 2  # one event per delivery id


@pytest.mark.parametrize("first", [b"", b"POST /wandb/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"])
async def test_connections_without_complete_headers_are_closed(served: Served, first: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    started = time.monotonic()
    try:
        if first:
            writer.write(first)
            await writer.drain()
        async with asyncio.timeout(10):
            assert await reader.read() == b""  # EOF: the server closed it
    finally:
        writer.close()
    assert time.monotonic() - started < 5


async def test_a_body_that_never_finishes_is_refused(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_mod, "BODY_TIMEOUT", 0.3)
    head = (b"POST /wandb/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\nX-Wandb-Signature: x\r\n\r\n{")
    status, _ = await served.raw(head)
    assert status == 408


def test_routes_are_plain_aiohttp() -> None:
    assert all(isinstance(r, web.RouteDef) for r in Receiver(ReceiverConfig(("a", "b")), _no, _none).routes())


async def _no(namespace: str, name: str) -> str:
    return ""


async def _none(event: Event) -> list[Any]:
    return []
