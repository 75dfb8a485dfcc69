"""W&B API cost and event latency of the sources.

1. GraphQL requests per poll cycle with 1, 10, 100 and 1,000 Automations spread over 10 and 100
   scopes (projects with collections, versions and active runs): the count must not grow with the
   Automations, and grows with the scopes only per batch (one cycle reads every due project together).
2. Poll-path latency, "event created in the emulator" → "Event produced", p50/p99 at a poll interval
   (default 30 s, the operator's default; events land at random moments of the cycle).
3. Receiver-path latency, signed POST → Event produced (and its executions stored), p50/p99.

Run: ``python -m benchmarks.poll_cost [--interval 30] [--samples 20]``. Everything runs on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from wbauto.api.event import Event
from wbauto.api.manifests import Resource, parse
from wbauto.emulator.server import Emulator
from wbauto.sources.plan import plan
from wbauto.sources.poller import Pollers
from wbauto.wbapi.client import Client

API_KEY = "bench" + "0" * 35
EVENTS = ["artifactAliasAdded", "artifactTagAdded", "artifactVersionCreated", "runMetricThreshold",
          "runStateChanged"]


def automations(count: int, scopes: int) -> list[Resource]:
    out = []
    for i in range(count):
        project = f"project-{i % scopes}"
        kind = EVENTS[i % len(EVENTS)]
        scope: dict[str, Any] = {"project": {"entity": "acme", "project": project}}
        event: dict[str, Any] = {kind: {}}
        if kind == "artifactVersionCreated":
            scope = {"collection": {"entity": "acme", "project": project, "name": "model-0"}}
        elif kind == "runMetricThreshold":
            event = {kind: {"metric": f"loss-{i % 3}", "agg": "AVERAGE", "window": 5, "cmp": "$lt",
                            "threshold": 0.1 + i * 1e-6}}
        elif kind == "runStateChanged":
            event = {kind: {"states": ["FAILED"]}}
        doc = {"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "Automation",
               "metadata": {"name": f"a{i}", "namespace": "bench"},
               "spec": {"scope": scope, "event": event, "action": {"noOp": {}}}}
        res = parse(doc)
        assert isinstance(res, Resource), res
        out.append(res)
    return out


def seed(emu: Emulator, scopes: int) -> None:
    state = emu.state
    for p in range(scopes):
        project = f"project-{p}"
        state.create_project("acme", project)
        for c in range(3):
            for _ in range(4):
                state.log_artifact("acme", project, f"model-{c}", author="alice")
        for r in range(3):
            state.create_run("acme", project, run_id=f"run-{p}-{r}", display_name=f"train-{r}", user="alice")
            state.log_history("acme", project, f"run-{p}-{r}",
                              [{"loss-0": 1.0, "loss-1": 1.0, "loss-2": 1.0} for _ in range(5)])


async def requests_per_cycle(scopes: int) -> list[tuple[int, int, int, float]]:
    rows = []
    with Emulator(api_key=API_KEY) as emu:
        seed(emu, scopes)
        client = Client(emu.url, API_KEY)
        for count in (1, 10, 100, 1000):
            store = CursorStore()
            pollers = Pollers(client, store.load, store.save, store.emit)
            pollers.update(plan(automations(count, scopes)))
            await pollers.poll_once()  # baseline cycle
            before = client.requests
            started = time.perf_counter()
            await pollers.poll_once()
            rows.append((count, len(pollers.projects), client.requests - before, time.perf_counter() - started))
            await pollers.stop()
        await client.aclose()
    return rows


class CursorStore:
    """Cursors in memory; events dropped (only the request count matters here)."""

    def __init__(self) -> None:
        self.cursors: dict[str, Any] = {}

    async def load(self, key: str) -> dict[str, Any] | None:
        return self.cursors.get(key)

    async def save(self, key: str, data: dict[str, Any]) -> None:
        self.cursors[key] = data

    async def emit(self, events: list[Event]) -> None:
        return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def poll_latency(interval: float, samples: int) -> list[float]:
    """Runs the real Pollers scheduler; each event is made at a random moment of the cycle."""
    latencies: list[float] = []
    with Emulator(api_key=API_KEY) as emu:
        emu.state.create_project("acme", "p")
        emu.state.log_artifact("acme", "p", "m", author="alice")
        client = Client(emu.url, API_KEY)
        produced: dict[str, float] = {}
        cursors: dict[str, Any] = {}

        async def load(key: str) -> dict[str, Any] | None:
            return cursors.get(key)

        async def save(key: str, data: dict[str, Any]) -> None:
            cursors[key] = data

        async def emit(events: list[Event]) -> None:
            for e in events:
                produced.setdefault(e.tag, time.monotonic())

        pollers = Pollers(client, load, save, emit, interval=interval)
        pollers.update(plan([_tag_rule()]))
        pollers.begin()
        while pollers.cycles < 1:  # noqa: ASYNC110 - a benchmark probing a counter
            await asyncio.sleep(0.05)
        for i in range(samples):
            await asyncio.sleep(random.uniform(0, interval))
            tag = f"t{i}"
            made = time.monotonic()
            emu.state.add_tag("acme", "p", "m", "v0", tag)
            while tag not in produced:  # noqa: ASYNC110 - a benchmark probing a counter
                await asyncio.sleep(0.01)
            latencies.append(produced[tag] - made)
            # let the adaptive fast phase pass, so every sample sees the plain interval
            await asyncio.sleep(interval)
        await pollers.stop()
        await client.aclose()
    return latencies


def _tag_rule() -> Resource:
    res = parse({"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "Automation",
                 "metadata": {"name": "tags", "namespace": "bench"},
                 "spec": {"scope": {"project": {"entity": "acme", "project": "p"}},
                          "event": {"artifactTagAdded": {}}, "action": {"noOp": {}}}})
    assert isinstance(res, Resource)
    return res


async def receiver_latency(samples: int) -> list[float]:
    from tests.support.controlplane import free_port
    from tests.support.standalone import API_KEY as HARNESS_KEY
    from tests.support.standalone import Harness  # the standalone runtime, in-process

    latencies: list[float] = []
    secret = "bench-receiver-secret"
    with tempfile.TemporaryDirectory() as tmp, Emulator(api_key=HARNESS_KEY) as emu:
        emu.state.create_project("acme", "p")
        work = Path(tmp)
        (work / "sig").write_text(secret)
        port = free_port()
        docs = [{"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "SecretReference",
                 "metadata": {"name": "sig"}, "spec": {"file": {"path": str(work / "sig")}}},
                {"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "Automation", "metadata": {"name": "a"},
                 "spec": {"scope": {"project": {"entity": "acme", "project": "p"}},
                          "event": {"artifactAliasAdded": {}}, "action": {"noOp": {}}}}]
        harness = Harness(work, emu, docs, receiver_address=f"127.0.0.1:{port}",
                          receiver_secret_ref="default/sig")
        await harness.start(wait_first_poll=False)
        async with httpx.AsyncClient() as http:
            for i in range(samples):
                body = json.dumps({"event_type": "ADD_ARTIFACT_ALIAS", "entity_name": "acme", "project_name": "p",
                                   "artifact_collection_name": "m", "alias": f"a{i}",
                                   "artifact_version_string": "acme/p/m:v0"}).encode()
                signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
                started = time.perf_counter()
                response = await http.post(f"http://127.0.0.1:{port}/wandb/events", content=body,
                                           headers={"Content-Type": "application/json",
                                                    "X-Wandb-Signature": signature})
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 202, response.text
        await harness.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval for the latency run (s)")
    parser.add_argument("--samples", type=int, default=20, help="events for the poll latency run")
    parser.add_argument("--skip-poll-latency", action="store_true")
    args = parser.parse_args()

    for scopes in (10, 100):
        print(f"GraphQL requests per poll cycle ({scopes} scopes: 3 collections x 4 versions, 3 runs each)")
        print(f"{'automations':>12} {'projects':>9} {'requests/cycle':>15} {'cycle time (s)':>15}")
        for count, projects, requests, seconds in asyncio.run(requests_per_cycle(scopes)):
            print(f"{count:>12} {projects:>9} {requests:>15} {seconds:>15.3f}")
        print()
    print()
    receiver = asyncio.run(receiver_latency(200))
    print(f"receiver path (signed POST -> executions stored, 202): p50 {pct(receiver, 0.5) * 1000:.1f} ms, "
          f"p99 {pct(receiver, 0.99) * 1000:.1f} ms over {len(receiver)} events")
    if not args.skip_poll_latency:
        poll = asyncio.run(poll_latency(args.interval, args.samples))
        print(f"poll path at a {args.interval:g} s interval (event made -> Event produced): "
              f"p50 {pct(poll, 0.5):.2f} s, p99 {pct(poll, 0.99):.2f} s, mean {statistics.mean(poll):.2f} s "
              f"over {len(poll)} events")


if __name__ == "__main__":
    main()
