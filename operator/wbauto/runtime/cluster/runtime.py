"""The in-cluster runtime: the shared engine wired to the Kubernetes API.

Kopf feeds watch events into the world on every replica (a standby is warm). Only the Lease holder
writes statuses, polls W&B and delivers; on losing the Lease it stops at once (fenced before each
attempt), and the new leader resumes Pending executions from the apiserver. Every replica serves
``/healthz``, ``/readyz``, ``/metrics`` and the inbound receiver (a standby stores what it receives;
the leader picks it up within seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import socket
from typing import Any

from aiohttp import web

from wbauto.api import kinds
from wbauto.kube import client as kube
from wbauto.runtime import http
from wbauto.runtime.cluster.leader import LeaderElector
from wbauto.runtime.cluster.reporter import EventPoster, KubeExecutionReporter, KubeReporter
from wbauto.runtime.cluster.store import KubeStore
from wbauto.runtime.engine import Engine
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.settings import Settings
from wbauto.runtime.world import Key, World
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver
from wbauto.wbapi.client import Client as WandbClient

log = logging.getLogger("wbauto.operator")

WATCHED = (kinds.SECRET_REFERENCE, kinds.WEBHOOK, kinds.AUTOMATION)
SWEEP_EVERY = 5.0


class InCluster:
    def __init__(self, settings: Settings, client: kube.Client) -> None:
        """``client`` is connected (its namespace is the operator's, unless set otherwise)."""
        self.settings = settings
        self.client = client
        self.operator_namespace = settings.lease_namespace or os.environ.get("POD_NAMESPACE") or client.namespace
        self.identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        self.world = World()
        self.resolver = Resolver(secrets_base.Context(kube=self.client, allow_local=False),
                                 self.world.secret_reference)
        self.events = EventPoster(self.client, self.identity)
        self.store = KubeStore(self.client, operator_namespace=self.operator_namespace,
                               namespaces=settings.namespaces, journal_prefix=f"{settings.lease_name}-journal")
        key = settings.wandb_api_key()
        self.wandb = WandbClient(settings.wandb_base_url, key) if key else None
        self.executions = KubeExecutionReporter(self.client, self.events)
        self.engine = Engine(settings, self.world, self.store, self.resolver, self.executions,
                             kube=self.client, wandb=self.wandb)
        self.reconciler = Reconciler(self.world, self.resolver, settings.egress_policy,
                                     KubeReporter(self.client, self.events))
        self.reconciler.source_problem = self.engine.source_problem
        self.reconciler.on_change.append(self._changed)
        self.engine.health_listeners.append(self._requeue)
        self.elector = (LeaderElector(self.client, self.operator_namespace, settings.lease_name, self.identity,
                                      duration=settings.lease_duration, retry=min(2.0, settings.lease_duration / 4))
                        if settings.leader_election else None)
        self.engine.dispatcher.fence = self.elector.valid if self.elector else None
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._runners: list[web.AppRunner] = []
        self.leading = False

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        receiver = self.engine.receiver(self.operator_namespace)
        for address, routes in ((self.settings.metrics_address, http.metrics_routes()),
                                (self.settings.health_address, http.health_routes(self._ready)),
                                (self.settings.receiver_address, receiver.routes() if receiver else [])):
            runner = await http.serve(address, routes)
            if runner is not None:
                self._runners.append(runner)
        if self.elector is None:
            await self._lead()
        else:
            self._tasks.append(asyncio.create_task(self.elector.run(self._lead, self._follow), name="wbauto-leader"))
        log.info("wbauto operator started", extra={"namespaces": ",".join(self.settings.namespaces) or "*",
                                                   "identity": self.identity,
                                                   "polling": "on" if self.wandb else "off (no WANDB_API_KEY)"})

    async def stop(self) -> None:
        await self._follow()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.elector is not None:
            await self.elector.release()
        for runner in self._runners:
            await runner.cleanup()
        if self.wandb is not None:
            await self.wandb.aclose()
        await self.resolver.aclose()
        await self.client.aclose()

    async def _lead(self) -> None:
        self.leading = True
        for key in self.world.keys_of():
            self.reconciler.queue.add(key)
        await self.store.lead()  # index the executions and replay the outbox journal
        await self.engine.start()
        self._leader_tasks = [
            asyncio.create_task(self.reconciler.run(), name="wbauto-reconciler"),
            asyncio.create_task(self.executions.run(), name="wbauto-last-execution"),
            asyncio.create_task(self._sweep(), name="wbauto-sweep"),
        ]

    async def _follow(self) -> None:
        if not self.leading:
            await self.store.follow()
            return
        self.leading = False
        for task in self._leader_tasks:
            task.cancel()
        for task in self._leader_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._leader_tasks = []
        await self.engine.stop()
        await self.store.follow()

    async def _sweep(self) -> None:
        """Pick up Pending executions stored by a standby's receiver or journaled by a previous leader."""
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                for record in [*await self.store.claim_labelled(), *await self.store.adopt()]:
                    if (record.namespace, record.name) not in self.engine.dispatcher.records:
                        self.engine.dispatcher.submit(record)
            except Exception:
                log.exception("sweep for pending executions failed")

    def _ready(self) -> tuple[bool, str]:
        return True, "leader" if self.leading else "standby"

    # --- watch events ----------------------------------------------------------------------------------

    def _changed(self, key: Key) -> None:
        if self.leading:
            self.engine.replan_soon()

    def _requeue(self, keys: list[Key]) -> None:
        for key in keys:
            self.reconciler.queue.add(key)

    def on_watch_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata")
        if isinstance(meta, dict) and "managedFields" in meta:  # never read; about half of a small object
            body = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        body = copy.deepcopy(body)
        if event_type == "DELETED":
            meta = body.get("metadata") or {}
            self.reconciler.forget((str(body.get("kind")), str(meta.get("namespace")), str(meta.get("name"))))
        else:
            self.reconciler.observe(body)
