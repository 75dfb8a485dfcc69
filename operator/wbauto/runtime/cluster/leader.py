"""Leader election on a ``coordination.k8s.io/v1`` Lease (not Kopf peering).

The leader renews the Lease every ``retry`` seconds; a standby takes it over once ``renewTime +
leaseDurationSeconds`` has passed. :meth:`LeaderElector.valid` is the fencing check the delivery
workers consult before each attempt: it is false as soon as the last successful renewal is older
than the lease duration, even before the loop notices it lost the Lease.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wbauto import telemetry
from wbauto.errors import KubeError
from wbauto.kube import client as kube
from wbauto.runtime.cluster.reporter import micro_time

log = logging.getLogger("wbauto.leader")

Callback = Callable[[], Awaitable[None]]


def _parse(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class LeaderElector:
    def __init__(self, client: kube.Client, namespace: str, name: str, identity: str, *,
                 duration: float = 15.0, retry: float = 2.0) -> None:
        self._client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.retry = retry
        self._renewed = 0.0  # monotonic time of the last successful acquire/renew
        self.leading = False

    def valid(self) -> bool:
        return self.leading and time.monotonic() - self._renewed < self.duration

    def _lease(self, previous: dict[str, Any] | None, transitions: int) -> dict[str, Any]:
        now = micro_time()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration),
                "renewTime": now, "leaseTransitions": transitions}
        spec["acquireTime"] = (previous or {}).get("spec", {}).get("acquireTime") if previous and \
            previous.get("spec", {}).get("holderIdentity") == self.identity else now
        body: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        if previous is not None:
            body["metadata"]["resourceVersion"] = previous["metadata"]["resourceVersion"]
        return body

    async def try_acquire(self) -> bool:
        """One round: acquire, renew or observe. True when this replica holds the Lease afterwards."""
        started = time.monotonic()
        try:
            lease = await self._client.get(kube.LEASES, self.namespace, self.name)
        except kube.NotFound:
            try:
                await self._client.create(kube.LEASES, self.namespace, self._lease(None, 0))
            except kube.Conflict:
                return False
            self._renewed = started
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renew = _parse(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        expired = renew is None or datetime.datetime.now(datetime.UTC) > renew + datetime.timedelta(seconds=duration)
        if holder != self.identity and not expired and holder:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        try:
            await self._client.replace(kube.LEASES, self.namespace, self.name, self._lease(lease, transitions))
        except kube.Conflict:
            return False
        self._renewed = started
        return True

    async def run(self, on_started: Callback, on_stopped: Callback) -> None:
        """Forever: keep trying; call ``on_started`` when leadership is won, ``on_stopped`` when lost."""
        while True:
            try:
                holding = await self.try_acquire()
            except KubeError as exc:
                log.warning("leader election: %s", exc)
                holding = self.valid()
            if holding and not self.leading:
                self.leading = True
                telemetry.LEADER.set(1)
                log.info("became the leader (Lease %s/%s)", self.namespace, self.name)
                try:
                    await on_started()
                except Exception:  # e.g. the apiserver timed out listing the executions: step down, retry
                    log.exception("could not start as the leader; stepping down, retrying in %.0f s", self.retry)
                    await self._step_down(on_stopped)
            elif not holding and self.leading and not self.valid():
                log.warning("lost the leadership (Lease %s/%s)", self.namespace, self.name)
                await self._step_down(on_stopped)
            await asyncio.sleep(self.retry)

    async def _step_down(self, on_stopped: Callback) -> None:
        self.leading = False
        telemetry.LEADER.set(0)
        try:
            await on_stopped()
        except Exception:
            log.exception("stopping the leader's work failed")

    async def release(self) -> None:
        """Give the Lease up on shutdown so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        telemetry.LEADER.set(0)
        try:
            lease = await self._client.get(kube.LEASES, self.namespace, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["renewTime"] = micro_time(datetime.datetime.fromtimestamp(0, datetime.UTC))
                await self._client.replace(kube.LEASES, self.namespace, self.name, lease)
        except KubeError as exc:
            log.warning("could not release the Lease: %s", exc)
