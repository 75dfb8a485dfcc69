"""The in-cluster runtime: the shared parts wired to the Kubernetes API.

Kopf feeds it watch events (``handlers/operator.py``); it owns the Kubernetes client, the world, the
secret resolver and the status loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from wbauto.api import kinds
from wbauto.k8s import client as kube
from wbauto.k8s.config import ClusterConfig
from wbauto.k8s.reporter import EventPoster, KubeReporter
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.settings import Settings
from wbauto.runtime.world import World
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver

log = logging.getLogger("wbauto.operator")

WATCHED = (kinds.SECRET_REFERENCE, kinds.WEBHOOK, kinds.AUTOMATION)


class InCluster:
    def __init__(self, settings: Settings, cluster: ClusterConfig) -> None:
        self.settings = settings
        self.cluster = cluster
        self.client = kube.Client(cluster)
        self.world = World()
        self.resolver = Resolver(secrets_base.Context(kube=self.client, allow_local=False),
                                 self.world.secret_reference)
        self.events = EventPoster(self.client)
        self.reconciler = Reconciler(self.world, self.resolver, settings.egress_policy,
                                     KubeReporter(self.client, self.events))
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.reconciler.run(), name="wbauto-reconciler"))
        log.info("wbauto operator started", extra={"namespaces": ",".join(self.settings.namespaces) or "*"})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.aclose()

    def on_watch_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type == "DELETED":
            meta = body.get("metadata") or {}
            self.reconciler.forget((str(body.get("kind")), str(meta.get("namespace")), str(meta.get("name"))))
        else:
            self.reconciler.observe(_plain(body))


def _plain(body: Any) -> dict[str, Any]:
    """Kopf hands out read-only views; keep a plain copy."""
    import copy

    return copy.deepcopy(dict(body))
