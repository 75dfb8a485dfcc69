"""``wbauto demo``: the whole path on one machine, no cluster and no W&B account, in seconds.

It starts the W&B emulator, a loopback receiver that verifies signatures on its own (plain ``hmac``),
and the standalone engine on ``examples/01-production-alias-webhook`` — the SecretReference switched
to an environment variable and the Webhook pointed at the receiver. Then it adds the ``production``
alias to a model version in the emulator and prints what the receiver got and the execution history.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from wbauto import logs
from wbauto.api import kinds
from wbauto.api.execution import Phase
from wbauto.cli.common import history_table
from wbauto.emulator import require_graphql
from wbauto.runtime.settings import Settings
from wbauto.runtime.standalone.runtime import Standalone

EXAMPLE = "01-production-alias-webhook"
SIGNING_ENV = "WBAUTO_DEMO_SIGNING_KEY"
ENTITY, PROJECT, COLLECTION = "acme", "fraud-detection", "fraud-model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--example", type=Path, metavar="DIR",
                        help=f"the example folder (default: examples/{EXAMPLE} of this checkout)")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")


def find_example(given: Path | None) -> Path:
    if given is not None:
        return given
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples" / EXAMPLE
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"error: examples/{EXAMPLE} not found; run from a checkout or pass --example DIR")


def prepare(example: Path, target: Path, receiver_url: str) -> tuple[str, str]:
    """Copy the example's wbauto documents, switched to the demo's secret and receiver.
    Returns (automation name, namespace)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(example.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    ours = [d for d in docs if str(d.get("apiVersion", "")).startswith(kinds.GROUP)]
    automation = next(d for d in ours if d["kind"] == kinds.AUTOMATION.kind)
    for doc in ours:
        if doc["kind"] == kinds.SECRET_REFERENCE.kind:
            doc["spec"] = {"env": {"name": SIGNING_ENV}}
        elif doc["kind"] == kinds.WEBHOOK.kind:
            doc["spec"]["url"] = receiver_url
    (target / "manifests.yaml").write_text(yaml.safe_dump_all(ours, sort_keys=False))
    return automation["metadata"]["name"], automation["metadata"].get("namespace", "default")


@dataclasses.dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


class LoopbackReceiver:
    """Records POSTs and checks X-Wandb-Signature independently of wbauto's own code."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        verified = hmac.compare_digest(expected, request.headers.get("X-Wandb-Signature", ""))
        self.deliveries.append(Delivery(request.path, dict(request.headers), body, verified, time.monotonic()))
        self.arrived.set()
        return web.json_response({"received": True}, status=200 if verified else 401)

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.post("/hooks/wandb", self.handle)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hooks/wandb"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def demo(example: Path, timeout: float) -> int:
    require_graphql("demo")
    from wbauto.emulator.server import Emulator

    signing_key = secrets.token_urlsafe(24)
    api_key = secrets.token_hex(20)
    os.environ[SIGNING_ENV] = signing_key
    with tempfile.TemporaryDirectory(prefix="wbauto-demo-") as tmp, Emulator(api_key=api_key) as emulator:
        work = Path(tmp)
        state = emulator.state
        state.create_project(ENTITY, PROJECT)
        for accuracy in (0.91, 0.94):
            state.log_artifact(ENTITY, PROJECT, COLLECTION, type="model", author="alice",
                               metadata={"accuracy": accuracy, "framework": "pytorch"})
        receiver = LoopbackReceiver(signing_key)
        await receiver.start()
        name, namespace = prepare(example, work, receiver.url)
        (work / "api-key").write_text(api_key)
        settings = Settings(allow_cidrs=("127.0.0.1/32",), wandb_base_url=emulator.url, poll_interval=0.5,
                            wandb_api_key_file=str(work / "api-key"), metrics_address="", health_address="",
                            workers=4)
        engine = Standalone(settings, work, work / "state.sqlite")
        print("wbauto demo — W&B Automations without a cluster or a W&B account\n")
        print(f"  W&B emulator      {emulator.url}  ({ENTITY}/{PROJECT}, collection {COLLECTION} v0, v1)")
        print(f"  receiver          {receiver.url}  (verifies X-Wandb-Signature itself)")
        print(f"  engine            standalone on {example} (SecretReference → ${SIGNING_ENV}, "
              "Webhook → the receiver)")
        try:
            await engine.start()
            await engine.wait_ready(timeout)
            auto_key = (kinds.AUTOMATION.kind, namespace, name)
            ready = next(c for c in engine.world.bodies[auto_key]["status"]["conditions"] if c["type"] == "Ready")
            print(f"  Automation        {namespace}/{name}: Ready={ready['status']} ({ready['message']})")
            pollers = engine.engine.pollers
            assert pollers is not None
            await wait_for(lambda: pollers.cycles >= 1, timeout, "the first poll of W&B")
            change = state.add_alias(ENTITY, PROJECT, COLLECTION, "v1", "production", author="alice")
            started = time.monotonic()
            print(f"\n  W&B event         alias 'production' added to {ENTITY}/{PROJECT}/{COLLECTION}:"
                  f"{change.version} by alice\n")
            await asyncio.wait_for(receiver.arrived.wait(), timeout)
            await wait_for(lambda: not engine.engine.dispatcher.records, timeout, "the execution to finish")
            records = await engine.store.history(limit=10)
        finally:
            await engine.stop()
            await receiver.stop()
    delivery = receiver.deliveries[0]
    show(delivery, delivery.at - started, signing_key)
    print("Execution history (wbauto history)\n")
    print("  " + history_table(records).replace("\n", "\n  "))
    finished = bool(records) and records[0].status.phase is Phase.FINISHED
    print("""
Where to go next
  wbauto render -f examples/01-production-alias-webhook      preview a payload
  wbauto validate examples/                                   the admission checks, offline (PR CI)
  wbauto run --manifests DIR                                  the standalone engine on your own folder
  helm install wbauto charts/wbauto -n wbauto --create-namespace   the operator on a cluster (README)""")
    return 0 if delivery.verified and finished else 1


def show(delivery: Delivery, latency: float, secret: str) -> None:
    print("Delivered request")
    print(f"  POST {delivery.path}")
    for header in ("Content-Type", "X-Wandb-Signature", "X-Wbauto-Delivery", "X-Wbauto-Timestamp", "User-Agent"):
        value = delivery.headers.get(header)
        if value is not None:
            note = ("   ✔ verified: base64(HMAC-SHA256(secret, body))" if delivery.verified else "   ✘ NOT verified") \
                if header == "X-Wandb-Signature" else ""
            print(f"  {header}: {value}{note}")
    print()
    print("  " + json.dumps(json.loads(delivery.body), indent=2).replace("\n", "\n  "))
    print(f"\n  event → delivery: {latency * 1000:.0f} ms (poll interval 0.5 s)")
    print("\n  Check the signature yourself:")
    print(f"  printf '%s' {shlex.quote(delivery.body.decode())} \\\n"
          f"    | openssl dgst -sha256 -hmac {shlex.quote(secret)} -binary | base64\n")


def main(args: argparse.Namespace) -> int:
    logs.setup("error", "text")  # the demo prints what matters; transient start-up states are noise here
    logging.getLogger("wbauto").setLevel(logging.ERROR)
    return asyncio.run(demo(find_example(args.example), args.timeout))
