"""Kopf wiring — the only module that imports kopf. Thin: watch events go to the runtime.

Kopf's own bookkeeping (progress, diff-base, finalizer) is kept in annotations under our prefix,
never in our ``status``; Kopf's own Kubernetes Events are off (wbauto posts its own).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from wbauto.api import kinds
from wbauto.kube import client as kube
from wbauto.runtime.cluster.runtime import WATCHED, InCluster
from wbauto.runtime.settings import Settings

log = logging.getLogger("wbauto.handlers")


def build_registry(runtime: InCluster) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

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
    async def login(**_: Any) -> kopf.ConnectionInfo:
        # the same credentials as every other call (exec plugins run again when their token expires)
        info = await runtime.client.login()
        return kopf.ConnectionInfo(
            server=info.server,
            ca_data=info.ca_data,
            insecure=info.insecure,
            scheme="Bearer" if info.token else None,
            token=info.token,
            certificate_data=info.certificate_data,
            private_key_data=info.private_key_data,
            default_namespace=info.namespace,
            expiration=info.expiration,
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


async def run(settings: Settings, client: kube.Client) -> None:
    await client.connect()
    runtime = InCluster(settings, client)
    registry = build_registry(runtime)
    await kopf.operator(
        registry=registry,
        standalone=True,  # leadership is a Lease (wbauto.runtime.cluster.leader), not Kopf peering
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )
