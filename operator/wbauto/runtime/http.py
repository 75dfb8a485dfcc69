"""The operator's own HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``, and the
inbound W&B receiver — each on its own ``host:port`` (an empty address disables it).

Connections are bounded in time: one that has not delivered a request's headers within
``header_timeout`` seconds of connecting is closed (aiohttp has no such limit of its own: a client that
connects and sends nothing, or half a header, would hold a connection forever), and an idle keep-alive
connection is closed after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wbauto import telemetry

HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


async def serve(address: str, routes: Sequence[web.RouteDef], *, header_timeout: float = HEADER_TIMEOUT,
                idle_timeout: float = IDLE_TIMEOUT) -> web.AppRunner | None:
    if not address:
        return None
    served: set[RequestHandler] = set()  # open connections that sent a request (the reaper prunes it)

    @web.middleware
    async def note(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                   ) -> web.StreamResponse:
        if isinstance(request.protocol, RequestHandler):
            served.add(request.protocol)
        return await handler(request)

    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[note])
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=idle_timeout)

    async def reap(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_reap(runner, served, header_timeout), name="wbauto-http-reaper")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(reap)
    await runner.setup()
    host, port = split_address(address)
    await web.TCPSite(runner, host, port).start()
    return runner


async def _reap(runner: web.AppRunner, served: set[RequestHandler], header_timeout: float) -> None:
    """Close connections that sent no complete request headers within ``header_timeout`` of connecting."""
    loop = asyncio.get_running_loop()
    first_seen: dict[RequestHandler, float] = {}
    while True:
        await asyncio.sleep(min(1.0, header_timeout / 4))
        server = runner.server
        if server is None:
            continue
        now = loop.time()
        open_now = set(server.connections)
        served &= open_now
        first_seen = {h: t for h, t in first_seen.items() if h in open_now}
        for handler in open_now - served:
            if now - first_seen.setdefault(handler, now) >= header_timeout:
                handler.force_close()


def metrics_routes() -> list[web.RouteDef]:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(telemetry.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/metrics", metrics)]


def health_routes(ready: Callable[[], tuple[bool, str]]) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        ok, message = ready()
        return web.json_response({"status": "ok" if ok else "not ready", "message": message},
                                 status=200 if ok else 503)

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
