"""A loopback webhook sink for benchmarks, run as its own process: records (key, arrival time) of every
POST (key = the body's ``tag`` for wbauto, ``message`` for Flux) and serves them on ``GET /stats``."""

from __future__ import annotations

import argparse
import json
import time

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    arrivals: list[tuple[str, float, str]] = []

    async def post(request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        try:
            doc = json.loads(body)
        except ValueError:
            return web.Response(status=400)
        key = str(doc.get("tag") or doc.get("message") or "")
        delivery = request.headers.get("X-Wbauto-Delivery", "")
        arrivals.append((key, at, delivery))
        return web.Response(status=200, text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def reset(request: web.Request) -> web.Response:
        arrivals.clear()
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes([web.get("/stats", stats), web.delete("/stats", reset), web.post("/{tail:.*}", post)])
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
