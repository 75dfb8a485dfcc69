"""``kill -9`` of the standalone runtime in the middle of a burst, and a canary grep of everything it wrote.

For each kill point (5 %, 50 %, 95 % of 1,000 tag events delivered) a fresh ``wbauto run`` (its own
process, SQLite state) polls the emulator and delivers to a loopback receiver; it is killed with SIGKILL
when the receiver has that share, started again, and left to finish. Printed per run: events, lost
(never delivered), same-id duplicates (a redelivery: receivers dedupe by X-Wbauto-Delivery) and new-id
duplicates (an event delivered under two ids: must be 0).

Canaries — the signing secret, the access token and the W&B API key, each a random value — are then
looked for, raw and in their JSON-escaped, URL-encoded and base64 forms, in: the operator's log, the
state file, ``wbauto history`` output and ``/metrics``.

Run: ``python -m benchmarks.kill_recovery [--events 1000]``. Everything runs on loopback.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import yaml
from tests.support.controlplane import free_port, wait_until
from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver

from wbauto.emulator.server import Emulator

PAYLOAD = '{"tag": "${tag}", "version": "${artifact_version_string}"}'


def forms(value: str) -> list[str]:
    return [value, json.dumps(value)[1:-1], quote(value, safe=""), base64.b64encode(value.encode()).decode(),
            base64.b64encode(f"api:{value}".encode()).decode()]


def run_once(work: Path, events: int, kill_at: float, canaries: dict[str, str]) -> dict[str, int]:
    api_key = canaries["W&B API key"]
    with Emulator(api_key=api_key) as emu:
        emu.state.create_project("acme", "fraud")
        versions = [emu.state.log_artifact("acme", "fraud", "fraud-model").version for _ in range(10)]
        receiver = Receiver(secret=canaries["signing secret"], delay=0.002).start()
        (work / "signing").write_text(canaries["signing secret"])
        (work / "token").write_text(canaries["access token"])
        (work / "key").write_text(api_key)
        manifests = work / "manifests"
        manifests.mkdir()
        docs = [obj("SecretReference", "signing", {"file": {"path": str(work / "signing")}}),
                obj("SecretReference", "token", {"file": {"path": str(work / "token")}}),
                webhook(url=receiver.url(), secretRef={"name": "signing"}, accessTokenRef={"name": "token"},
                        retry={"maxAttempts": 100, "backoff": "50ms", "maxBackoff": "200ms"}),
                automation("tags", scope={"project": {"entity": "acme", "project": "fraud"}},
                           event={"artifactTagAdded": {}},
                           action={"webhook": {"webhookRef": {"name": "hook"}, "payload": PAYLOAD}})]
        (manifests / "all.yaml").write_text(yaml.safe_dump_all(docs))
        metrics = free_port()
        args = [sys.executable, "-m", "wbauto", "run", "--manifests", str(manifests), "--state",
                str(work / "state.sqlite"), "--allow-cidr", "127.0.0.1/32", "--wandb-base-url", emu.url,
                "--wandb-api-key-file", str(work / "key"), "--poll-interval", "300ms", "--workers", "8",
                "--metrics-address", f"127.0.0.1:{metrics}", "--health-address", "", "--log-format", "json"]
        env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
        with open(work / "operator.log", "ab") as log:
            def start() -> subprocess.Popen[bytes]:
                return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

            proc = start()
            try:
                wait_until(lambda: emu.state.stats().get("WbautoCollectionVersions", 0) >= 1, 60, "the first poll")
                tags = [f"burst-{i:04d}" for i in range(events)]
                for i, tag in enumerate(tags):
                    emu.state.add_tag("acme", "fraud", "fraud-model", versions[i % len(versions)], tag)
                wait_until(lambda: len(receiver.requests) >= max(1, int(events * kill_at)), 300, "the kill point")
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                killed_at = len(receiver.requests)
                proc = start()
                wait_until(lambda: {r.json()["tag"] for r in receiver.requests} >= set(tags), 300,
                           "every tag delivered after the restart")
                time.sleep(2)  # let a late redelivery show, if any
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as answer:
                    (work / "metrics.txt").write_bytes(answer.read())
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(timeout=30)
        history = subprocess.run([sys.executable, "-m", "wbauto", "history", "--state", str(work / "state.sqlite"),
                                  "--limit", "2000", "-o", "wide"],
                                 capture_output=True, text=True, env=env, check=False)
        (work / "history.txt").write_text(history.stdout + history.stderr)
        rows = len([line for line in history.stdout.splitlines() if "burst-" in line])
        receiver.stop()
    ids: dict[str, set[str]] = defaultdict(set)
    count: dict[str, int] = defaultdict(int)
    for request in receiver.requests:
        tag = request.json()["tag"]
        ids[tag].add(request.headers["X-Wbauto-Delivery"])
        count[tag] += 1
    return {"events": events, "history rows": rows, "killed at": killed_at, "delivered": len(receiver.requests),
            "lost": len(set(tags) - set(ids)),
            "same-id duplicates": sum(n - 1 for t, n in count.items() if len(ids[t]) == 1),
            "new-id duplicates": sum(len(v) - 1 for v in ids.values())}


def canary_hits(work: Path, canaries: dict[str, str]) -> dict[str, int]:
    outputs = {"log": work / "operator.log", "state": work / "state.sqlite", "history": work / "history.txt",
               "/metrics": work / "metrics.txt"}
    hits: dict[str, int] = {}
    for name, path in outputs.items():
        data = path.read_bytes() if path.exists() else b""
        for wal in (path.with_name(path.name + "-wal"),):
            if wal.exists():
                data += wal.read_bytes()
        text = data.decode("utf-8", "replace")
        hits[name] = sum(text.count(form) for value in canaries.values() for form in forms(value))
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'kill at':>8} {'events':>7} {'killed at':>10} {'delivered':>10} {'lost':>5} {'same-id dup':>12} "
          f"{'new-id dup':>11} {'history':>8}   canary hits (log, state, history, /metrics)")
    for kill_at in (0.05, 0.5, 0.95):
        canaries = {"signing secret": "sig-" + secrets.token_urlsafe(24),
                    "access token": 'tok"' + secrets.token_hex(16), "W&B API key": secrets.token_hex(20)}
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            row = run_once(work, args.events, kill_at, canaries)
            hits = canary_hits(work, canaries)
        print(f"{kill_at:>8.0%} {row['events']:>7} {row['killed at']:>10} {row['delivered']:>10} {row['lost']:>5} "
              f"{row['same-id duplicates']:>12} {row['new-id duplicates']:>11} {row['history rows']:>8}   "
              + ", ".join(f"{k} {v}" for k, v in hits.items()))


if __name__ == "__main__":
    main()
