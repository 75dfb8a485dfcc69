"""Receiver fuzz (issue 12): ≥ 1,000 signed bodies per run — W&B-shaped payloads with hostile values and raw
bytes — over a real loopback socket. Every answer is 2xx or 4xx (never 5xx), every accepted event can be
stored as the stores store it, and the server keeps answering. Two runs: a fixed seed and one that
changes every day."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from wbauto.api.event import Event
from wbauto.runtime import http
from wbauto.sources.receiver import EVENT_TYPES, Receiver, ReceiverConfig

SECRET = "fuzz-receiver-secret"
EXAMPLES = 600  # per seed; two seeds
DAILY = int(datetime.date.today().strftime("%Y%m%d"))


class Server:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.accepted: list[Event] = []
        self.port = 0

    def start(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        async def resolve(namespace: str, name: str) -> str:
            return SECRET

        async def handle(event: Event) -> list[Any]:
            event.model_dump_json().encode("utf-8")  # what the stores do with it
            self.accepted.append(event)
            return []

        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.runner = await http.serve(f"127.0.0.1:{self.port}", Receiver(
            ReceiverConfig(("default", "s")), resolve, handle).routes())

    def stop(self) -> None:
        async def cleanup() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as c:
        yield c


hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["v\u00b2", "v99999999999999999999", "\ud800", "a\udfffb", "", " ", "acme/p/m:v1",
                     "wandb-artifact://_id/", "${event_type}", "\x00", "../../etc", "a" * 5000]),
)
scalar = st.one_of(hostile_text, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                     max_leaves=8)
payload = st.fixed_dictionaries({
    "event_type": st.one_of(st.sampled_from(sorted(EVENT_TYPES)), st.sampled_from(sorted(EVENT_TYPES)), value),
    "entity_name": st.one_of(st.text(min_size=1, max_size=20), value),
    "project_name": st.one_of(st.text(min_size=1, max_size=20), value)}, optional={
    key: st.one_of(hostile_text, hostile_text, value)  # mostly text, as W&B renders; any JSON value at times
    for key in ("event_author", "artifact_version", "artifact_version_string", "artifact_collection_name", "alias",
                "tag", "run_name", "run_id", "run_status")})


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["payload", "payload", "payload", "json", "bytes", "deep"]))
    if kind == "payload":
        return json.dumps(draw(payload)).encode()
    if kind == "json":
        return json.dumps(draw(value)).encode()
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        return b"[" * depth + b"]" * draw(st.integers(0, depth))
    return draw(st.binary(max_size=300))


def post(client: httpx.Client, body: bytes) -> int:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = client.post("/wandb/events", content=body,
                           headers={"Content-Type": "application/json", "X-Wandb-Signature": signature})
    return response.status_code


def check(client: httpx.Client, body: bytes) -> None:
    code = post(client, body)
    assert 200 <= code < 500, (code, body[:200])


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                              HealthCheck.too_slow])


@seed(1212)
@FUZZ
@given(body=bodies())
def test_receiver_fuzz_fixed_seed(client: httpx.Client, body: bytes) -> None:
    check(client, body)


@seed(DAILY)
@FUZZ
@given(body=bodies())
def test_receiver_fuzz_daily_seed(client: httpx.Client, body: bytes) -> None:
    check(client, body)


def test_the_server_still_answers_and_accepted_some(client: httpx.Client, server: Server) -> None:
    body = json.dumps({"event_type": "ADD_ARTIFACT_ALIAS", "entity_name": "acme", "project_name": "p",
                       "alias": "production", "artifact_version_string": "acme/p/m:v1"}).encode()
    assert post(client, body) == 202
    assert len(server.accepted) >= 50  # the fuzz reached the engine, not only the 4xx paths
