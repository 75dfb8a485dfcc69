"""Leader election against the real apiserver: a leader whose start fails steps down and tries again."""

from __future__ import annotations

import asyncio

from tests.support.controlplane import ControlPlane
from wbauto.kube import client as kube
from wbauto.runtime.cluster.leader import LeaderElector


async def test_a_failed_start_as_leader_steps_down_and_is_retried(cluster: ControlPlane, namespace: str) -> None:
    client = kube.Client(str(cluster.kubeconfig))
    elector = LeaderElector(client, namespace, "wbauto-leader", "replica-a", duration=5.0, retry=0.2)
    events: list[str] = []
    retried = asyncio.Event()

    async def started() -> None:
        events.append("started")
        if events.count("started") == 2:
            retried.set()
        if events.count("started") == 1:  # the first start fails as a timed-out list would
            raise TimeoutError("listing the executions timed out")

    async def stopped() -> None:
        events.append("stopped")

    task = asyncio.create_task(elector.run(started, stopped))
    try:
        await asyncio.wait(
            [task, asyncio.ensure_future(retried.wait())], timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        assert not task.done(), "the election loop must survive a failing start"
        assert events == ["started", "stopped", "started"]
        assert elector.leading and elector.valid()
        lease = await client.get(kube.LEASES, namespace, "wbauto-leader")
        assert lease["spec"]["holderIdentity"] == "replica-a"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
