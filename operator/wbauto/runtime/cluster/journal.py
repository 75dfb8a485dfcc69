"""The in-cluster outbox journal: executions made durable many per apiserver write (group commit).

An execution must be stored before its action runs and its outcome before it is forgotten. One
apiserver object per execution caps the operator at what the apiserver can create (a few hundred per
second on small control planes), so the leader appends executions and their outcomes to a journal
instead: one ConfigMap *segment* (in the operator's namespace) holds every entry that arrived while the
previous segment was being written, so the batch grows with the load and a write carries hundreds of
executions at once. A caller's :meth:`Journal.append` returns once its segment is stored.

Entries are JSON lines: ``{"r": BODY}`` (a new execution, as the AutomationExecution it becomes) or
``{"k": [NAMESPACE, NAME], "s": STATUS}`` (its status after an attempt). Replaying the segments in
sequence order gives the latest state of each execution. Once an execution has its own
AutomationExecution object (written by the store's history writer), the journal no longer needs it; a
segment none of whose executions is still needed is deleted.

Segment names carry a sequence number, so a writer that lost the Lease and writes the number the new
leader already used fails with a conflict instead of forking the journal. Secrets are never in entries:
executions hold snapshots and references, as AutomationExecution objects do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from wbauto.api import kinds
from wbauto.errors import KubeError
from wbauto.kube import client as kube

log = logging.getLogger("wbauto.k8s")

Key = tuple[str, str]

SEGMENT_LABEL = f"{kinds.PREFIX}/journal"
MAX_SEGMENT_BYTES = 512 * 1024
"""Entries per ConfigMap stop here (a ConfigMap holds 1 MiB); a single entry is never larger than
:data:`MAX_ENTRY_BYTES`."""
MAX_ENTRY_BYTES = 256 * 1024
_SEQ = re.compile(r"-(\d{10})$")


class EntryTooLarge(KubeError):
    """Raised by :meth:`Journal.append` for an entry beyond :data:`MAX_ENTRY_BYTES` (a value the journal
    cannot hold: the caller stores a smaller record instead)."""


def record_entry(body: dict[str, Any]) -> str:
    return json.dumps({"r": body}, separators=(",", ":"))


def status_entry(key: Key, status: dict[str, Any]) -> str:
    return json.dumps({"k": list(key), "s": status}, separators=(",", ":"))


def replay(segments: Iterable[tuple[str, str]]) -> tuple[dict[Key, dict[str, Any]], dict[str, set[Key]]]:
    """Pure: the latest body of each execution in ``(name, text)`` segments given in sequence order, and
    the executions each segment mentions. A status entry whose execution is not in the journal (it
    already has its own object, and its segment was deleted) is ignored; a line that is not an entry
    (a truncated or hand-edited segment) is skipped with a warning."""
    bodies: dict[Key, dict[str, Any]] = {}
    mentions: dict[str, set[Key]] = {}
    for name, text in segments:
        keys: set[Key] = set()
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if "r" in entry:
                    body = entry["r"]
                    meta = body["metadata"]
                    key = (str(meta["namespace"]), str(meta["name"]))
                    bodies[key] = body
                else:
                    key = (str(entry["k"][0]), str(entry["k"][1]))
                    if key in bodies:
                        bodies[key] = {**bodies[key], "status": entry["s"]}
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                log.warning("journal segment %s line %d is not an entry (%s); skipped", name, number, exc)
                continue
            keys.add(key)
        mentions[name] = keys
    return bodies, mentions


def sequence_of(name: str) -> int:
    match = _SEQ.search(name)
    return int(match.group(1)) if match else -1


class Journal:
    """The leader's group-committed outbox (see the module docstring)."""

    def __init__(self, client: kube.Client, namespace: str, prefix: str) -> None:
        self._client = client
        self._namespace = namespace
        self._prefix = prefix
        self._selector = f"{SEGMENT_LABEL}={prefix}"
        self._seq = 0
        self._buffer: list[tuple[str, Key, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._keys_of: dict[str, set[Key]] = {}  # segment name -> executions it still holds
        self._segments_of: dict[Key, set[str]] = defaultdict(set)
        self._known: set[str] = set()  # segment names written or replayed by this writer
        self._deletions: asyncio.Queue[str] = asyncio.Queue()
        self._deleter: asyncio.Task[None] | None = None
        self.segments_written = 0
        self.entries_written = 0

    # --- reading ----------------------------------------------------------------------------------------

    async def read(self) -> tuple[dict[Key, dict[str, Any]], dict[str, set[Key]]]:
        """Every execution the journal holds, as AutomationExecution bodies (any replica, the CLI)."""
        items = await self._client.list(kube.CONFIGMAPS, self._namespace, label_selector=self._selector)
        items.sort(key=lambda cm: sequence_of(str((cm.get("metadata") or {}).get("name", ""))))
        return replay((str(cm["metadata"]["name"]), str((cm.get("data") or {}).get("entries", "")))
                      for cm in items)

    async def open(self) -> dict[Key, dict[str, Any]]:
        """Become the journal's writer: replay it and continue after its last segment."""
        bodies, mentions = await self.read()
        self._keys_of, self._segments_of, self._known = {}, defaultdict(set), set()
        self._track(mentions)
        self._task = asyncio.create_task(self._run(), name="wbauto-journal")
        self._deleter = asyncio.create_task(self._delete_settled(), name="wbauto-journal-prune")
        return bodies

    async def close(self) -> None:
        for task in (self._task, self._deleter):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._deleter = None
        for _, _, future in self._buffer:
            if not future.done():
                future.set_exception(KubeError("the journal was closed (leadership lost)", status=0))
        self._buffer.clear()

    async def foreign(self) -> dict[Key, dict[str, Any]]:
        """Executions in segments this writer did not write or replay: a replica that lost the Lease and
        wrote before it noticed. The leader takes them over (they are then tracked as its own)."""
        items = await self._client.list(kube.CONFIGMAPS, self._namespace, label_selector=self._selector)
        new = [cm for cm in items if str(cm["metadata"]["name"]) not in self._known]
        if not new:
            return {}
        new.sort(key=lambda cm: sequence_of(str(cm["metadata"]["name"])))
        bodies, mentions = replay((str(cm["metadata"]["name"]), str((cm.get("data") or {}).get("entries", "")))
                                  for cm in new)
        self._track(mentions)
        return bodies

    def _track(self, mentions: dict[str, set[Key]]) -> None:
        for name, keys in mentions.items():
            self._known.add(name)
            self._seq = max(self._seq, sequence_of(name))
            if not keys:
                self._deletions.put_nowait(name)
                continue
            self._keys_of[name] = set(keys)
            for key in keys:
                self._segments_of[key].add(name)

    # --- writing ----------------------------------------------------------------------------------------

    async def append(self, line: str, key: Key) -> None:
        """Store one entry; returns when the segment holding it is written. Raises :class:`KubeError`
        when the segment could not be written (the caller retries) and :class:`EntryTooLarge`."""
        if len(line) > MAX_ENTRY_BYTES:
            raise EntryTooLarge(f"the execution is {len(line)} bytes as JSON; at most {MAX_ENTRY_BYTES}",
                                status=413)
        if self._task is None:
            raise KubeError("the journal is not open (this replica does not lead)", status=0)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer.append((line, key, future))
        self._wake.set()
        await future

    def settle(self, key: Key) -> None:
        """``key`` has its own object now; segments left with nothing to hold are deleted."""
        for name in self._segments_of.pop(key, ()):
            keys = self._keys_of.get(name)
            if keys is None:
                continue
            keys.discard(key)
            if not keys:
                del self._keys_of[name]
                self._deletions.put_nowait(name)

    def holds(self, key: Key) -> bool:
        return key in self._segments_of

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer:
                batch: list[tuple[str, Key, asyncio.Future[None]]] = []
                size = 0
                while self._buffer and (not batch or size + len(self._buffer[0][0]) < MAX_SEGMENT_BYTES):
                    item = self._buffer.pop(0)
                    batch.append(item)
                    size += len(item[0]) + 1
                try:
                    name = await self._write([line for line, _, _ in batch])
                except KubeError as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                keys = {key for _, key, _ in batch}
                self._keys_of[name] = keys
                for key in keys:
                    self._segments_of[key].add(name)
                self.segments_written += 1
                self.entries_written += len(batch)
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _write(self, lines: list[str]) -> str:
        self._seq += 1
        name = f"{self._prefix}-{self._seq:010d}"
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self._namespace,
                             "labels": {SEGMENT_LABEL: self._prefix, "app.kubernetes.io/managed-by": "wbauto"}},
                "data": {"entries": "\n".join(lines)}}
        self._known.add(name)  # before the write: a concurrent foreign() must never take it for another's
        try:
            await self._client.create(kube.CONFIGMAPS, self._namespace, body)
        except kube.Conflict as exc:
            # another writer used this number: a leader that took over (we lost the Lease) — never fork
            raise KubeError(f"journal segment {name} exists: another replica writes the journal", status=409) \
                from exc
        except KubeError:
            self._known.discard(name)
            raise
        return name

    async def _delete_settled(self) -> None:
        while True:
            name = await self._deletions.get()
            try:
                await self._client.delete(kube.CONFIGMAPS, self._namespace, name)
                self._known.discard(name)
            except KubeError as exc:
                log.warning("could not delete settled journal segment %s (%s); it is deleted on the next "
                            "leader start", name, exc)
