"""The operator's own HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``, and the
inbound W&B receiver — each on its own ``host:port`` (an empty address disables it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wbauto import telemetry


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


async def serve(address: str, routes: Sequence[web.RouteDef]) -> web.AppRunner | None:
    if not address:
        return None
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_address(address)
    await web.TCPSite(runner, host, port).start()
    return runner


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
