"""A minimal relay, the ceiling for a webhook relay on this machine: verify a W&B-signed event, sign the
body it forwards, post it to the sink. Nothing durable, no matching, no templates."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json

import aiohttp
from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    key = args.secret.encode()
    session: aiohttp.ClientSession | None = None

    async def relay(request: web.Request) -> web.Response:
        nonlocal session
        body = await request.read()
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("X-Wandb-Signature", "")):
            return web.Response(status=401)
        event = json.loads(body)
        out = json.dumps({"tag": event.get("tag"), "alias": event.get("alias")}).encode()
        if session is None:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        async with session.post(args.sink, data=out, headers={
                "Content-Type": "application/json",
                "X-Signature": hmac.new(key, out, hashlib.sha256).hexdigest()}) as response:
            await response.read()
        return web.Response(status=202)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def close(app: web.Application) -> None:
        if session is not None:
            await session.close()

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.post("/", relay)])
    app.on_cleanup.append(close)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
