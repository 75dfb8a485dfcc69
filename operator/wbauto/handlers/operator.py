"""Kopf wiring — the only module that imports kopf. Thin: watch events go to the runtime.

Kopf's own bookkeeping (progress, diff-base, finalizer) is kept in annotations under our prefix,
never in our ``status``; Kopf's own Kubernetes Events are off (wbauto posts its own).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from wbauto.api import kinds
from wbauto.kube.config import ClusterConfig
from wbauto.runtime.cluster.runtime import WATCHED, InCluster
from wbauto.runtime.settings import Settings

log = logging.getLogger("wbauto.handlers")


def build_registry(runtime: InCluster) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    cluster = runtime.cluster

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=kinds.PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=kinds.PREFIX, key="last-handled-configuration")
        settings.persistence.finalizer = f"{kinds.PREFIX}/kopf-finalizer"
        settings.posting.enabled = False
        settings.scanning.disabled = True
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        await runtime.start()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=cluster.server,
            ca_path=cluster.ca_file,
            insecure=cluster.insecure,
            token=cluster.bearer_token(),
            certificate_path=cluster.cert_file,
            private_key_path=cluster.key_file,
            default_namespace=cluster.namespace,
        )

    for kind in WATCHED:

        @kopf.on.event(kinds.GROUP, kinds.VERSION, kind.plural, id=f"observe-{kind.plural}", registry=registry)
        async def on_event(type: str | None, body: kopf.Body, **_: Any) -> None:
            # async: Kopf runs sync handlers in threads, and the runtime lives on the event loop
            runtime.on_watch_event(type, dict(body))

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await runtime.stop()

    return registry


async def run(settings: Settings, cluster: ClusterConfig) -> None:
    runtime = InCluster(settings, cluster)
    registry = build_registry(runtime)
    await kopf.operator(
        registry=registry,
        standalone=True,  # leadership is a Lease (wbauto.runtime.cluster.leader), not Kopf peering
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )
