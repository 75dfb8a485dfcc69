"""Store rules that keep at-least-once and one-execution-per-event true (issue 12 §3, §4): retention
remembers what it removed, and an execution created Skipped or Failed never reads back as Pending."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

from wbauto.api.event import Event, EventType
from wbauto.api.execution import AutomationExecutionSpec, AutomationRef, ExecutionAction, ExecutionRecord, Phase
from wbauto.runtime.cluster.store import record_of
from wbauto.runtime.standalone.store import SqliteStore

NOW = datetime.datetime.now(datetime.UTC)


def record(name: str, **spec: object) -> ExecutionRecord:
    event = Event(id="e-" + name, type=EventType.ADD_ARTIFACT_TAG, time=NOW, entity="acme", project="p", tag="t")
    return ExecutionRecord("default", name, AutomationExecutionSpec(
        automation=AutomationRef(name="auto"), event=event, action=ExecutionAction(type="noOp"),
        delivery_id="d-" + name, **spec), created=NOW)  # type: ignore[arg-type]


async def test_a_pruned_execution_is_not_created_again(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite")
    try:
        for i in range(5):
            done = record(f"x{i}").with_status(phase=Phase.FINISHED, completion_time=NOW)
            assert await store.create(done)
        assert await store.prune(keep=2, older_than=NOW - datetime.timedelta(days=7)) == 3
        assert len(await store.history(limit=10)) == 2
        # re-detected after retention removed it: still the same event, never a second execution
        assert not await store.create(record("x0"))
        assert await store.create(record("fresh"))
    finally:
        await store.close()


def test_created_skipped_or_failed_reads_back_terminal_without_its_status_write() -> None:
    """In a cluster the status is a second write; if it fails the spec still says how the execution ended."""
    for spec, phase in (({"skip_reason": "rate limit: 1 executions per 1h reached"}, Phase.SKIPPED),
                        ({"failure": "not run: Webhook default/hook is Stalled"}, Phase.FAILED), ({}, Phase.PENDING)):
        created = record("k", **spec)
        body = {"metadata": {"name": "k", "namespace": "default", "creationTimestamp": "2026-12-01T00:00:00Z"},
                "spec": created.spec.model_dump(by_alias=True, exclude_none=True, mode="json")}
        read = record_of(body)
        assert read.status.phase is phase
        assert read.terminal is (phase is not Phase.PENDING)


async def test_a_state_file_with_the_old_statuses_table_opens_and_keeps_its_executions(tmp_path: Path) -> None:
    """The ``statuses`` table was written and never read; a file written before its removal still works."""
    path = tmp_path / "old.sqlite"
    store = SqliteStore(path)
    try:
        assert await store.create(record("before"))
        await store.save_cursor("acme/p", {"index": 3})
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE statuses (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, "
                   "status TEXT NOT NULL, PRIMARY KEY (kind, namespace, name))")
        db.execute("INSERT INTO statuses VALUES ('Automation', 'default', 'auto', '{}')")
    db.close()
    store = SqliteStore(path)
    try:
        assert [r.name for r in await store.history(limit=10)] == ["before"]
        assert await store.load_cursor("acme/p") == {"index": 3}
        assert await store.create(record("after"))
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "statuses" not in tables and {"executions", "cursors"} <= tables
