"""Report statuses and Kubernetes Events for the in-cluster runtime."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import time
from typing import Any

from wbauto.api import kinds
from wbauto.errors import KubeError, cut
from wbauto.kube import client as kube
from wbauto.redact import scrub
from wbauto.runtime.world import Key

log = logging.getLogger("wbauto.k8s")

CONTROLLER = f"{kinds.GROUP}/wbauto"
RES_BY_KIND = {
    kinds.SECRET_REFERENCE.kind: kube.SECRET_REFERENCES,
    kinds.WEBHOOK.kind: kube.WEBHOOKS,
    kinds.AUTOMATION.kind: kube.AUTOMATIONS,
    kinds.AUTOMATION_EXECUTION.kind: kube.EXECUTIONS,
}


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """An RFC 7386 patch turning ``old`` into ``new`` at the top level (removed keys become null)."""
    patch: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch


def micro_time(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventPoster:
    def __init__(self, client: kube.Client, instance: str | None = None) -> None:
        self._client = client
        self._instance = instance or socket.gethostname()

    async def post(self, body: dict[str, Any], warning: bool, reason: str, message: str,
                   action: str = "Reconcile") -> None:
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        event = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{str(meta.get('name', 'wbauto'))[:200]}.{time.time_ns():x}", "namespace": namespace},
            "eventTime": micro_time(),
            "reportingController": CONTROLLER,
            "reportingInstance": self._instance[:128],
            "action": action,
            "reason": reason,
            "note": cut(scrub(message), 1000),
            "type": "Warning" if warning else "Normal",
            "regarding": {
                "apiVersion": body.get("apiVersion", kinds.API_VERSION),
                "kind": body.get("kind"),
                "name": meta.get("name"),
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            await self._client.create(kube.EVENTS, namespace, event)
        except KubeError as exc:  # events are best effort
            log.warning("could not post event %s for %s/%s: %s", reason, namespace, meta.get("name"), exc)


class KubeReporter:
    def __init__(self, client: kube.Client, events: EventPoster) -> None:
        self._client = client
        self._events = events

    async def status(self, key: Key, body: dict[str, Any], status: dict[str, Any]) -> None:
        kind, namespace, name = key
        patch = {"status": merge_patch(body.get("status") or {}, status)}
        try:
            await self._client.patch(RES_BY_KIND[kind], namespace, name, patch, status=True)
        except kube.NotFound:
            log.debug("%s %s/%s is gone; status not written", kind, namespace, name)

    async def event(self, key: Key, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        await self._events.post(body, warning, reason, message)


def _newest(record: Any, than: Any) -> bool:
    """Whether ``record`` is the Automation's last execution rather than ``than`` (or its newer state)."""
    return bool((record.created, record.name) >= (than.created, than.name) or than.name == record.name)


class KubeExecutionReporter:
    """Shows execution outcomes: the Automation's ``status.lastExecution`` (coalesced: the first outcome after
    a quiet spell is written at once, then at most one patch per :attr:`FLUSH_EVERY` per Automation, the
    newest wins; when many Automations fire at once a round is paced to :attr:`PATCHES_PER_SECOND`, so the
    apiserver's capacity goes to the deliveries) and a Warning Event when an execution fails."""

    FLUSH_EVERY = 5.0
    PATCHES_PER_SECOND = 50.0

    def __init__(self, client: kube.Client, events: EventPoster) -> None:
        self._client = client
        self._events = events
        self._latest: dict[tuple[str, str], Any] = {}
        self._wake = asyncio.Event()

    async def execution(self, record: Any) -> None:  # ExecutionRecord (imported lazily: no cycle)
        status = record.status
        if status.phase.value == "Failed":
            body = {"apiVersion": kinds.API_VERSION, "kind": kinds.AUTOMATION_EXECUTION.kind,
                    "metadata": {"name": record.name, "namespace": record.namespace}}
            await self._events.post(body, True, "DeliveryFailed",
                                    f"Automation {record.automation}: {record.spec.event.summary()} → "
                                    f"{record.spec.action.target}: {status.error or 'failed'}", action="Deliver")
        if status.phase.value == "Pending" and status.attempts:
            return  # a retry: the Automation's last execution is unchanged
        key = (record.namespace, record.automation)
        current = self._latest.get(key)
        if current is None or _newest(record, current):
            self._latest[key] = record
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._latest = self._latest, {}
            started = time.monotonic()
            for i, (key, record) in enumerate(batch.items()):
                came = self._latest.pop(key, None)  # an outcome that came while the round was paced
                await self._patch(*key, came if came is not None and _newest(came, record) else record)
                await asyncio.sleep(self.pace(i + 1, time.monotonic() - started))
            await asyncio.sleep(self.FLUSH_EVERY)

    @classmethod
    def pace(cls, patched: int, elapsed: float) -> float:
        """Seconds to wait after ``patched`` patches in ``elapsed`` seconds of a round (pure): at most
        :attr:`PATCHES_PER_SECOND`, however many Automations fired."""
        return max(0.0, patched / cls.PATCHES_PER_SECOND - elapsed)

    async def _patch(self, namespace: str, automation: str, record: Any) -> None:
        status = record.status
        last = {"name": record.name, "time": micro_time(record.created)[:19] + "Z",
                "status": status.phase.value, "responseCode": status.response_code, "error": status.error}
        try:
            await self._client.patch(kube.AUTOMATIONS, namespace, automation,
                                     {"status": {"lastExecution": {k: v for k, v in last.items() if v is not None}
                                                 | {k: None for k, v in last.items() if v is None}}},
                                     status=True)
        except kube.NotFound:
            pass  # the Automation was deleted; its executions carry on
        except KubeError as exc:
            log.warning("could not update %s/%s lastExecution: %s", namespace, automation, exc)
