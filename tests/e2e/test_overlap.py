"""Overlapping scopes: entity, project, collection and registry Automations watching the same versions, every
event kind, across a restart — exactly one execution per matching Automation per event (issue 11 §2).

One W&B change is read once (one poller per project, shared by every scope on it), and its id comes from
W&B's facts, so neither a second scope nor a restart gives it a second id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifests import automation
from tests.support.standalone import API_KEY, Harness, until
from wbauto.emulator.server import Emulator

ENTITY = {"entity": {"name": "acme"}}
ORG = {"entity": {"name": "acme-org"}}
PROJECT = {"project": {"entity": "acme", "project": "fraud"}}
COLLECTION = {"collection": {"entity": "acme", "project": "fraud", "name": "fraud-model"}}
REGISTRY = {"registry": {"organization": "acme-org", "name": "model"}}
ALIASES = {"artifactAliasAdded": {"aliasRegex": "^(production|staging)$"}}


def noop(name: str, scope: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return automation(name, scope=scope, event=event, action={"noOp": {}})


EXPECTED = {
    # alias events: production on v0 (first wave), staging on v1 (second wave)
    "ent-alias": 2, "proj-alias": 2, "coll-alias": 2,
    # production on the registry version
    "reg-alias": 1, "org-alias": 1,
    "ent-tag": 1, "proj-tag": 1, "coll-tag": 1,
    "ent-untag": 1, "proj-untag": 1,
    "ent-ctag": 1, "proj-ctag": 1, "ent-cuntag": 1, "proj-cuntag": 1,
    "coll-create": 1,
    "reg-link": 1, "org-link": 1, "reg-unlink": 1, "org-unlink": 1,
    "run-failed": 1, "run-threshold": 1, "run-change": 1, "run-zscore": 1,
}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


async def test_overlapping_scopes_fire_each_automation_once_per_event(tmp_path: Path, emulator: Emulator) -> None:
    state = emulator.state
    state.create_project("acme", "fraud")
    state.create_organization("acme-org", entity="acme-org")
    state.create_registry("acme-org", "model")
    v0 = state.log_artifact("acme", "fraud", "fraud-model", author="alice")
    state.create_run("acme", "fraud", run_id="run1", display_name="train-1", user="alice")
    state.log_history("acme", "fraud", "run1", [{"loss": 0.9, "acc": a} for a in (0.5, 0.52, 0.48)])
    docs = [
        noop("ent-alias", ENTITY, ALIASES), noop("proj-alias", PROJECT, ALIASES),
        noop("coll-alias", COLLECTION, ALIASES),
        noop("reg-alias", REGISTRY, ALIASES), noop("org-alias", ORG, ALIASES),
        noop("ent-tag", ENTITY, {"artifactTagAdded": {}}), noop("proj-tag", PROJECT, {"artifactTagAdded": {}}),
        noop("coll-tag", COLLECTION, {"artifactTagAdded": {}}),
        noop("ent-untag", ENTITY, {"artifactTagRemoved": {}}), noop("proj-untag", PROJECT, {"artifactTagRemoved": {}}),
        noop("ent-ctag", ENTITY, {"collectionTagAdded": {}}), noop("proj-ctag", PROJECT, {"collectionTagAdded": {}}),
        noop("ent-cuntag", ENTITY, {"collectionTagRemoved": {}}),
        noop("proj-cuntag", PROJECT, {"collectionTagRemoved": {}}),
        noop("coll-create", COLLECTION, {"artifactVersionCreated": {}}),
        noop("reg-link", REGISTRY, {"artifactLinked": {}}), noop("org-link", ORG, {"artifactLinked": {}}),
        noop("reg-unlink", REGISTRY, {"artifactUnlinked": {}}), noop("org-unlink", ORG, {"artifactUnlinked": {}}),
        noop("run-failed", PROJECT, {"runStateChanged": {"states": ["FAILED"]}}),
        noop("run-threshold", PROJECT, {"runMetricThreshold": {"metric": "loss", "agg": "AVERAGE", "window": 3,
                                                               "cmp": "$lt", "threshold": 0.1}}),
        noop("run-change", PROJECT, {"runMetricChange": {"metric": "acc", "agg": "AVERAGE", "currentWindow": 2,
                                                         "priorWindow": 3, "changeType": "RELATIVE",
                                                         "direction": "INCREASE", "amount": 0.5}}),
        noop("run-zscore", PROJECT, {"runMetricZScore": {"metric": "acc", "window": 3, "threshold": 2.0,
                                                         "direction": "INCREASE"}}),
    ]
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    try:
        v1 = state.log_artifact("acme", "fraud", "fraud-model", author="bob")
        linked = state.link_artifact(v1.artifact_id, entity="acme-org", project="wandb-registry-model",
                                     collection="fraud-detector", author="carol")
        state.add_alias("acme-org", "wandb-registry-model", "fraud-detector", linked.version, "production")
        state.add_alias("acme", "fraud", "fraud-model", v0.version, "production", author="dave")
        state.add_tag("acme", "fraud", "fraud-model", v1.version, "eval-passed", author="erin")
        state.add_collection_tag("acme", "fraud", "fraud-model", "team-a")
        state.log_history("acme", "fraud", "run1", [{"loss": 0.05, "acc": 0.9} for _ in range(3)])
        # the second wave: staging x3, untag x2, collection untag x2, unlink x2, the crash
        await harness.executions(sum(EXPECTED.values()) - 10)
    finally:
        await harness.stop()

    # while the operator is down: the second wave
    state.add_alias("acme", "fraud", "fraud-model", v1.version, "staging", author="dave")
    state.remove_tag("acme", "fraud", "fraud-model", v1.version, "eval-passed", author="erin")
    state.remove_collection_tag("acme", "fraud", "fraud-model", "team-a")
    state.unlink(v1.artifact_id, state.collection_by_name("acme-org", "wandb-registry-model",
                                                          "fraud-detector").id)
    state.set_run_state("acme", "fraud", "run1", "crashed")

    app = await harness.start()
    try:
        records = await harness.executions(sum(EXPECTED.values()), timeout=60)
        pollers = app.engine.pollers
        assert pollers is not None
        seen = pollers.cycles
        await until(lambda: pollers.cycles >= seen + 2 * len(pollers.projects), 30, "two more polls of each project")
        records = await app.store.history(limit=1000)
    finally:
        await harness.stop()
    per_automation = Counter(r.automation for r in records)
    assert dict(per_automation) == EXPECTED, sorted(
        (r.automation, r.spec.event.type.value, r.spec.event.alias or r.spec.event.tag) for r in records)
    assert len({(r.automation, r.spec.event.id) for r in records}) == len(records)
    assert len({r.spec.delivery_id for r in records}) == len(records)
