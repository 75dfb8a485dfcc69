"""Events → signed webhooks delivered to a loopback sink, side by side with Flux's notification-controller.

wbauto: the standalone runtime (durable: every execution is stored in SQLite before its delivery) as its
own process with 1,000 Automations loaded; events enter through its inbound receiver (signed W&B
payloads), each matching one Automation; every delivery is HMAC-signed.
wbauto in a cluster (``--incluster``): the Kopf operator against the test kube-apiserver; executions
are AutomationExecution objects.
Flux: notification-controller v1.9.x (built from the Go module proxy) with 1,000 Alerts on one
``generic-hmac`` Provider pointing at the same sink; events are posted to its event endpoint.

Figures: deliveries/s (first event sent → last delivery received), p50/p99 event-to-delivery latency,
CPU seconds and peak RSS of the system under test (from /proc). Run: ``python -m benchmarks.delivery_throughput``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml
from tests.support.controlplane import ControlPlane, free_port, running, tools_path, wait_until

AUTOMATIONS = 1000
SECRET = "benchmark-signing-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    name: str
    events: int
    delivered: int
    seconds: float
    p50: float
    p99: float
    cpu: float
    rss_mib: float
    note: str = ""
    requests: dict[str, int] | None = None  # apiserver requests by "VERB resource" during the run
    window: tuple[float, float] = (0.0, 0.0)  # first event sent, last delivery received (time.time())

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def per_event(self) -> str:
        if self.requests is None:
            return "-"
        return f"{sum(self.requests.values()) / max(1, self.events):.3f}"

    def row(self) -> str:
        return (f"{self.name:<34} {self.delivered:>6}/{self.events:<6} {self.rate:>10.0f} {self.p50 * 1000:>9.1f} "
                f"{self.p99 * 1000:>9.1f} {self.cpu:>8.2f} {self.rss_mib:>8.1f} {self.per_event():>9}  {self.note}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak resident set (``VmHWM``), or another ``/proc/PID/status`` size such as ``VmRSS`` (now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


@contextlib.contextmanager
def sink() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.sink", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/stats", timeout=1).status_code == 200, 30, "the sink")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def arrivals(sink_url: str) -> list[tuple[str, float, str]]:
    return [tuple(a) for a in httpx.get(f"{sink_url}/stats", timeout=30).json()]  # type: ignore[misc]


def wbauto_documents(sink_url: str, secret_file: Path, namespace: str | None = None,
                     automations: int = AUTOMATIONS) -> list[dict[str, Any]]:
    meta = {"namespace": namespace} if namespace else {}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "SecretReference",
         "metadata": {"name": "sig", **meta},
         "spec": {"kubernetes": {"name": "sig", "key": "key"}} if namespace else {"file": {"path": str(secret_file)}}},
        {"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "Webhook", "metadata": {"name": "sink", **meta},
         "spec": {"url": f"{sink_url}/hook", "secretRef": {"name": "sig"}}},
    ]
    for i in range(automations):
        docs.append({"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "Automation",
                     "metadata": {"name": f"a{i:04d}", **meta},
                     "spec": {"scope": {"project": {"entity": "acme", "project": f"p{i % 10}"}},
                              "event": {"artifactAliasAdded": {"aliasRegex": f"^a{i:04d}$"}},
                              "action": {"webhook": {"webhookRef": {"name": "sink"},
                                                     "payload": '{"tag": "${tag}", "alias": "${alias}"}'}}}})
    return docs


def wandb_event(i: int) -> bytes:
    n = i % AUTOMATIONS
    return json.dumps({"event_type": "ADD_ARTIFACT_ALIAS", "event_author": "bench", "entity_name": "acme",
                       "project_name": f"p{n % 10}", "artifact_collection_name": "model",
                       "artifact_version_string": f"acme/p{n % 10}/model:v1", "alias": f"a{n:04d}",
                       "tag": f"seq-{i}"}).encode()


async def send_all(url: str, bodies: list[tuple[str, bytes, dict[str, str]]], concurrency: int) -> dict[str, float]:
    sent: dict[str, float] = {}
    queue: asyncio.Queue[tuple[str, bytes, dict[str, str]]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            key, body, headers = queue.get_nowait()
            sent[key] = time.time()
            async with session.post(url, data=body, headers=headers) as response:
                if response.status >= 300:
                    raise RuntimeError(f"{url} answered {response.status}: {(await response.text())[:200]}")
                await response.read()

    # aiohttp: the load generator shares the 2 CPUs with the system under test, so keep it cheap
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return sent


def measure(name: str, pid: int, sink_url: str, url: str, bodies: list[tuple[str, bytes, dict[str, str]]],
            concurrency: int, timeout: float, note: str = "") -> Figures:
    httpx.delete(f"{sink_url}/stats")
    cpu_before = cpu_seconds(pid)
    started = time.time()
    sent = asyncio.run(send_all(url, bodies, concurrency))
    keys = set(sent)

    def done() -> bool:
        return {a[0] for a in arrivals(sink_url)} >= keys

    with contextlib.suppress(TimeoutError):
        wait_until(done, timeout, f"{name}: every delivery", interval=0.5)
    got = arrivals(sink_url)
    first: dict[str, float] = {}
    for key, at, _ in got:
        first.setdefault(key, at)
    delivered = [k for k in keys if k in first]
    end = max((first[k] for k in delivered), default=started)
    latencies = [first[k] - sent[k] for k in delivered]
    figures = Figures(name, len(keys), len(delivered), end - started, pct(latencies, 0.5), pct(latencies, 0.99),
                      cpu_seconds(pid) - cpu_before, peak_rss_mib(pid), note)
    figures.window = (started, end)
    return figures


def signed(body: bytes) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Wandb-Signature": signature}


def profile_args(suffix: str = "") -> list[str]:
    """``python`` arguments running the system under test under cProfile when WBAUTO_BENCH_PROFILE names a
    file (``suffix`` is appended to it: one file per run)."""
    path = os.environ.get("WBAUTO_BENCH_PROFILE")
    return ["-m", "cProfile", "-o", path + suffix] if path else []


def run_wbauto_standalone(events: int, concurrency: int, workers: int) -> Figures:
    with tempfile.TemporaryDirectory() as tmp, sink() as sink_url:
        work = Path(tmp)
        (work / "sig").write_text(SECRET)
        (work / "manifests").mkdir()
        (work / "manifests" / "all.yaml").write_text(yaml.safe_dump_all(wbauto_documents(sink_url, work / "sig")))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
        profile = profile_args()
        proc = subprocess.Popen(
            [sys.executable, *profile, "-m", "wbauto", "run", "--manifests", str(work / "manifests"), "--state",
             str(work / "state.sqlite"), "--receiver-address", f"127.0.0.1:{port}", "--receiver-secret-ref",
             "default/sig", "--allow-cidr", "127.0.0.1/32", "--workers", str(workers), "--metrics-address", "",
             "--health-address", "", "--log-level", os.environ.get("WBAUTO_BENCH_LOG", "warning")], env=env)
        try:
            url = f"http://127.0.0.1:{port}/wandb/events"
            probe = b'{"event_type": "ADD_ARTIFACT_ALIAS", "entity_name": "x", "project_name": "y"}'
            wait_until(lambda: httpx.post(url, content=probe, headers=signed(probe)).status_code == 202, 60,
                       "the standalone runtime")
            time.sleep(1.0)
            bodies = [(f"seq-{i}", wandb_event(i), signed(wandb_event(i))) for i in range(events)]
            return measure("wbauto standalone (SQLite)", proc.pid, sink_url, url, bodies, concurrency, 300,
                           f"{AUTOMATIONS} Automations, durable, signed")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run_wbauto_incluster(plane: ControlPlane, events: int, concurrency: int, workers: int) -> Figures:
    namespace = "bench-wbauto"
    plane.kubectl("create", "namespace", namespace, check=False)
    with tempfile.TemporaryDirectory() as tmp, sink() as sink_url:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sig", "namespace": namespace},
                  "stringData": {"key": SECRET}}
        plane.apply([secret, *wbauto_documents(sink_url, Path(tmp) / "unused", namespace)], "--server-side")
        port = free_port()
        env = {k: v for k, v in plane.env().items() if k != "WANDB_API_KEY"}
        profile = profile_args()
        proc = subprocess.Popen(
            [sys.executable, *profile, "-m", "wbauto", "run", "-n", namespace,
             "--receiver-address", f"127.0.0.1:{port}", "--receiver-secret-ref", f"{namespace}/sig",
             "--allow-cidr", "127.0.0.1/32", "--workers", str(workers), "--metrics-address", "",
             "--health-address", "", "--log-level", "warning",
             "--lease-namespace", namespace], env=env)
        try:
            plane.kubectl("wait", "--for=condition=Ready", "--timeout=300s", "automations", "--all", "-n",
                          namespace, timeout=330)
            url = f"http://127.0.0.1:{port}/wandb/events"
            bodies = [(f"seq-{i}", wandb_event(i), signed(wandb_event(i))) for i in range(events)]
            figures = measure("wbauto in-cluster", proc.pid, sink_url, url, bodies, concurrency, 600,
                              f"{AUTOMATIONS} Automations, journal + AutomationExecution history")

            def historied() -> bool:
                items = plane.get_json("automationexecutions", "-n", namespace)["items"]
                return sum((i.get("status") or {}).get("phase") == "Finished" for i in items) >= figures.delivered

            wait_until(historied, 600, "every execution in the history", interval=1.0)
            drained = time.time()
            figures.requests = plane.requests("wbauto", figures.window[0], drained)
            kopf = plane.requests("kopf", figures.window[0], drained)
            for verb, count in kopf.items():
                figures.requests[f"{verb} (kopf)"] = count
            figures.note += f"; history complete {drained - figures.window[1]:.1f}s after the last delivery"
            return figures
        finally:
            proc.terminate()
            proc.wait(timeout=30)


FLUX_SETUPS = {
    "alerts": "1,000 Alerts (one per source)",
    "wildcard": "1 wildcard Alert",
    "cached": "1 wildcard Alert, CacheSecretsAndConfigMaps",
}


def flux_documents(namespace: str, sink_url: str, setup: str, alerts: int = AUTOMATIONS) -> list[dict[str, Any]]:
    """The Secret, the ``generic-hmac`` Provider and the Alerts of a setup (``alerts``: one per source)."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hmac", "namespace": namespace},
         "stringData": {"token": SECRET}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
         "metadata": {"name": "sink", "namespace": namespace},
         "spec": {"type": "generic-hmac", "address": f"{sink_url}/hook", "secretRef": {"name": "hmac"}}},
    ]
    if setup == "alerts":
        for i in range(alerts):
            docs.append({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
                         "metadata": {"name": f"a{i:04d}", "namespace": namespace},
                         "spec": {"providerRef": {"name": "sink"}, "eventSeverity": "info",
                                  "eventSources": [{"kind": "GitRepository", "name": f"repo-{i:04d}"}]}})
    else:
        docs.append({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
                     "metadata": {"name": "all", "namespace": namespace},
                     "spec": {"providerRef": {"name": "sink"}, "eventSeverity": "info",
                              "eventSources": [{"kind": "GitRepository", "name": "*"}]}})
    return docs


@dataclass
class FluxController:
    proc: subprocess.Popen[bytes]
    events_url: str
    health_url: str
    started: float  # time.time() just after the process was started


@contextlib.contextmanager
def flux_controller(plane: ControlPlane, namespace: str, docs: list[dict[str, Any]],
                    gates: list[str] | None = None) -> Iterator[FluxController]:
    """notification-controller watching only ``namespace`` (``--watch-all-namespaces=false``: its
    RUNTIME_NAMESPACE), its CRDs installed and ``docs`` applied server-side before it starts."""
    flux_bin = Path(tools_path("flux"))
    plane.kubectl("create", "namespace", namespace, check=False)
    plane.kubectl("apply", "--server-side", "-f", str(flux_bin / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd",
                  "providers.notification.toolkit.fluxcd.io", "alerts.notification.toolkit.fluxcd.io")
    plane.apply(docs, "--server-side")
    events_port, metrics_port, health_port, receiver_port = (free_port() for _ in range(4))
    proc = subprocess.Popen(
        [str(flux_bin / "notification-controller"), f"--events-addr=127.0.0.1:{events_port}",
         f"--metrics-addr=127.0.0.1:{metrics_port}", f"--health-addr=127.0.0.1:{health_port}",
         f"--receiverAddr=127.0.0.1:{receiver_port}", "--watch-all-namespaces=false", "--concurrent=4",
         "--log-level=error", *(gates or [])],
        env={**plane.env(), "RUNTIME_NAMESPACE": namespace})
    try:
        yield FluxController(proc, f"http://127.0.0.1:{events_port}/", f"http://127.0.0.1:{health_port}/readyz",
                             time.time())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_flux(plane: ControlPlane, events: int, concurrency: int, setup: str) -> Figures:
    """notification-controller as its docs set it up for the load: ``alerts`` (one Alert per source, as the
    benchmark mirrors wbauto's 1,000 Automations), ``wildcard`` (one Alert for every source, ``name: "*"``)
    and ``cached`` (the wildcard with ``--feature-gates=CacheSecretsAndConfigMaps=true``, Flux's own advice
    when Secrets are read per event)."""
    namespace = f"bench-flux-{setup}"
    with sink() as sink_url:
        gates = ["--feature-gates=CacheSecretsAndConfigMaps=true"] if setup == "cached" else []
        with flux_controller(plane, namespace, flux_documents(namespace, sink_url, setup), gates) as flux:
            url = flux.events_url
            wait_until(lambda: _up(flux.health_url), 120, "notification-controller")
            expected = AUTOMATIONS if setup == "alerts" else 1
            wait_until(lambda: _alerts_ready(plane, namespace, expected), 300, "every Alert", interval=1.0)
            time.sleep(5)  # the controller's informer cache fills after readyz
            now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
            bodies = [(f"seq-{i}", flux_event(namespace, i % AUTOMATIONS, f"seq-{i}", now),
                       {"Content-Type": "application/json"}) for i in range(events)]
            figures = measure(f"Flux NC: {setup}", flux.proc.pid, sink_url, url, bodies, concurrency, 300,
                              f"{FLUX_SETUPS[setup]}, generic-hmac, at most once")
            time.sleep(2.0)  # the audit log is written in 1 s batches
            figures.requests = plane.requests("notification-controller", figures.window[0], figures.window[1] + 1)
            return figures


def flux_event(namespace: str, source: int, message: str, now: str) -> bytes:
    """An event of GitRepository ``repo-NNNN`` as source-controller posts it."""
    return json.dumps({"involvedObject": {"kind": "GitRepository", "namespace": namespace,
                                          "name": f"repo-{source:04d}", "apiVersion": "source.toolkit.fluxcd.io/v1"},
                       "severity": "info", "timestamp": now, "message": message,
                       "reason": "Info", "reportingController": "source-controller"}).encode()


def _alerts_ready(plane: ControlPlane, namespace: str, expected: int) -> bool:
    """v1beta3 Alerts are static (no status): all of them exist; the controller reads them per event."""
    return len(plane.get_json("alerts.notification.toolkit.fluxcd.io", "-n", namespace)["items"]) >= expected


def run_bare_client(events: int, concurrency: int) -> Figures:
    """Ceiling: an aiohttp client posting HMAC-signed bodies straight to the same sink."""
    with sink() as sink_url:
        bodies = []
        for i in range(events):
            body = json.dumps({"tag": f"seq-{i}", "alias": "a"}).encode()
            bodies.append((f"seq-{i}", body, {"Content-Type": "application/json", **_hmac_header(body)}))
        return measure("ceiling: bare aiohttp client", os.getpid(), sink_url, f"{sink_url}/hook", bodies,
                       concurrency, 120, "signed bodies to the sink, nothing stored")


def _hmac_header(body: bytes) -> dict[str, str]:
    return {"X-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def run_minimal_relay(events: int, concurrency: int) -> Figures:
    """Ceiling: a relay with nothing durable (verify the W&B signature, sign, post to the sink)."""
    with sink() as sink_url:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.relay", "--port", str(port), "--sink",
                                 f"{sink_url}/hook", "--secret", SECRET])
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until(lambda: _up(f"{url}healthz"), 30, "the relay")
            bodies = [(f"seq-{i}", wandb_event(i), signed(wandb_event(i))) for i in range(events)]
            return measure("ceiling: minimal relay", proc.pid, sink_url, url, bodies, concurrency, 120,
                           "verify, sign, post; no durability")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def apiserver_create_ceiling(plane: ControlPlane, count: int = 2000, concurrency: int = 32) -> float:
    """Creates per second of a small ConfigMap, the cheapest object, with the Kubernetes client wbauto uses."""
    from wbauto.kube import client as kube

    async def go() -> float:
        client = kube.Client(str(plane.kubeconfig))
        await client.connect()
        plane.kubectl("create", "namespace", "bench-ceiling", check=False)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await client.create(kube.CONFIGMAPS, "bench-ceiling", {
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i:05d}"},
                    "data": {"k": "v" * 200}})

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        await client.aclose()
        return count / elapsed

    return asyncio.run(go())


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent event senders")
    parser.add_argument("--workers", type=int, default=64, help="wbauto delivery workers")
    parser.add_argument("--incluster", action="store_true", help="also measure the in-cluster runtime")
    parser.add_argument("--no-standalone", action="store_true", help="skip the standalone runtime")
    parser.add_argument("--no-flux", action="store_true", help="skip Flux")
    parser.add_argument("--flux", default="alerts,wildcard,cached", help="Flux setups to run: " + ", ".join(
        f"{k} ({v})" for k, v in FLUX_SETUPS.items()))
    parser.add_argument("--no-ceilings", action="store_true", help="skip the bare client and minimal relay")
    args = parser.parse_args()
    results = [] if args.no_standalone else [run_wbauto_standalone(args.events, args.concurrency, args.workers)]
    create_rate = 0.0
    if not args.no_ceilings:
        results += [run_bare_client(args.events, args.concurrency), run_minimal_relay(args.events, args.concurrency)]
    if args.incluster or not args.no_flux:
        with running(audit=True) as plane:
            if not args.no_flux:
                for setup in args.flux.split(","):
                    results.append(run_flux(plane, args.events, args.concurrency, setup.strip()))
            if args.incluster:
                results.append(run_wbauto_incluster(plane, args.events, args.concurrency, args.workers))
                create_rate = apiserver_create_ceiling(plane)
    print(f"\n{'system':<34} {'delivered':>13} {'per second':>10} {'p50 ms':>9} {'p99 ms':>9} {'CPU s':>8} "
          f"{'RSS MiB':>8} {'req/event':>9}")
    for figures in results:
        print(figures.row())
    flux = [f for f in results if f.name.startswith("Flux")]
    best = max(flux, key=lambda f: f.rate, default=None)
    relay = next((f for f in results if f.name == "ceiling: minimal relay"), None)
    bare = next((f for f in results if f.name == "ceiling: bare aiohttp client"), None)
    print()
    for figures in results:
        if not figures.name.startswith("wbauto"):
            continue
        ratios = [f"{figures.rate / ref.rate:.2f}x {label}" for label, ref in
                  (("Flux at its best (" + best.name + ")" if best else "", best), ("the minimal relay", relay),
                   ("the bare client", bare)) if ref is not None and ref.rate]
        print(f"{figures.name}: " + ", ".join(ratios))
    if create_rate:
        print(f"apiserver ceiling: {create_rate:.0f} small ConfigMap creates/s (32 concurrent)")
    for figures in results:
        if figures.requests:
            top = ", ".join(f"{k} {v}" for k, v in sorted(figures.requests.items(), key=lambda kv: -kv[1])[:6])
            print(f"requests, {figures.name}: {sum(figures.requests.values())} ({top})")
    print(f"\n{os.cpu_count()} CPUs; events sent by {args.concurrency} concurrent clients; latency = event sent → "
          "delivery received by the sink; RSS = peak resident set of the system under test; req/event = "
          "apiserver requests by the system under test (audit log) per event.")


if __name__ == "__main__":
    main()
