"""Faults that must not lose, replay or freeze anything (issue 12): W&B answers that are empty or null,
a store that fails once, data nothing expected, an Automation blocked by a Stalled Webhook.

W&B faults come from a loopback proxy that rewrites the emulator's real answers; store faults from the
real SQLite store failing one write."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import FaultProxy
from tests.support.manifests import automation, webhook
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY, Harness, finished, until
from wbauto.api.execution import ExecutionRecord, Phase
from wbauto.emulator.server import Emulator

PROJECT = {"project": {"entity": "acme", "project": "fraud"}}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        emu.state.create_project("acme", "fraud")
        emu.state.log_artifact("acme", "fraud", "fraud-model", author="alice", aliases=["production"],
                               tags=["team"])
        emu.state.add_collection_tag("acme", "fraud", "fraud-model", "vision")
        yield emu


def noop(name: str, event: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return automation(name, scope=PROJECT, event=event, action={"noOp": {}}, **spec)


EVERY_ARTIFACT_EVENT = [noop("alias", {"artifactAliasAdded": {}}), noop("tag", {"artifactTagAdded": {}}),
                        noop("untag", {"artifactTagRemoved": {}}), noop("ctag", {"collectionTagAdded": {}}),
                        noop("cuntag", {"collectionTagRemoved": {}})]


@pytest.mark.parametrize("fault", ["empty", "null", "no-edges"])
async def test_an_empty_or_null_collections_answer_replays_nothing(tmp_path: Path, emulator: Emulator,
                                                                   fault: str) -> None:
    faults = {"left": 0}

    def rewrite(query: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "WbautoProjectCollections" in query and faults["left"] > 0:
            faults["left"] -= 1
            for project in (answer.get("data") or {}).values():
                if isinstance(project, dict):
                    project["artifactCollections"] = {
                        "empty": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []},
                        "null": None, "no-edges": {"pageInfo": {"hasNextPage": False}}}[fault]
        return answer

    proxy = FaultProxy(emulator.url, rewrite).start()
    harness = Harness(tmp_path, emulator, EVERY_ARTIFACT_EVENT, wandb_base_url=proxy.url)
    app = await harness.start()
    try:
        pollers = app.engine.pollers
        assert pollers is not None
        faults["left"] = 3
        await until(lambda: faults["left"] == 0, 30, "the faulty answers used up")
        seen = pollers.cycles
        await until(lambda: pollers.cycles >= seen + 2, 30, "two normal polls")
        assert await app.store.history(limit=100) == []  # nothing happened in W&B: nothing fires
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        records = await harness.executions(1)
        seen = pollers.cycles
        await until(lambda: pollers.cycles >= seen + 2, 30, "two more polls")
        records = await app.store.history(limit=100)
    finally:
        await harness.stop()
        proxy.stop()
    assert [(r.automation, r.spec.event.alias) for r in records] == [("alias", "staging")]


async def test_an_empty_versions_answer_fires_no_removal(tmp_path: Path, emulator: Emulator) -> None:
    faults = {"left": 0}

    def rewrite(query: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "WbautoCollectionVersions" in query and faults["left"] > 0:
            faults["left"] -= 1
            for collection in (answer.get("data") or {}).values():
                if isinstance(collection, dict):
                    collection["artifacts"] = {"pageInfo": {"hasNextPage": False}, "edges": []}
        return answer

    proxy = FaultProxy(emulator.url, rewrite).start()
    harness = Harness(tmp_path, emulator, EVERY_ARTIFACT_EVENT, wandb_base_url=proxy.url)
    app = await harness.start()
    try:
        pollers = app.engine.pollers
        assert pollers is not None
        faults["left"] = 1
        await until(lambda: faults["left"] == 0, 30, "the empty answer used up")
        seen = pollers.cycles
        await until(lambda: pollers.cycles >= seen + 3, 30, "three normal polls")
        records = await app.store.history(limit=100)
    finally:
        await harness.stop()
        proxy.stop()
    assert records == []


class FailingCreates:
    """The real store, whose next ``n`` creates fail as a locked or unavailable database would."""

    def __init__(self, app: Any, n: int) -> None:
        self.store = app.store
        self.left = n
        self.create = self.store.create
        self.store.create = self._create

    async def _create(self, record: ExecutionRecord) -> bool:
        if self.left > 0:
            self.left -= 1
            raise sqlite3.OperationalError("database is locked (injected)")
        return bool(await self.create(record))


async def test_one_store_failure_loses_no_run_event_and_skips_nothing(tmp_path: Path, emulator: Emulator) -> None:
    state = emulator.state
    state.create_run("acme", "fraud", run_id="run1", display_name="train-1", user="alice")
    state.log_history("acme", "fraud", "run1", [{"loss": 0.9}])
    docs = [noop("finished", {"runStateChanged": {"states": ["FINISHED"]}}),
            noop("threshold", {"runMetricThreshold": {"metric": "loss", "cmp": "$lt", "threshold": 0.1}}),
            noop("tagged", {"artifactTagAdded": {}}, rateLimit={"maxExecutions": 1, "period": "1h"})]
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    try:
        failing = FailingCreates(app, 3)
        state.log_history("acme", "fraud", "run1", [{"loss": 0.05}])
        state.set_run_state("acme", "fraud", "run1", "finished")
        state.add_tag("acme", "fraud", "fraud-model", "v0", "eval-passed")
        records = await harness.executions(3)
        assert failing.left == 0
    finally:
        await harness.stop()
    assert sorted((r.automation, r.status.phase) for r in records) == [
        ("finished", Phase.FINISHED), ("tagged", Phase.FINISHED), ("threshold", Phase.FINISHED)]


async def test_data_nothing_expected_does_not_stop_the_scope(tmp_path: Path, emulator: Emulator) -> None:
    """Artifact metadata with a lone surrogate (any W&B user can log one) is delivered, and so is the
    next event."""
    receiver = Receiver().start()
    docs = [webhook(url=receiver.url()),
            automation("meta", scope=PROJECT, event={"artifactVersionCreated": {}},
                       action={"webhook": {"webhookRef": {"name": "hook"},
                                           "payload": '{"k": "${artifact_metadata.k}"}'}}),
            noop("alias", {"artifactAliasAdded": {"aliasRegex": "^staging$"}})]
    docs[1]["spec"]["scope"] = {"collection": {"entity": "acme", "project": "fraud", "name": "fraud-model"}}
    harness = Harness(tmp_path, emulator, docs)
    await harness.start()
    try:
        emulator.state.log_artifact("acme", "fraud", "fraud-model", metadata={"k": "a\ud800b"})
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        records = await harness.executions(2)
    finally:
        await harness.stop()
        receiver.stop()
    assert len(finished(records)) == 2, [(r.automation, r.status.error) for r in records]
    assert receiver.bodies() == [{"k": "a\ufffdb"}]


async def test_an_automation_blocked_by_a_stalled_webhook_records_failures(tmp_path: Path,
                                                                          emulator: Emulator) -> None:
    """Not Pending forever with 0 attempts: a Failed execution saying what blocks it."""
    docs = [webhook(url="http://metadata.google.internal/hook"),
            automation("blocked", scope=PROJECT, event={"artifactAliasAdded": {}})]
    harness = Harness(tmp_path, emulator, docs)
    await harness.start(wait_ready=False)
    try:
        app = harness.app
        assert app is not None
        await until(lambda: ("Webhook", "default", "hook") in app.world.stalled, 30, "the Webhook Stalled")
        await until(lambda: app.engine.pollers is not None and app.engine.pollers.settled(), 30, "first poll")
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        [record] = await harness.executions(1)
    finally:
        await harness.stop()
    assert record.status.phase is Phase.FAILED and record.status.attempts == 0
    assert "Webhook default/hook is Stalled (EgressDenied" in (record.status.error or "")
