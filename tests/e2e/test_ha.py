"""High availability: two operator processes, one Lease. Only the leader polls and delivers; when it is
killed, the standby takes over within the lease duration and resumes Pending executions."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import automation, webhook
from tests.support.operator import OperatorProcess
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

LEASE = 3.0


def replica(cluster: ControlPlane, namespace: str, tmp_path: Path, emulator: Emulator, name: str) -> OperatorProcess:
    return OperatorProcess(cluster, [namespace], tmp_path, name=name,
                           env={"WANDB_API_KEY": API_KEY, "POD_NAME": name},
                           extra_args=["--wandb-base-url", emulator.url, "--poll-interval", "300ms",
                                       "--lease-namespace", namespace, "--lease-duration", f"{LEASE:.0f}s",
                                       "--workers", "2"])


def holder(cluster: ControlPlane, namespace: str) -> str:
    result = cluster.kubectl("get", "lease", "wbauto-leader", "-n", namespace, "-o",
                             "jsonpath={.spec.holderIdentity}", check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def test_standby_takes_over_and_resumes_pending(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                                emulator: Emulator) -> None:
    receiver = Receiver(delay=0.15).start()
    cluster.apply([webhook(url=receiver.url(), namespace=namespace,
                           retry={"maxAttempts": 50, "backoff": "100ms", "maxBackoff": "500ms"}),
                   automation("tags", namespace=namespace, scope={"project": {"entity": "acme", "project": "fraud"}},
                              event={"artifactTagAdded": {}},
                              action={"webhook": {"webhookRef": {"name": "hook"}, "payload": '{"tag": "${tag}"}'}})])
    a = replica(cluster, namespace, tmp_path, emulator, "operator-a")
    b = replica(cluster, namespace, tmp_path, emulator, "operator-b")
    a.start()
    try:
        wait_until(lambda: holder(cluster, namespace) == "operator-a", 60, "operator-a to lead")
        b.start()
        b.wait_for_log("wbauto operator started", 60)
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/tags", "-n", namespace)
        wait_until(lambda: emulator.state.stats().get("WbautoCollectionVersions", 0) >= 1, 60, "the first poll")
        tags = [f"ha-{i:02d}" for i in range(30)]
        for tag in tags:
            emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", tag)
        receiver.wait_for(5)
        assert holder(cluster, namespace) == "operator-a"
        assert "became the leader" not in b.logs(), "the standby must not lead while the leader renews"
        a.kill()
        killed = time.monotonic()
        wait_until(lambda: holder(cluster, namespace) == "operator-b", 30, "operator-b to take over")
        takeover = time.monotonic() - killed
        wait_until(lambda: {r.json()["tag"] for r in receiver.requests} >= set(tags), 90, "every tag delivered")

        def all_finished() -> list[dict[str, object]] | None:
            items = cluster.get_json("automationexecutions", "-n", namespace)["items"]
            done = [i for i in items if (i.get("status") or {}).get("phase") == "Finished"]
            return items if len(done) == len(tags) else None

        # a delivery the killed leader made but could not record is made again (same delivery id)
        items = wait_until(all_finished, 60, "every execution recorded Finished by the new leader")
    finally:
        a.stop()
        b.stop()
        receiver.stop()
    assert takeover <= LEASE + 2.0, f"takeover took {takeover:.1f}s"
    deliveries: dict[str, set[str]] = defaultdict(set)
    for request in receiver.requests:
        deliveries[request.json()["tag"]].add(request.headers["X-Wbauto-Delivery"])
    assert all(len(ids) == 1 for ids in deliveries.values()), "duplicates must carry the same delivery id"
    assert len(items) == len(tags)
