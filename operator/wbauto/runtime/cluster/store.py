"""The in-cluster store: executions are ``AutomationExecution`` objects, poll cursors are ConfigMaps in the
operator's namespace (one per scope). Create-before-deliver and status-after-each-attempt go through
the apiserver, so another replica (or this one after a restart) resumes from the same state.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections import defaultdict
from typing import Any

from wbauto.api import kinds
from wbauto.api.execution import (
    DEDUPE_HORIZON,
    AutomationExecutionSpec,
    AutomationExecutionStatus,
    ExecutionRecord,
    Phase,
)
from wbauto.kube import client as kube

log = logging.getLogger("wbauto.k8s")

AUTOMATION_LABEL = f"{kinds.PREFIX}/automation"
PENDING_LABEL = f"{kinds.PREFIX}/pending"
CURSOR_LABEL = f"{kinds.PREFIX}/cursor"


def _time(value: str | None) -> datetime.datetime:
    if not value:
        return datetime.datetime.now(datetime.UTC)
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def record_of(obj: dict[str, Any]) -> ExecutionRecord:
    """An execution as stored. One created Skipped or Failed whose status write did not happen (the status
    subresource cannot be set on create) is read as such from its spec, never as Pending."""
    meta = obj.get("metadata") or {}
    spec = AutomationExecutionSpec.model_validate(obj.get("spec") or {})
    status = AutomationExecutionStatus.model_validate(obj.get("status") or {})
    created = _time(meta.get("creationTimestamp"))
    if status.phase is Phase.PENDING and not status.attempts and (spec.skip_reason or spec.failure):
        phase = Phase.SKIPPED if spec.skip_reason else Phase.FAILED
        status = status.model_copy(update={"phase": phase, "error": spec.skip_reason or spec.failure,
                                           "completion_time": created})
    return ExecutionRecord(namespace=str(meta.get("namespace")), name=str(meta.get("name")), spec=spec,
                           status=status, created=created)


def _label(value: str) -> str:
    return value[:63].rstrip("-_.")


class KubeStore:
    def __init__(self, client: kube.Client, *, operator_namespace: str, namespaces: tuple[str, ...] = ()) -> None:
        self._client = client
        self._namespace = operator_namespace
        self._namespaces = namespaces  # empty: cluster-wide
        # a standby (its receiver stores executions) labels them, so the leader finds them with a cheap list
        self.label_pending = False

    # --- executions -------------------------------------------------------------------------------------

    async def create(self, record: ExecutionRecord) -> bool:
        body = {
            "apiVersion": kinds.API_VERSION,
            "kind": kinds.AUTOMATION_EXECUTION.kind,
            "metadata": {"name": record.name, "namespace": record.namespace,
                         "labels": {AUTOMATION_LABEL: _label(record.automation),
                                    "app.kubernetes.io/managed-by": "wbauto",
                                    **({PENDING_LABEL: "true"} if self.label_pending and not record.terminal
                                       else {})}},
            "spec": record.spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
        }
        try:
            created = await self._client.create(kube.EXECUTIONS, record.namespace, body)
        except kube.Conflict:
            return False
        record.created = _time((created.get("metadata") or {}).get("creationTimestamp"))
        if record.status.phase is not Phase.PENDING or record.status.attempts:
            await self.save_status(record)
        return True

    async def save_status(self, record: ExecutionRecord) -> bool:
        status = record.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        try:
            await self._client.patch(kube.EXECUTIONS, record.namespace, record.name,
                                     {"status": {**status, **_nulls(status)}}, status=True)
        except kube.NotFound:
            return False
        return True

    async def _all(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        if not self._namespaces:
            return await self._client.list(kube.EXECUTIONS, None, label_selector=label_selector)
        out: list[dict[str, Any]] = []
        for ns in self._namespaces:
            out += await self._client.list(kube.EXECUTIONS, ns, label_selector=label_selector)
        return out

    async def pending(self) -> list[ExecutionRecord]:
        """Every non-terminal execution (a full list: on becoming the leader)."""
        records = [record_of(o) for o in await self._all()]
        return sorted((r for r in records if not r.terminal), key=lambda r: r.created)

    async def claim_labelled(self) -> list[ExecutionRecord]:
        """Executions a standby stored: take them (remove the label) and return the non-terminal ones."""
        claimed = []
        for obj in await self._all(f"{PENDING_LABEL}=true"):
            record = record_of(obj)
            await self._client.patch(kube.EXECUTIONS, record.namespace, record.name,
                                     {"metadata": {"labels": {PENDING_LABEL: None}}})
            if not record.terminal:
                claimed.append(record)
        return claimed

    async def since(self, moment: datetime.datetime) -> list[ExecutionRecord]:
        return sorted((r for r in (record_of(o) for o in await self._all()) if r.created >= moment),
                      key=lambda r: r.created)

    async def history(self, namespace: str | None = None, automation: str | None = None,
                      limit: int = 50) -> list[ExecutionRecord]:
        selector = f"{AUTOMATION_LABEL}={_label(automation)}" if automation else None
        if namespace:
            objs = await self._client.list(kube.EXECUTIONS, namespace, label_selector=selector)
        else:
            objs = await self._all(selector)
        records = sorted((record_of(o) for o in objs), key=lambda r: (r.created, r.name), reverse=True)
        return records[:limit]

    async def prune(self, keep: int, older_than: datetime.datetime) -> int:
        by_automation: dict[tuple[str, str], list[ExecutionRecord]] = defaultdict(list)
        for obj in await self._all():
            record = record_of(obj)
            by_automation[(record.namespace, record.automation)].append(record)
        removed = 0
        horizon = datetime.datetime.now(datetime.UTC) - DEDUPE_HORIZON  # younger ones are the dedupe record
        for records in by_automation.values():
            records.sort(key=lambda r: r.created, reverse=True)
            for index, record in enumerate(records):
                if record.terminal and ((index >= keep and record.created < horizon) or record.created < older_than):
                    await self._client.delete(kube.EXECUTIONS, record.namespace, record.name)
                    removed += 1
        return removed

    # --- cursors ----------------------------------------------------------------------------------------

    @staticmethod
    def cursor_name(key: str) -> str:
        return "wbauto-cursor-" + hashlib.sha256(key.encode()).hexdigest()[:20]

    async def load_cursor(self, key: str) -> dict[str, Any] | None:
        try:
            cm = await self._client.get(kube.CONFIGMAPS, self._namespace, self.cursor_name(key))
        except kube.NotFound:
            return None
        text = (cm.get("data") or {}).get("cursor")
        return json.loads(text) if text else None

    async def save_cursor(self, key: str, data: dict[str, Any]) -> None:
        name = self.cursor_name(key)
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self._namespace,
                             "labels": {CURSOR_LABEL: "true", "app.kubernetes.io/managed-by": "wbauto"},
                             "annotations": {f"{kinds.PREFIX}/scope": key[:1000]}},
                "data": {"cursor": json.dumps(data, separators=(",", ":"))}}
        try:
            await self._client.replace(kube.CONFIGMAPS, self._namespace, name, body)
        except kube.NotFound:
            await self._client.create(kube.CONFIGMAPS, self._namespace, body)

    async def close(self) -> None:
        return None


_OPTIONAL = ("nextAttemptTime", "error", "responseCode", "responseBody", "result", "request")


def _nulls(status: dict[str, Any]) -> dict[str, Any]:
    """Optional fields the new status lacks are removed explicitly (a merge patch keeps old keys)."""
    return {k: None for k in _OPTIONAL if k not in status}
