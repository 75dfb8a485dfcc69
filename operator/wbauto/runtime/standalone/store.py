"""The standalone runtime's store: executions and poll cursors in one SQLite file.

Retention keeps the names of the executions it removes (table ``dedupe``) for ``DEDUPE_HORIZON``, and
``create`` refuses those names: a re-detected event does not run again after its execution was pruned.

WAL journal, one connection used from one worker thread (SQLite calls never block the event loop).
Writes are group-committed: those issued while a commit is running go into the next transaction, and
each caller resumes only after its transaction committed — so nothing acknowledged is lost to a kill.

``sync="normal"`` (default) does not fsync each commit: a power loss or OS crash can drop the last
transactions, always as a suffix of the log. Cursors are saved after the executions they produced, so
polled events are then detected again (at least once still holds); only inbound-receiver events
acknowledged in that last moment could be lost. ``sync="full"`` fsyncs every group commit and closes
that gap, at a throughput cost.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from wbauto.api.execution import DEDUPE_HORIZON, AutomationExecutionSpec, AutomationExecutionStatus, ExecutionRecord

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    automation TEXT NOT NULL,
    created REAL NOT NULL,
    phase TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX IF NOT EXISTS executions_by_automation ON executions (namespace, automation, created);
CREATE INDEX IF NOT EXISTS executions_by_phase ON executions (phase);
CREATE INDEX IF NOT EXISTS executions_by_created ON executions (created);
CREATE TABLE IF NOT EXISTS dedupe (
    namespace TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS cursors (key TEXT PRIMARY KEY, data TEXT NOT NULL, updated REAL NOT NULL);
-- object statuses were once written here and never read: a state file from then opens without the table
DROP TABLE IF EXISTS statuses;
"""


class SqliteStore:
    def __init__(self, path: Path, *, sync: str = "normal") -> None:
        if sync not in ("normal", "full"):
            raise ValueError(f"sync must be normal or full, not {sync!r}")
        self.path = path
        self._sync = sync
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wbauto-sqlite")
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, future))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())  # noqa: RUF006 - it ends when the queue is empty
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._call, _batch(batch))
                except Exception as exc:  # the transaction itself failed: every writer learns it
                    outcomes = [(False, exc)] * len(batch)
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = False

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._sync.upper()}")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
            self._db = db
        with self._db:  # one transaction
            return fn(self._db)

    # --- executions -------------------------------------------------------------------------------------

    async def create(self, record: ExecutionRecord) -> bool:
        spec = record.spec.model_dump_json(by_alias=True, exclude_none=True)
        status = record.status.model_dump_json(by_alias=True, exclude_none=True)

        def insert(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "INSERT OR IGNORE INTO executions SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM dedupe WHERE namespace = ? AND name = ?)",
                (record.namespace, record.name, record.automation, record.created.timestamp(),
                 record.status.phase.value, spec, status, record.namespace, record.name),
            )
            return cur.rowcount == 1

        return await self._write(insert)

    async def save_status(self, record: ExecutionRecord) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE executions SET phase = ?, status = ? WHERE namespace = ? AND name = ?",
                (record.status.phase.value, record.status.model_dump_json(by_alias=True, exclude_none=True),
                 record.namespace, record.name))
            return cur.rowcount == 1

        return await self._write(update)

    @staticmethod
    def _records(rows: list[Any]) -> list[ExecutionRecord]:
        return [
            ExecutionRecord(
                namespace=r[0], name=r[1],
                spec=AutomationExecutionSpec.model_validate_json(r[2]),
                status=AutomationExecutionStatus.model_validate_json(r[3]),
                created=datetime.datetime.fromtimestamp(r[4], datetime.UTC),
            )
            for r in rows
        ]

    _SELECT = "SELECT namespace, name, spec, status, created FROM executions"

    async def pending(self) -> list[ExecutionRecord]:
        rows = await self._run(lambda db: db.execute(
            self._SELECT + " WHERE phase = 'Pending' ORDER BY created").fetchall())
        return self._records(rows)

    async def since(self, moment: datetime.datetime) -> list[ExecutionRecord]:
        rows = await self._run(lambda db: db.execute(
            self._SELECT + " WHERE created >= ? ORDER BY created",
            (moment.timestamp(),)).fetchall())
        return self._records(rows)

    async def history(self, namespace: str | None = None, automation: str | None = None,
                      limit: int = 50) -> list[ExecutionRecord]:
        where, args = [], []
        if namespace:
            where.append("namespace = ?")
            args.append(namespace)
        if automation:
            where.append("automation = ?")
            args.append(automation)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._run(lambda db: db.execute(
            f"{self._SELECT} {clause} ORDER BY created DESC, name LIMIT ?",
            (*args, limit)).fetchall())
        return self._records(rows)

    async def prune(self, keep: int, older_than: datetime.datetime) -> int:
        horizon = (datetime.datetime.now(datetime.UTC) - DEDUPE_HORIZON).timestamp()

        def delete(db: sqlite3.Connection) -> int:
            doomed = """SELECT rowid FROM executions WHERE phase != 'Pending' AND created < :old
                        UNION SELECT rowid FROM (
                          SELECT rowid, phase, ROW_NUMBER() OVER (
                            PARTITION BY namespace, automation ORDER BY created DESC) AS n
                          FROM executions)
                        WHERE n > :keep AND phase != 'Pending'"""
            args = {"old": older_than.timestamp(), "keep": keep, "horizon": horizon}
            db.execute(f"""INSERT OR IGNORE INTO dedupe SELECT namespace, name, created FROM executions
                           WHERE rowid IN ({doomed}) AND created >= :horizon""", args)  # noqa: S608 - constant SQL
            removed = db.execute(f"DELETE FROM executions WHERE rowid IN ({doomed})", args).rowcount  # noqa: S608
            db.execute("DELETE FROM dedupe WHERE created < :horizon", args)
            return int(removed)

        return await self._write(delete)

    # --- cursors ---------------------------------------------------------------------------------------

    async def load_cursor(self, key: str) -> dict[str, Any] | None:
        row = await self._run(lambda db: db.execute("SELECT data FROM cursors WHERE key = ?", (key,)).fetchone())
        return json.loads(row[0]) if row else None

    async def save_cursor(self, key: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, separators=(",", ":"))
        await self._write(lambda db: db.execute(
            "INSERT INTO cursors VALUES (?, ?, strftime('%s','now')) "
            "ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated = excluded.updated", (key, text)))

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)


def _batch(
    batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
) -> Callable[[sqlite3.Connection], list[tuple[bool, Any]]]:
    """One transaction running every write; each write's outcome (or error) is kept on its own."""

    def run(db: sqlite3.Connection) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        for fn, _ in batch:
            try:
                outcomes.append((True, fn(db)))
            except sqlite3.Error as exc:
                outcomes.append((False, exc))
        return outcomes

    return run
