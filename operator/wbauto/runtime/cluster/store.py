"""The in-cluster store: executions are ``AutomationExecution`` objects, with the leader's outbox journal
(:mod:`wbauto.runtime.cluster.journal`) in front of them; poll cursors are ConfigMaps in the operator's
namespace (one per scope).

The leader's hot path makes no apiserver request of its own per execution: a new execution and each
outcome are journal entries, group-committed with every other execution of the moment. Its
AutomationExecution object (the history, ``kubectl get automationexecutions``) is written once, with
its status, by a background *history writer* when the execution is terminal — or at once when its first
attempt failed and it waits for a retry, so that an execution that waits is an object a user can see
and delete (deleting it cancels it, as before). Until its object exists, ``history()`` reads the
execution from the journal. A replica that does not lead (a standby's receiver) stores objects
directly, labelled for the leader to claim; so did every version before the journal, and those objects
are read the same way.

Memory and idle cost do not grow with the history: the leader lists executions once when it starts
leading and keeps only a small index (name, automation, creation time, terminal) for deduplication and
retention, which deletes from that index instead of listing everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from wbauto.api import kinds
from wbauto.api.execution import (
    DEDUPE_HORIZON,
    AutomationExecutionSpec,
    AutomationExecutionStatus,
    ExecutionRecord,
    Phase,
    execution_conditions,
)
from wbauto.errors import KubeError
from wbauto.kube import client as kube
from wbauto.runtime.cluster import journal as journals

log = logging.getLogger("wbauto.k8s")

AUTOMATION_LABEL = f"{kinds.PREFIX}/automation"
PENDING_LABEL = f"{kinds.PREFIX}/pending"
CURSOR_LABEL = f"{kinds.PREFIX}/cursor"
CREATED_ANNOTATION = f"{kinds.PREFIX}/created"
HISTORY_WRITERS = 4
"""Concurrent history-object creates: enough to keep up between bursts, few enough to leave the
apiserver to the rest of the cluster (the history lags a burst; the journal holds it meanwhile)."""

HISTORY_BURST_RATE = 50
"""New executions per second at which the history writers step aside: during a burst the apiserver's
capacity goes to the journal and the deliveries, and the history objects follow when it ends."""
HISTORY_DEFER_LIMIT = 10_000
"""Unwritten history objects beyond which the writers write whatever the rate (a burst that does not end
must not grow the journal without bound)."""

Key = tuple[str, str]


class Arrivals:
    """New executions per second over the last whole second (pure: the caller passes the clock's time)."""

    def __init__(self) -> None:
        self._second = 0
        self._count = 0
        self._previous = 0

    def note(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            self._previous = self._count if second == self._second + 1 else 0
            self._second, self._count = second, 0
        self._count += 1

    def rate(self, now: float) -> int:
        second = int(now)
        if second == self._second:
            return max(self._previous, self._count)
        return self._count if second == self._second + 1 else 0


def _time(value: str | None) -> datetime.datetime:
    if not value:
        return datetime.datetime.now(datetime.UTC)
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def record_of(obj: dict[str, Any]) -> ExecutionRecord:
    """An execution as stored. One created Skipped or Failed whose status write did not happen (objects
    written before statuses were part of the create) is read as such from its spec, never as Pending."""
    meta = obj.get("metadata") or {}
    spec = AutomationExecutionSpec.model_validate(obj.get("spec") or {})
    status = AutomationExecutionStatus.model_validate(obj.get("status") or {})
    created = _time((meta.get("annotations") or {}).get(CREATED_ANNOTATION) or meta.get("creationTimestamp"))
    if status.phase is Phase.PENDING and not status.attempts and (spec.skip_reason or spec.failure):
        phase = Phase.SKIPPED if spec.skip_reason else Phase.FAILED
        status = status.model_copy(update={"phase": phase, "error": spec.skip_reason or spec.failure,
                                           "completion_time": created})
    return ExecutionRecord(namespace=str(meta.get("namespace")), name=str(meta.get("name")), spec=spec,
                           status=status, created=created)


def _label(value: str) -> str:
    return value[:63].rstrip("-_.")


def status_of(record: ExecutionRecord) -> dict[str, Any]:
    status = record.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    status["conditions"] = execution_conditions(record.status, record.created)
    return status


def body_of(record: ExecutionRecord, *, pending_label: bool = False) -> dict[str, Any]:
    """The AutomationExecution object of ``record``, status included (the kind has no status
    subresource: the operator writes each object whole)."""
    return {
        "apiVersion": kinds.API_VERSION,
        "kind": kinds.AUTOMATION_EXECUTION.kind,
        "metadata": {"name": record.name, "namespace": record.namespace,
                     "labels": {AUTOMATION_LABEL: _label(record.automation),
                                "app.kubernetes.io/managed-by": "wbauto",
                                **({PENDING_LABEL: "true"} if pending_label else {})},
                     "annotations": {CREATED_ANNOTATION: record.created.astimezone(datetime.UTC).isoformat()}},
        "spec": record.spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
        "status": status_of(record),
    }


def expired(entries: list[tuple[datetime.datetime, bool, Any]], keep: int, older_than: datetime.datetime,
            horizon: datetime.datetime) -> list[Any]:
    """Pure retention of one Automation's ``(created, terminal, item)`` executions: the terminal ones beyond
    the newest ``keep`` and created before ``horizon`` (younger ones are the dedupe record), or older than
    ``older_than``."""
    ordered = sorted(entries, key=lambda e: e[0], reverse=True)
    return [item for index, (created, terminal, item) in enumerate(ordered)
            if terminal and ((index >= keep and created < horizon) or created < older_than)]


def _minimal(body: dict[str, Any], problem: str) -> dict[str, Any]:
    """``body`` without the values an apiserver refused (variables, action config, event details)."""
    spec = dict(body.get("spec") or {})
    event = spec.get("event") or {}
    spec["event"] = {k: event[k] for k in ("id", "type", "time", "source", "entity", "project") if k in event}
    spec["variables"] = {}
    spec["action"] = {"type": (spec.get("action") or {}).get("type", "noOp"), "target": "", "config": {}}
    spec["failure"] = problem[:1000]
    return {**body, "spec": spec}


@dataclass
class _Entry:
    """What the leader remembers of a stored execution object: enough to dedupe and to prune."""

    name: str
    created: datetime.datetime
    terminal: bool


class KubeStore:
    def __init__(self, client: kube.Client, *, operator_namespace: str, namespaces: tuple[str, ...] = (),
                 journal_prefix: str = "wbauto-journal") -> None:
        self._client = client
        self._namespace = operator_namespace
        self._namespaces = namespaces  # empty: cluster-wide
        self._journal_prefix = journal_prefix
        # a standby (its receiver stores executions) labels them, so the leader finds them with a cheap list
        self.label_pending = True
        self._journal: journals.Journal | None = None
        self._loaded: list[ExecutionRecord] | None = None  # what the leader found when it started leading
        self._objects: dict[Key, _Entry] = {}               # executions with their own object
        self._by_automation: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._journaled: set[Key] = set()                   # executions only the journal holds
        self._history: asyncio.Queue[ExecutionRecord] = asyncio.Queue()  # terminal, object to write
        self._arrivals = Arrivals()
        self._writers: list[asyncio.Task[None]] = []

    # --- leadership -------------------------------------------------------------------------------------

    async def lead(self) -> None:
        """Take over the executions: index the objects, replay the journal, start the history writer."""
        await self.follow()
        objects = [record_of(o) for o in await self._all()]
        for record in objects:
            self._index(record)
        self._journal = journals.Journal(self._client, self._namespace, self._journal_prefix)
        journaled = self._take_over(await self._journal.open())
        self._loaded = objects + journaled
        self._writers = [asyncio.create_task(self._write_history(), name=f"wbauto-history-{i}")
                         for i in range(HISTORY_WRITERS)]
        self.label_pending = False
        log.info("executions loaded: %d objects, %d in the journal", len(objects), len(journaled))

    async def follow(self) -> None:
        """Stop writing as the leader (the next leader replays the journal)."""
        self.label_pending = True
        for task in self._writers:
            task.cancel()
        for task in self._writers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._writers = []
        if self._journal is not None:
            await self._journal.close()
            self._journal = None
        self._loaded = None
        self._objects.clear()
        self._by_automation.clear()
        self._journaled.clear()
        self._history = asyncio.Queue()

    def _take_over(self, bodies: dict[Key, dict[str, Any]]) -> list[ExecutionRecord]:
        """Executions replayed from the journal, except those whose object exists (the object is the truth);
        terminal ones go to the history writer."""
        assert self._journal is not None
        journaled = []
        for key, body in bodies.items():
            if key in self._objects:
                self._journal.settle(key)
                continue
            record = record_of(body)
            self._journaled.add(key)
            journaled.append(record)
            if record.terminal:
                self._history.put_nowait(record)
        return journaled

    def _index(self, record: ExecutionRecord) -> None:
        key = (record.namespace, record.name)
        self._objects[key] = _Entry(record.name, record.created, record.terminal)
        self._by_automation[(record.namespace, record.automation)].add(record.name)

    # --- executions -------------------------------------------------------------------------------------

    async def create(self, record: ExecutionRecord) -> bool:
        key = (record.namespace, record.name)
        if self._journal is None:
            return await self._create_object(record)
        if key in self._objects or key in self._journaled:
            return False
        body = body_of(record)
        self._journaled.add(key)
        self._arrivals.note(time.monotonic())
        try:
            await self._journal.append(journals.record_entry(body), key)
        except BaseException:
            self._journaled.discard(key)
            raise
        if record.terminal:
            self._history.put_nowait(record)
        return True

    async def _create_object(self, record: ExecutionRecord) -> bool:
        """A standby (or a CLI) stores the object itself, labelled for the leader to claim."""
        try:
            created = await self._client.create(kube.EXECUTIONS, record.namespace,
                                                body_of(record, pending_label=not record.terminal))
        except kube.Conflict:
            return False
        record.created = _time(((created.get("metadata") or {}).get("annotations") or {}).get(CREATED_ANNOTATION))
        return True

    async def save_status(self, record: ExecutionRecord) -> bool:
        key = (record.namespace, record.name)
        if self._journal is None or key in self._objects or key not in self._journaled:
            return await self._patch_status(record)
        if record.terminal:
            await self._journal.append(journals.status_entry(key, status_of(record)), key)
            self._history.put_nowait(record)
            return True
        # it waits for a retry: it becomes an object now, one a user can see (and delete to cancel)
        try:
            await self._client.create(kube.EXECUTIONS, record.namespace, body_of(record))
        except kube.Conflict:
            return await self._patch_status(record)
        self._settled(record)
        return True

    async def _patch_status(self, record: ExecutionRecord) -> bool:
        status = status_of(record)
        try:
            await self._client.patch(kube.EXECUTIONS, record.namespace, record.name,
                                     {"status": {**status, **_nulls(status)}})
        except kube.NotFound:
            self._objects.pop((record.namespace, record.name), None)
            return False
        entry = self._objects.get((record.namespace, record.name))
        if entry is not None:
            entry.terminal = record.terminal
        return True

    def _settled(self, record: ExecutionRecord) -> None:
        key = (record.namespace, record.name)
        self._index(record)
        self._journaled.discard(key)
        if self._journal is not None:
            self._journal.settle(key)

    async def _write_history(self) -> None:
        while True:
            record = await self._history.get()  # the body is built now: a burst's backlog holds records only
            while self._history.qsize() < HISTORY_DEFER_LIMIT and \
                    self._arrivals.rate(time.monotonic()) >= HISTORY_BURST_RATE:  # noqa: ASYNC110 - a rate
                await asyncio.sleep(0.25)  # over time, not an event to wait for: the history follows a burst
            body = body_of(record)
            try:
                try:
                    await self._client.create(kube.EXECUTIONS, record.namespace, body)
                except kube.Conflict:
                    pass  # written before (a replay after a restart)
                except KubeError as exc:
                    if exc.status not in (400, 413, 422):
                        raise
                    log.error("AutomationExecution %s/%s could not be stored as is (%s); storing it without "
                              "its event details and variables", record.namespace, record.name, exc)
                    await self._client.create(kube.EXECUTIONS, record.namespace,
                                              _minimal(body, f"the execution could not be stored: {exc}"))
            except kube.Conflict:
                pass
            except KubeError as exc:
                log.warning("history of %s/%s not written yet (%s); trying again", record.namespace,
                            record.name, exc)
                await asyncio.sleep(1.0)
                self._history.put_nowait(record)
                continue
            self._settled(record)

    async def _all(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        if not self._namespaces:
            return await self._client.list(kube.EXECUTIONS, None, label_selector=label_selector)
        out: list[dict[str, Any]] = []
        for ns in self._namespaces:
            out += await self._client.list(kube.EXECUTIONS, ns, label_selector=label_selector)
        return out

    async def _snapshot(self) -> list[ExecutionRecord]:
        if self._loaded is not None:
            return self._loaded
        return [record_of(o) for o in await self._all()]

    async def pending(self) -> list[ExecutionRecord]:
        """Every non-terminal execution (once, when this replica starts leading)."""
        records, self._loaded = await self._snapshot(), None
        return sorted((r for r in records if not r.terminal), key=lambda r: r.created)

    async def claim_labelled(self) -> list[ExecutionRecord]:
        """Executions a standby stored: take them (remove the label) and return the non-terminal ones."""
        claimed = []
        for obj in await self._all(f"{PENDING_LABEL}=true"):
            record = record_of(obj)
            await self._client.patch(kube.EXECUTIONS, record.namespace, record.name,
                                     {"metadata": {"labels": {PENDING_LABEL: None}}})
            self._index(record)
            if not record.terminal:
                claimed.append(record)
        return claimed

    async def adopt(self) -> list[ExecutionRecord]:
        """Journal segments another replica wrote after this one started leading (it lost the Lease and
        had not noticed yet): their non-terminal executions, to deliver; terminal ones get their objects."""
        if self._journal is None:
            return []
        return [r for r in self._take_over(await self._journal.foreign()) if not r.terminal]

    async def since(self, moment: datetime.datetime) -> list[ExecutionRecord]:
        return sorted((r for r in await self._snapshot() if r.created >= moment), key=lambda r: r.created)

    async def history(self, namespace: str | None = None, automation: str | None = None,
                      limit: int = 50) -> list[ExecutionRecord]:
        """Newest first: the objects, and the executions only the journal holds yet."""
        selector = f"{AUTOMATION_LABEL}={_label(automation)}" if automation else None
        if namespace:
            objs = await self._client.list(kube.EXECUTIONS, namespace, label_selector=selector)
        else:
            objs = await self._all(selector)
        records = {(r.namespace, r.name): r for r in map(record_of, objs)}
        try:
            bodies, _ = await journals.Journal(self._client, self._namespace, self._journal_prefix).read()
        except (kube.Forbidden, kube.NotFound):
            bodies = {}  # no access to the operator's namespace: the objects only
        for key, body in bodies.items():
            record = record_of(body)
            if key not in records and (namespace is None or record.namespace == namespace) and \
                    (automation is None or record.automation == automation):
                records[key] = record
        return sorted(records.values(), key=lambda r: (r.created, r.name), reverse=True)[:limit]

    async def prune(self, keep: int, older_than: datetime.datetime) -> int:
        """Retention from the leader's index (no listing): terminal objects beyond the newest ``keep`` per
        automation or older than the cutoff; none younger than :data:`DEDUPE_HORIZON` unless past the cutoff."""
        if self._journal is None:
            return await self._prune_listed(keep, older_than)
        removed = 0
        horizon = datetime.datetime.now(datetime.UTC) - DEDUPE_HORIZON
        for (namespace, _), names in list(self._by_automation.items()):
            entries = [(e.created, e.terminal, e) for n in names
                       if (e := self._objects.get((namespace, n))) is not None]
            for entry in expired(entries, keep, older_than, horizon):
                await self._client.delete(kube.EXECUTIONS, namespace, entry.name)
                self._objects.pop((namespace, entry.name), None)
                names.discard(entry.name)
                removed += 1
        return removed

    async def _prune_listed(self, keep: int, older_than: datetime.datetime) -> int:
        by_automation: dict[tuple[str, str], list[ExecutionRecord]] = defaultdict(list)
        for obj in await self._all():
            record = record_of(obj)
            by_automation[(record.namespace, record.automation)].append(record)
        removed = 0
        horizon = datetime.datetime.now(datetime.UTC) - DEDUPE_HORIZON
        for records in by_automation.values():
            for record in expired([(r.created, r.terminal, r) for r in records], keep, older_than, horizon):
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
        await self.follow()


_OPTIONAL = ("nextAttemptTime", "error", "responseCode", "responseBody", "result", "request")


def _nulls(status: dict[str, Any]) -> dict[str, Any]:
    """Optional fields the new status lacks are removed explicitly (a merge patch keeps old keys)."""
    return {k: None for k in _OPTIONAL if k not in status}
