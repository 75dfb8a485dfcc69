"""Scale: 1,000 and 10,000 Automations applied → all Ready, memory, and what the operator costs at rest.

wbauto in a cluster: the Kopf operator (``python -m wbauto run -n NS``, no WANDB_API_KEY: it does not poll;
its inbound receiver on loopback, without which an Automation is not Ready: no event could reach it) against the
test kube-apiserver. N Automations, 1 Webhook, 1 SecretReference and its Secret are applied
server-side *before* the operator starts; "Ready" is the number of Automations whose Ready condition is True
on the apiserver (one Table list per second: only the printer columns travel).
wbauto standalone: ``python -m wbauto run --manifests DIR`` on the same N documents; "Ready" is its
``wbauto_resource_ready`` metric (one /metrics scrape per second until every Automation is 1, none after).
Flux: notification-controller with 1,000 Alerts on 1 Provider, as ``benchmarks.delivery_throughput`` runs it.
v1beta3 Alerts are static (no status): its "Ready" is /readyz answering 200; the note adds when an event of
the last Alert's source first reaches the sink.

Then each system idles for ``--idle`` seconds (default 60): its CPU seconds (each half of the window
separately: flat idle means equal halves), RSS at the end and its peak overall (/proc), and for the in-cluster
systems the apiserver requests it sent in the window (audit log), by verb and resource. Long-running watch
requests are reported apart: a watch is counted when it starts (and again when it ends within the window).

Targets (the issue): RSS ≤ 150 MiB at 1,000 Automations, ≤ 300 MiB at 10,000; idle cost flat, no status
writes while nothing changes. Run: ``python -m benchmarks.scale [--sizes 1000,10000] [--idle 60]``.
``WBAUTO_BENCH_PROFILE=FILE`` runs wbauto under cProfile (``FILE.incluster-N``, ``FILE.standalone-N``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support.controlplane import ControlPlane, free_port, running, wait_until

from benchmarks.delivery_throughput import (
    SECRET,
    _up,
    arrivals,
    cpu_seconds,
    flux_controller,
    flux_documents,
    flux_event,
    peak_rss_mib,
    profile_args,
    sink,
    wbauto_documents,
)

NAMESPACE = "scale"
WEBHOOK_URL = "http://127.0.0.1:9"  # the discard port: nothing fires while the benchmark runs
CHUNK = 500  # documents per kubectl apply (kubectl is given 60 s per call)
FLUX_ALERTS = 1000
TARGET_RSS = {1000: 150.0, 10000: 300.0}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
WRITES = ("create", "update", "patch", "delete", "deletecollection")


@dataclass
class Scale:
    name: str
    objects: str
    apply_s: float = 0.0
    first_ready_s: float = 0.0
    ready_s: float = 0.0
    ready: int = 0
    expected: int = 0
    cpu_to_ready: float = 0.0
    idle_cpu: tuple[float, float] = (0.0, 0.0)  # first half, second half
    idle_s: float = 0.0
    peak_rss: float = 0.0
    end_rss: float = 0.0
    target_rss: float | None = None
    requests: dict[str, int] | None = None  # idle window, watches excluded
    watches: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, Ready) per poll

    def progress(self) -> str:
        marks = []
        for share in (0.1, 0.5, 0.9):
            at = next((t for t, ready in self.timeline if ready >= share * self.expected), None)
            marks.append("-" if at is None else f"{at:.1f}")
        return "/".join(marks)

    @property
    def status_writes(self) -> int | None:
        if self.requests is None:
            return None
        return sum(v for k, v in self.requests.items() if k.split()[0] in WRITES and "/status" in k)

    def row(self) -> str:
        ready = f"{self.ready_s:.1f}" if self.ready >= self.expected else f">{self.ready_s:.0f} ({self.ready})"
        cpu = sum(self.idle_cpu)
        pct = 100 * cpu / self.idle_s if self.idle_s else 0.0
        target = f"≤{self.target_rss:.0f}" if self.target_rss else "-"
        verdict = "" if self.target_rss is None else (" ok" if self.peak_rss <= self.target_rss else " OVER")
        requests = "-" if self.requests is None else str(sum(self.requests.values()))
        writes = "-" if self.status_writes is None else str(self.status_writes)
        return (f"{self.name:<22} {self.objects:>12} {self.apply_s:>7.1f} {self.first_ready_s:>7.1f} {ready:>10} "
                f"{self.cpu_to_ready:>8.1f} {cpu:>6.2f} {pct:>5.1f}% {self.idle_cpu[0]:>5.2f}/{self.idle_cpu[1]:<5.2f} "
                f"{self.peak_rss:>7.1f} {self.end_rss:>7.1f} {target + verdict:>8} {requests:>7} {writes:>6}")


HEADER = (f"{'system':<22} {'objects':>12} {'apply s':>7} {'first s':>7} {'ready s':>10} {'CPU→rdy':>8} "
          f"{'idle CPU s':>13} {'halves':>11} {'peak MiB':>7} {'end MiB':>7} {'target':>8} {'idle rq':>7} "
          f"{'st.wr':>6}")


def apply_chunked(plane: ControlPlane, docs: list[dict[str, Any]]) -> float:
    started = time.monotonic()
    for i in range(0, len(docs), CHUNK):
        plane.apply(docs[i:i + CHUNK], "--server-side")
    return time.monotonic() - started


def ready_automations(plane: ControlPlane, namespace: str, http: httpx.Client) -> int:
    """Automations whose Ready condition is True, from one list (Table: the printer columns, no objects)."""
    response = http.get(f"{plane.server}/apis/automations.wandb.ai/v1alpha1/namespaces/{namespace}/automations",
                        params={"includeObject": "None"}, headers={"Accept": TABLE})
    response.raise_for_status()
    table = response.json()
    column = [c["name"] for c in table["columnDefinitions"]].index("Ready")
    return sum(1 for row in table["rows"] if row["cells"][column] == "True")


def wait_all_ready(result: Scale, proc: subprocess.Popen[bytes], started: float, count: Any,
                   timeout: float) -> None:
    """Poll ``count()`` once per second until it reaches ``result.expected`` (or ``timeout`` s, or the process
    exits); fill in the first and last Ready moments and the CPU spent until then."""
    deadline = started + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{result.name} exited with {proc.returncode}")
        try:
            result.ready = count()
        except (httpx.HTTPError, ValueError, KeyError):
            result.ready = 0
        now = time.time()
        result.timeline.append((now - started, result.ready))
        if result.ready and not result.first_ready_s:
            result.first_ready_s = now - started
        if result.ready >= result.expected:
            break
        time.sleep(max(0.0, 1.0 - (time.time() - now)))
    result.ready_s = time.time() - started
    result.cpu_to_ready = cpu_seconds(proc.pid)
    if result.ready < result.expected:
        result.notes.append(f"timed out after {timeout:.0f}s with {result.ready}/{result.expected} Ready")


def idle(result: Scale, pid: int, seconds: float) -> tuple[float, float]:
    """Sleep through the idle window measuring the process; returns the window (time.time())."""
    start = time.time()
    c0 = cpu_seconds(pid)
    time.sleep(seconds / 2)
    c1 = cpu_seconds(pid)
    time.sleep(seconds / 2)
    c2 = cpu_seconds(pid)
    end = time.time()
    result.idle_cpu = (c1 - c0, c2 - c1)
    result.idle_s = end - start
    result.peak_rss = peak_rss_mib(pid)
    result.end_rss = peak_rss_mib(pid, "VmRSS")
    return start, end


def idle_requests(result: Scale, plane: ControlPlane, agents: dict[str, str], window: tuple[float, float]) -> None:
    time.sleep(2.5)  # the audit log is written in 1 s batches
    result.requests = {}
    for agent, label in agents.items():
        for key, count in plane.requests(agent, *window).items():
            name = f"{key}{label}"
            if key.startswith("watch "):
                result.watches[name] = count
            else:
                result.requests[name] = count


def plane_cpu(plane: ControlPlane) -> float:
    """CPU seconds of the control plane (kube-apiserver and etcd) so far."""
    return sum(cpu_seconds(proc.pid) for proc in plane._procs if proc.poll() is None)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=120)  # under cProfile the profile is written on the way out
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_incluster(n: int, idle_s: float, timeout: float) -> Scale:
    result = Scale("wbauto in-cluster", f"{n} Autom.", expected=n, target_rss=TARGET_RSS.get(n))
    with running(audit=True) as plane, httpx.Client(verify=plane.ssl_context("admin"), timeout=60) as http:
        plane.kubectl("create", "namespace", NAMESPACE)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sig", "namespace": NAMESPACE},
                  "stringData": {"key": SECRET}}
        docs = [secret, *wbauto_documents(WEBHOOK_URL, Path("/unused"), NAMESPACE, automations=n)]
        result.apply_s = apply_chunked(plane, docs)
        env = {k: v for k, v in plane.env().items() if k != "WANDB_API_KEY"}
        plane_before = plane_cpu(plane)
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, *profile_args(f".incluster-{n}"), "-m", "wbauto", "run", "-n", NAMESPACE,
             "--lease-namespace", NAMESPACE, "--metrics-address", "", "--health-address", "",
             "--receiver-address", f"127.0.0.1:{free_port()}", "--receiver-secret-ref", f"{NAMESPACE}/sig",
             "--allow-cidr", "127.0.0.1/32", "--log-level", os.environ.get("WBAUTO_BENCH_LOG", "warning")], env=env)
        try:
            wait_all_ready(result, proc, started, lambda: ready_automations(plane, NAMESPACE, http), timeout)
            plane_ready = plane_cpu(plane)
            window = idle(result, proc.pid, idle_s)
            plane_idle = plane_cpu(plane) - plane_ready
        finally:
            stop(proc)
        idle_requests(result, plane, {"wbauto": "", "kopf": " (kopf)"}, window)
        ramp = plane.requests("wbauto", started, window[0])
        events, patches = ramp.get("create events", 0), ramp.get("patch automations/status", 0)
        result.notes.append(f"until all Ready: {patches} Automation status patches, {events} Events created; "
                            f"10/50/90 % Ready at {result.progress()} s; apiserver+etcd CPU "
                            f"{plane_ready - plane_before:.1f} s until all Ready (with the benchmark's Table lists), "
                            f"{plane_idle:.2f} s while idle")
    return result


def metric_ready(url: str) -> int:
    text = httpx.get(url, timeout=30).text
    return len(re.findall(r'^wbauto_resource_ready\{kind="Automation",[^}]*\} 1\.0$', text, re.MULTILINE))


def run_standalone(n: int, idle_s: float, timeout: float) -> Scale:
    result = Scale("wbauto standalone", f"{n} Autom.", expected=n, target_rss=TARGET_RSS.get(n))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "sig").write_text(SECRET)
        (work / "manifests").mkdir()
        started = time.monotonic()
        (work / "manifests" / "all.yaml").write_text(
            yaml.safe_dump_all(wbauto_documents(WEBHOOK_URL, work / "sig", automations=n)))
        result.apply_s = time.monotonic() - started
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, *profile_args(f".standalone-{n}"), "-m", "wbauto", "run", "--manifests",
             str(work / "manifests"), "--state", str(work / "state.sqlite"), "--metrics-address",
             f"127.0.0.1:{port}", "--health-address", "", "--receiver-address", f"127.0.0.1:{free_port()}",
             "--receiver-secret-ref", "default/sig", "--allow-cidr", "127.0.0.1/32", "--log-level",
             os.environ.get("WBAUTO_BENCH_LOG", "warning")], env=env)
        try:
            wait_all_ready(result, proc, started, lambda: metric_ready(f"http://127.0.0.1:{port}/metrics"), timeout)
            result.notes.append(f"10/50/90 % Ready at {result.progress()} s")
            idle(result, proc.pid, idle_s)
        finally:
            stop(proc)
    result.notes.append("ready = its wbauto_resource_ready metric, scraped once per second until all are 1; "
                        "apply s = writing the manifest file")
    return result


def run_flux(idle_s: float, timeout: float) -> Scale:
    result = Scale("Flux NC", f"{FLUX_ALERTS} Alerts", expected=1)
    namespace = "scale-flux"
    with running(audit=True) as plane, sink() as sink_url:
        before = time.time()
        docs = flux_documents(namespace, sink_url, "alerts", alerts=FLUX_ALERTS)
        with flux_controller(plane, namespace, docs) as flux:
            plane_before = plane_cpu(plane)
            result.apply_s = flux.started - before
            wait_all_ready(result, flux.proc, flux.started, lambda: int(_up(flux.health_url)), timeout)
            # an event of the last Alert's source, until one reaches the sink: the controller matches it
            last = FLUX_ALERTS - 1
            sent = 0

            def delivered() -> bool:
                nonlocal sent
                sent += 1
                body = flux_event(namespace, last, f"probe-{sent}", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                  time.gmtime()))
                httpx.post(flux.events_url, content=body, headers={"Content-Type": "application/json"},
                           timeout=10)
                time.sleep(0.5)
                return any(a[0].startswith("probe-") for a in arrivals(sink_url))

            wait_until(delivered, timeout, "an event delivered by notification-controller", interval=0.0)
            first = min(a[1] for a in arrivals(sink_url) if a[0].startswith("probe-"))
            result.notes.append(f"readyz at {result.ready_s:.1f}s; first event of Alert a{last:04d} delivered at "
                                f"{first - flux.started:.1f}s ({sent} probe(s) posted)")
            time.sleep(1.0)
            plane_ready = plane_cpu(plane)
            window = idle(result, flux.proc.pid, idle_s)
            plane_idle = plane_cpu(plane) - plane_ready
            result.notes.append(f"apiserver+etcd CPU {plane_ready - plane_before:.1f} s until idle, {plane_idle:.2f} s "
                                "while idle")
        idle_requests(result, plane, {"notification-controller": ""}, window)
        ramp = plane.requests("notification-controller", flux.started, window[0])
        result.notes.append("requests from start to idle: " + ", ".join(f"{k} {v}" for k, v in sorted(ramp.items())))
    result.notes.append("v1beta3 Alerts have no status: ready = /readyz; apply s = its CRDs and the 1,002 objects "
                        "applied; no leader election (out of a cluster it finds no namespace for its Lease), so no "
                        "Lease renewals among its requests, unlike wbauto's")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="Automation counts, comma-separated")
    parser.add_argument("--idle", type=float, default=60.0, help="idle window in seconds")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed until all Ready")
    parser.add_argument("--systems", default="incluster,standalone,flux", help="which systems to run")
    args = parser.parse_args()
    systems = {s.strip() for s in args.systems.split(",")}
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: list[Scale] = []

    def report(result: Scale) -> None:
        results.append(result)
        print(f"# {result.name} {result.objects}: ready {result.ready_s:.1f}s, peak RSS {result.peak_rss:.1f} MiB, "
              f"load {Path('/proc/loadavg').read_text().strip()}", flush=True)

    if "flux" in systems:
        report(run_flux(args.idle, args.timeout))
    for n in sizes:
        if "standalone" in systems:
            report(run_standalone(n, args.idle, args.timeout))
        if "incluster" in systems:
            report(run_incluster(n, args.idle, args.timeout))
    print(f"\n{HEADER}")
    for result in results:
        print(result.row())
    print()
    for result in results:
        for note in result.notes:
            print(f"{result.name} {result.objects}: {note}")
        if result.requests is not None:
            top = ", ".join(f"{k} {v}" for k, v in sorted(result.requests.items(), key=lambda kv: -kv[1]))
            print(f"{result.name} {result.objects}: idle requests: {top or 'none'}")
            watches = ", ".join(f"{k} {v}" for k, v in sorted(result.watches.items()))
            print(f"{result.name} {result.objects}: idle watch requests (excluded above): {watches or 'none'}")
    print(f"\n{os.cpu_count()} CPUs, load {Path('/proc/loadavg').read_text().strip()}. apply s = objects applied "
          "server-side before the system starts; first/ready s = system start → first / every object Ready; "
          "CPU→rdy = its CPU seconds from start to all Ready; idle CPU over --idle s (and % of one CPU), halves = "
          "first/second half of the window; peak = VmHWM over the run, end = VmRSS at the end of the idle window; "
          "idle rq = apiserver requests in the idle window (audit log, watches excluded); st.wr = status writes "
          "among them (target 0).")


if __name__ == "__main__":
    main()
