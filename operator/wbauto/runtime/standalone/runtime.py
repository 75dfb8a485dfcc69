"""The standalone runtime: the same engine on a folder of manifests (a GitOps checkout), with executions,
cursors and statuses in a local SQLite file. For W&B Server installs on a single VM and the demo.

The folder is re-read every few seconds; added, changed and removed documents take effect like
``kubectl apply`` / ``delete`` would. Statuses are logged and kept in the state file
(``wbauto history --state FILE`` shows the executions).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from wbauto.admission import files
from wbauto.api import kinds, manifests
from wbauto.api.conditions import READY
from wbauto.api.execution import ExecutionRecord, Phase
from wbauto.runtime import http
from wbauto.runtime.engine import Engine
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.settings import Settings
from wbauto.runtime.standalone.store import SqliteStore
from wbauto.runtime.world import Key, World, key_of
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver
from wbauto.wbapi.client import Client as WandbClient

log = logging.getLogger("wbauto.standalone")

SCAN_INTERVAL = 2.0


def default_state_path(directory: Path) -> Path:
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:12]
    return Path.home() / ".local" / "state" / "wbauto" / f"{directory.resolve().name}-{digest}.sqlite"


class StandaloneReporter:
    """Statuses go to the log and stay in memory; Kubernetes Events become log lines."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def status(self, key: Key, body: dict[str, Any], status: dict[str, Any]) -> None:
        ready = next((c for c in status.get("conditions", []) if c["type"] == READY), None)
        old = next((c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == READY), None)
        if ready is not None and (old is None or (old["status"], old["reason"]) != (ready["status"], ready["reason"])):
            level = logging.INFO if ready["status"] == "True" else logging.WARNING
            log.log(level, "%s %s/%s Ready=%s %s: %s", *key, ready["status"], ready["reason"], ready["message"])

    async def event(self, key: Key, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        return None  # the status line above already says it

    async def execution(self, record: ExecutionRecord) -> None:
        status = record.status
        level = logging.WARNING if status.phase is Phase.FAILED else logging.INFO
        if status.phase is Phase.PENDING and status.attempts:
            log.info("execution %s/%s attempt %d failed, retrying at %s: %s", record.namespace, record.name,
                     status.attempts, status.next_attempt_time, status.error)
            return
        log.log(level, "execution %s/%s %s: %s (%s)%s", record.namespace, record.name, status.phase.value,
                record.spec.event.summary(), record.spec.action.target,
                f" HTTP {status.response_code}" if status.response_code else "")
        key = (kinds.AUTOMATION.kind, record.namespace, record.automation)
        body = self._world.bodies.get(key)
        if body is not None:
            last = {"name": record.name, "time": record.created.isoformat(), "status": status.phase.value,
                    "responseCode": status.response_code, "error": status.error}
            body["status"] = {**(body.get("status") or {}),
                              "lastExecution": {k: v for k, v in last.items() if v is not None}}


class ManifestFolder:
    """Feeds the reconciler from a folder, like watch events from an apiserver.

    Input never stops it: a file that cannot be read or parsed is reported and its previous documents stay
    in force (as an apply that failed leaves the cluster as it was); an invalid object is observed and
    reported Stalled by the reconciler; any other failure of a scan is logged and the next scan runs.
    """

    SERVED = frozenset(k.kind for k in kinds.KINDS if k is not kinds.AUTOMATION_EXECUTION)

    def __init__(self, directory: Path, reconciler: Reconciler) -> None:
        self.directory = directory
        self.reconciler = reconciler
        self._seen: dict[Key, str] = {}
        self._mtimes: dict[Path, float] = {}
        self._documents: dict[Path, list[dict[str, Any]]] = {}  # the last readable documents of each file
        self._errors: dict[Path, str] = {}

    def _changed(self) -> bool:
        found: dict[Path, float] = {}
        for p in files.manifest_files([self.directory]):
            with contextlib.suppress(OSError):  # removed between the listing and the stat
                found[p] = p.stat().st_mtime
        if found == self._mtimes:
            return False
        self._mtimes = found
        return True

    def _read(self, path: Path) -> list[dict[str, Any]]:
        """The file's documents of our kinds; on an unreadable file, the previous ones (and a log line)."""
        try:
            entries = list(files.read_documents(path))
            problems = [f"{e.source}: {e.error}" for e in entries if e.error is not None]
            if problems:
                raise files.ManifestError("; ".join(problems))
        except files.ManifestError as exc:
            if self._errors.get(path) != str(exc):
                log.error("%s (the file's previous documents stay in force until it is fixed)", exc)
            self._errors[path] = str(exc)
            return self._documents.get(path, [])
        if self._errors.pop(path, None) is not None:
            log.info("%s: readable again", path)
        docs = []
        for entry in entries:
            if self.served(entry.value):
                docs.append(entry.value)
            elif manifests.is_ours(entry.value):
                log.warning("%s: kind %s is not one this runtime serves (%s); the document is ignored",
                            entry.source, json.dumps(entry.value.get("kind"), default=str)[:80],
                            ", ".join(sorted(self.SERVED)))
        self._documents[path] = docs
        return docs

    @classmethod
    def served(cls, doc: Any) -> bool:
        """Whether a document is one of the kinds this folder applies (any other value of ``kind``, of any
        type, is not)."""
        kind = doc.get("kind") if manifests.is_ours(doc) else None
        return isinstance(kind, str) and kind in cls.SERVED

    def scan(self) -> None:
        if not self._changed():
            return
        current: dict[Key, dict[str, Any]] = {}
        for path in sorted(self._mtimes):
            for doc in self._read(path):
                current[key_of(doc)] = doc
        for path in [p for p in self._documents if p not in self._mtimes]:
            del self._documents[path]
            self._errors.pop(path, None)
        for key, doc in current.items():
            text = repr(doc)
            if self._seen.get(key) != text:
                self._seen[key] = text
                self.reconciler.observe(self._as_stored(key, doc))
        for key in [k for k in self._seen if k not in current]:
            del self._seen[key]
            self.reconciler.forget(key)

    def _as_stored(self, key: Key, doc: dict[str, Any]) -> dict[str, Any]:
        """The object as an apiserver would hold it: a copy, with our generation and status (a manifest's
        own ``status`` is ignored, as the status subresource ignores it); a generation that is not an integer
        is left for admission to refuse."""
        body = copy.deepcopy(doc)
        body.pop("status", None)
        previous = self.reconciler.world.bodies.get(key)
        meta = body.get("metadata")
        if isinstance(meta, dict):
            meta.setdefault("namespace", key[1])
            written = meta.get("generation")
            if written is None or (isinstance(written, int) and not isinstance(written, bool)):
                old = (previous or {}).get("metadata")
                old_generation = old.get("generation") if isinstance(old, dict) else None
                meta["generation"] = old_generation + 1 if isinstance(old_generation, int) else 1
        if previous is not None and isinstance(previous.get("status"), dict):
            body["status"] = previous["status"]
        return body

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(SCAN_INTERVAL)
            try:
                self.scan()
            except Exception:  # never let one scan stop the watcher: the next one may see a fixed folder
                log.exception("scanning %s failed; retrying in %.0f s", self.directory, SCAN_INTERVAL)


class Standalone:
    def __init__(self, settings: Settings, directory: Path, state: Path | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self.store = SqliteStore(state or default_state_path(directory), sync=settings.state_sync)
        self.world = World()
        self.resolver = Resolver(secrets_base.Context(allow_local=True), self.world.secret_reference)
        self.reporter = StandaloneReporter(self.world)
        key = settings.wandb_api_key()
        self.wandb = WandbClient(settings.wandb_base_url, key) if key else None
        self.engine = Engine(settings, self.world, self.store, self.resolver, self.reporter, wandb=self.wandb)
        self.reconciler = Reconciler(self.world, self.resolver, settings.egress_policy, self.reporter)
        self.reconciler.source_problem = self.engine.source_problem
        self.reconciler.on_change.append(lambda key: self.engine.replan_soon())
        self.engine.health_listeners.append(self._requeue)
        self.folder = ManifestFolder(directory, self.reconciler)
        self._tasks: list[asyncio.Task[Any]] = []
        self._runners: list[web.AppRunner] = []

    def _requeue(self, keys: list[Key]) -> None:
        for key in keys:
            self.reconciler.queue.add(key)

    async def start(self) -> None:
        self.folder.scan()
        await self.engine.start()
        self._tasks = [asyncio.create_task(self.reconciler.run(), name="wbauto-reconciler"),
                       asyncio.create_task(self.folder.watch(), name="wbauto-manifests")]
        receiver = self.engine.receiver("default")
        for address, routes in ((self.settings.metrics_address, http.metrics_routes()),
                                (self.settings.health_address, http.health_routes(lambda: (True, "standalone"))),
                                (self.settings.receiver_address, receiver.routes() if receiver else [])):
            runner = await http.serve(address, routes)
            if runner is not None:
                self._runners.append(runner)
        log.info("wbauto standalone started on %s (%d objects, W&B polling %s)", self.directory,
                 len(self.world.bodies), "on" if self.wandb else "off: no WANDB_API_KEY")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runner in self._runners:
            await runner.cleanup()
        await self.engine.stop()
        await self.resolver.aclose()
        if self.wandb is not None:
            await self.wandb.aclose()
        await self.store.close()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every loaded object is Ready."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not all(self.world.ready.get(k) for k in self.world.bodies):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("objects not reconciled in time")
            await asyncio.sleep(0.05)


async def run(settings: Settings, directory: Path, state: Path | None) -> int:
    if not await asyncio.to_thread(directory.is_dir):
        log.error("%s is not a directory of manifests", directory)
        return 2
    app = Standalone(settings, directory, state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await app.stop()
    return 0
