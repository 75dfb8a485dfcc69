"""Round trip, end to end: automations made with the real ``wandb`` SDK's ``create_automation(...)`` in the emulator
(every event kind, filter operator, scope and action the SDK has; the legacy and SaaS-only kinds the SDK can no
longer create are stored as W&B stores them) → ``wbauto import`` → ``wbauto validate`` → the standalone engine,
which fires each converted automation once on an event the SDK makes as a user makes it (``wandb.init`` +
``run.log``/``log_artifact``/a failing run, aliases, tags, links, unlinks, collection tags) and sends what W&B
would: the payload template rendered for that event (checked field by field, and signed), the Slack title and
message, the Launch job with its overrides. Nothing else fires."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb
import yaml
from wandb._filters import All, FilterExpr, Gt, Gte, In, Lt, Lte, Size
from wandb._filters.operators import KEY_TO_OP
from wandb.automations import (
    ArtifactEvent,
    DoNothing,
    OnAddArtifactAlias,
    OnAddArtifactTag,
    OnAddCollectionTag,
    OnCreateArtifact,
    OnLinkArtifact,
    OnRemoveArtifactTag,
    OnRemoveCollectionTag,
    OnRunMetric,
    OnRunState,
    OnUnlinkArtifact,
    RunEvent,
    SendNotification,
    SendWebhook,
)
from wandb.automations._generated import enums

from tests.support.emulator import run_settings, sdk_sandbox
from tests.support.receiver import Receiver, slack_api
from tests.support.standalone import API_KEY, Harness, until
from wbauto.cli import importer, validate
from wbauto.emulator import Emulator, State
from wbauto.emulator import model as emulated
from wbauto.wbapi import convert

ORG, REGISTRY_PROJECT = "acme-org", "wandb-registry-model"
SIGNING, SLACK_TOKEN = "round-trip-signing-secret", "xoxb-round-trip"
PAYLOAD = {"automation": "${automation_name}", "event_type": "${event_type}", "author": "${event_author}",
           "entity": "${entity_name}", "project": "${project_name}", "collection": "${artifact_collection_name}",
           "version": "${artifact_version}", "version_string": "${artifact_version_string}", "alias": "${alias}",
           "tag": "${tag}", "run": "${run_name}", "status": "${run_status}", "metric": "${metric_name}"}
LOSS = [0.9, 0.8, 0.05, 0.04, 0.03]
ACC = [0.5, 0.52, 0.48, 0.51, 0.9]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(secret=SIGNING).start()
    yield r
    r.stop()


@pytest.fixture
def slack() -> Iterator[Receiver]:
    r = slack_api(SLACK_TOKEN).start()
    yield r
    r.stop()


@pytest.fixture
def emulator(tmp_path: Path, receiver: Receiver) -> Iterator[Emulator]:
    """acme/fraud with fraud-model v0 (tag candidate) linked into the registry collection fraud-detector (tag
    legacy) of acme-org; a team webhook (signed with team secret RT_SIGNING), a Slack channel, a Launch queue."""
    with Emulator(api_key=API_KEY, state=State(viewer="alice")) as emu, \
            sdk_sandbox(tmp_path / "sdk", base_url=emu.url, api_key=API_KEY):
        state = emu.state
        state.create_organization(ORG, entity=ORG, teams=["acme"])
        state.create_registry(ORG, "model")
        v0 = state.log_artifact("acme", "fraud", "fraud-model", metadata={"accuracy": 0.9})
        state.add_tag("acme", "fraud", "fraud-model", "v0", "candidate")
        state.link_artifact(v0.artifact_id, entity=ORG, project=REGISTRY_PROJECT, collection="fraud-detector")
        state.add_collection_tag(ORG, REGISTRY_PROJECT, "fraud-detector", "legacy")
        state.automations.create_webhook_integration("acme", "round trip hook", receiver.url(), secret_ref="RT_SIGNING")
        state.automations.create_slack_integration("acme", "#ml-alerts", "acme-ws")
        state.create_run_queue("acme", "model-registry", "gpu-queue")
        yield emu


def create_with_the_sdk(api: wandb.Api) -> list[str]:
    """The automations, made as a user makes them with the SDK; their names."""
    project = api.project("fraud", entity="acme")
    registry = api.registry("model", organization=ORG)
    sequence = api.artifact_collection("model", "acme/fraud/fraud-model")
    portfolio = api.artifact_collection("model", f"{ORG}/{REGISTRY_PROJECT}/fraud-detector")
    team, organization = api.team("acme"), api.organization(ORG)
    hook = next(iter(api.webhook_integrations(entity="acme")))
    channel = next(iter(api.slack_integrations(entity="acme")))

    def webhook() -> SendWebhook:
        return SendWebhook.from_integration(hook, payload=PAYLOAD)

    def notify(title: str) -> SendNotification:
        return SendNotification.from_integration(channel, title=title, text="${artifact_version_string}${run_name}",
                                                 level="WARN")

    made = {
        "created-in-collection": OnCreateArtifact(scope=sequence) >> webhook(),
        "created-latest": OnCreateArtifact(scope=sequence, filter=ArtifactEvent.alias.eq("latest")) >> DoNothing(),
        "linked-staging-or-prod": OnLinkArtifact(
            scope=registry, filter=ArtifactEvent.alias.in_(["staging", "production"])) >> webhook(),
        "detector-linked-all-size": OnLinkArtifact(scope=portfolio, filter=FilterExpr(
            field="alias", op=All(val=("staging",))) & FilterExpr(field="alias", op=Size(val=2))) >> webhook(),
        "registry-alias-not-latest": OnAddArtifactAlias(scope=registry, filter=ArtifactEvent.alias.ne("latest"))
        >> webhook(),
        "prod-alias-slack": OnAddArtifactAlias(scope=project, filter=ArtifactEvent.alias.matches_regex("^prod"))
        >> notify("Promoted"),
        "team-production-not-wip": OnAddArtifactAlias(scope=team, filter=(ArtifactEvent.alias == "production")
                                                      & ~ArtifactEvent.tag.contains("wip")) >> webhook(),
        "tag-added-not-ignored": OnAddArtifactTag(scope=project, filter=(ArtifactEvent.tag != "ignored")
                                                  & ArtifactEvent.tag.not_in(["wip", "draft"])) >> webhook(),
        "tag-removed-candidate": OnRemoveArtifactTag(scope=project, filter=ArtifactEvent.tag.eq("candidate")
                                                     | ArtifactEvent.tag.matches_regex("^rc-")) >> webhook(),
        "collection-tag-not-x-y": OnAddCollectionTag(scope=project, filter=~(
            (ArtifactEvent.tag == "x") | (ArtifactEvent.tag == "y"))) >> webhook(),
        "org-collection-tag-removed": OnRemoveCollectionTag(scope=organization, filter=ArtifactEvent.tag.exists())
        >> DoNothing(),
        "unlinked-from-detector": OnUnlinkArtifact(scope=portfolio) >> notify("Unlinked"),
        "loss-converged": OnRunMetric(scope=project, filter=RunEvent.metric("loss").avg(3).lt(0.1)
                                      & RunEvent.name.contains("train")) >> webhook(),
        "loss-max-high": OnRunMetric(scope=project, filter=RunEvent.metric("loss").max(2).gt(0.85)) >> webhook(),
        "acc-jump": OnRunMetric(scope=project, filter=RunEvent.metric("acc").avg(2).increases_by(frac=0.3))
        >> notify("Accuracy jumped"),
        "team-acc-zscore": OnRunMetric(scope=team, filter=RunEvent.metric("acc").zscore(4).gt(2)) >> webhook(),
        "team-acc-high": OnRunMetric(scope=team, filter=RunEvent.metric("acc").gte(0.9)) >> notify("Accurate"),
        "failed-lr": OnRunState(scope=project, filter=RunEvent.state.eq("failed")
                                & FilterExpr(field="config.lr", op=Gte(val=0.001))) >> webhook(),
        "failed-alice-or-baseline": OnRunState(scope=project, filter=RunEvent.state.in_(["failed"]) & (
            (FilterExpr(field="username", op=In(val=("alice",))) | FilterExpr(field="tags", op=In(val=("baseline",))))
            & FilterExpr(field="config.lr", op=Gt(val=0.001)))) >> webhook(),
        "team-finished-train": OnRunState(scope=team, filter=RunEvent.state.in_(["finished"])
                                          & RunEvent.name.matches_regex("^train-")) >> DoNothing(),
        "finished-low-loss": OnRunState(scope=project, filter=RunEvent.state.eq("finished") & (
            FilterExpr(field="summary_metrics.loss", op=Lt(val=0.1)) & FilterExpr(field="duration", op=Lte(val=3600))))
        >> webhook(),
    }
    for name, automation in made.items():
        api.create_automation(automation, name=name, description=f"made with wandb {wandb.__version__}")
    return list(made)


def store_what_the_sdk_cannot_make(emulator: Emulator) -> dict[str, str]:
    """Saved automations the SDK can read but no longer create (or that exist only in W&B's SaaS), stored as
    W&B stores them; their names and what import must say."""
    state, triggers = emulator.state, emulator.state.automations
    project = state.project("acme", "fraud")
    assert project is not None
    production = {"$or": [{"$and": [{"alias": {"$regex": "^production$"}}]}]}
    queues = state.project("acme", "model-registry")
    assert queues is not None
    queue = queues.run_queues["gpu-queue"]
    alice = state.user("alice")
    assert alice is not None
    launch = {"job": "acme/fraud/train-job:latest",
              "overrides": {"run_config": {"model": "${artifact_version_string}"}},
              "resource": "kubernetes", "priority": 2}
    noop = {"noOpActionInput": {"noOp": True}}
    common = {"enabled": True, "scope_type": "PROJECT", "scope_id": project.id}
    triggers.create_trigger(name="legacy-launch", event_type="ADD_ARTIFACT_ALIAS", event_filter=production,
                            action_type="QUEUE_JOB", action_config={"queueJobActionInput": {
                                "queueID": queue.id, "template": json.dumps(launch)}}, **common)
    triggers.create_trigger(name="legacy-alias-event", event_type="UPDATE_ARTIFACT_ALIAS", event_filter=production,
                            action_type="NO_OP", action_config=noop, **common)
    triggers.create_trigger(name="ask-aria", event_type="RUN_STATE", event_filter={
        "run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}, action_type="ARIA",
                            action_config={"ariaActionInput": {"prompt": "Why did ${run_name} fail?"}}, **common)
    triggers.create_trigger(name="push-me", event_type="ADD_ARTIFACT_ALIAS", event_filter=production,
                            action_type="PUSH_NOTIFICATION", action_config={"pushNotificationActionInput": {
                                "userID": alice.id, "title": "t", "body": "b"}}, **common)
    triggers.create_trigger(name="weave-monitor", event_type="WEAVE_METRIC_THRESHOLD", event_filter={},
                            action_type="NO_OP", action_config=noop, **common)
    triggers.create_trigger(name="gpu-host-runs", event_type="RUN_STATE", event_filter={
        "run_filter": '{"$and":[{"host":{"$eq":"gpu-1"}}]}', "run_state_filter": {"states": ["FAILED"]}},
                            action_type="NO_OP", action_config=noop, **common)
    return {"legacy-launch": convert.DIFFERENT, "legacy-alias-event": convert.DIFFERENT,
            "ask-aria": convert.NOT_CONVERTIBLE, "push-me": convert.NOT_CONVERTIBLE,
            "weave-monitor": convert.NOT_CONVERTIBLE, "gpu-host-runs": convert.NOT_CONVERTIBLE}


def coverage(emulator: Emulator) -> None:
    """The stored automations hold every event type, action type, scope kind and filter operator of the SDK."""
    stored = emulator.state.automations.triggers()
    assert {t.event_type for t in stored} == {e.value for e in enums.EventTriggeringConditionType}
    assert {t.action_type for t in stored} == {a.value for a in enums.TriggeredActionType}
    kinds = set()
    for t in stored:
        scope = t.scope
        if isinstance(scope, emulated.Entity):
            kinds.add(f"Entity {scope.kind.value}")
        elif isinstance(scope, emulated.Project):
            kinds.add("Registry" if scope.name.startswith("wandb-registry-") else "Project")
        else:
            kinds.add(f"Collection {scope.kind.value}")
    assert kinds == {"Project", "Registry", "Collection ArtifactSequence", "Collection ArtifactPortfolio",
                     "Entity team", "Entity organization"}, kinds
    operators: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            operators.update(k for k in node if k.startswith("$"))
            for value in node.values():
                walk(json.loads(value) if isinstance(value, str) and value.startswith("{") else value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for t in stored:
        walk(t.event_filter)
    assert set(KEY_TO_OP) <= operators, set(KEY_TO_OP) - operators


def user_does(api: wandb.Api, tmp_path: Path) -> Callable[[], None]:
    """What users do, in order: log a version, link it, promote it, tag it, untag another, tag and untag
    collections, unlink, a training run that converges and finishes, one that fails."""

    def run(run_id: str, name: str, rows: list[dict[str, float]], *, fail: bool = False, **init: Any) -> None:
        def train() -> None:
            with wandb.init(entity="acme", project="fraud", id=run_id, name=name, settings=run_settings(),
                            **init) as r:
                for row in rows:
                    r.log(row)
                if fail:
                    raise RuntimeError("training diverged")
        if fail:
            with pytest.raises(RuntimeError, match="diverged"):
                train()
        else:
            train()

    def steps() -> None:
        weights = tmp_path / "model.pt"
        weights.write_bytes(b"weights v1")
        with wandb.init(entity="acme", project="fraud", id="log-1", name="logger", settings=run_settings()) as r:
            artifact = wandb.Artifact("fraud-model", type="model")
            artifact.add_file(str(weights))
            r.log_artifact(artifact).wait()
        api.artifact("acme/fraud/fraud-model:v1").link(f"{REGISTRY_PROJECT}/fraud-detector", aliases=["staging"])
        v1 = api.artifact("acme/fraud/fraud-model:v1")
        v1.aliases.append("production")
        v1.save()
        v1 = api.artifact("acme/fraud/fraud-model:v1")
        v1.tags = ["eval-passed", "draft"]
        v1.save()
        v0 = api.artifact("acme/fraud/fraud-model:v0")
        v0.tags.remove("candidate")
        v0.save()
        collection = api.artifact_collection("model", "acme/fraud/fraud-model")
        collection.tags = ["team-a"]
        collection.save()
        detector = api.artifact_collection("model", f"{ORG}/{REGISTRY_PROJECT}/fraud-detector")
        detector.tags = []
        detector.save()
        api.artifact(f"{ORG}/{REGISTRY_PROJECT}/fraud-detector:v0").unlink()
        run("train-7", "train-7", [{"loss": loss, "acc": acc} for loss, acc in zip(LOSS, ACC, strict=True)],
            config={"lr": 0.02})
        run("train-8", "train-8", [{"loss": 0.5}], fail=True, config={"lr": 0.01}, tags=["baseline"])

    return steps


def manifests_for_the_engine(folder: Path, tmp_path: Path, slack: Receiver) -> list[dict[str, Any]]:
    """The imported manifests with what the import asks the user to supply: the secrets' values (here, files)
    and, for this test only, Slack's API at the loopback Slack double."""
    (tmp_path / "signing").write_text(SIGNING)
    (tmp_path / "slack-token").write_text(SLACK_TOKEN)
    documents: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "SecretReference":
                secret = "slack-token" if doc["spec"]["kubernetes"]["name"] == "wandb-slack-tokens" else "signing"
                doc["spec"] = {"file": {"path": str(tmp_path / secret)}}
            if doc["kind"] == "Automation" and "slack" in doc["spec"]["action"]:
                doc["spec"]["action"]["slack"]["apiUrl"] = slack.url("/api")
            documents.append(doc)
    return documents


async def test_sdk_made_automations_import_validate_and_fire(
        tmp_path: Path, emulator: Emulator, receiver: Receiver, slack: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    api = wandb.Api(api_key=API_KEY, overrides={"base_url": emulator.url}, timeout=60)
    sdk_made = await asyncio.to_thread(create_with_the_sdk, api)
    assert len(sdk_made) >= 20
    expected_results = store_what_the_sdk_cannot_make(emulator)
    coverage(emulator)

    # wbauto import, as a user runs it
    folder = tmp_path / "imported"
    key_file = tmp_path / "api-key"
    key_file.write_text(API_KEY + "\n")
    argv = ["import", "--wandb-url", emulator.url, "--entity", "acme", "--entity", ORG, "-o", str(folder),
            "--wandb-api-key-file", str(key_file)]
    from wbauto.cli.main import main as cli

    assert await asyncio.to_thread(cli, argv) == 0
    printed = capsys.readouterr().out
    rows = {re.split(r"\s{2,}", line)[1]: line for line in printed.splitlines() if line.startswith("Automation ")}
    result = await importer.fetch_and_convert(emulator.url, API_KEY, ["acme", ORG], None, per_page=4)  # paged
    by_name = {r.name: r for r in result.rows if r.kind == "Automation"}
    unlisted = await importer.fetch_and_convert(emulator.url, API_KEY, [], None)  # the SDK's Api().automations()
    entity_scoped = {"team-production-not-wip", "team-acc-zscore", "team-acc-high", "team-finished-train",
                     "org-collection-tag-removed"}
    assert {r.name for r in unlisted.rows if r.kind == "Automation"} == set(by_name) - entity_scoped
    assert set(by_name) == set(sdk_made) | set(expected_results) == set(rows)
    slack_made = {"prod-alias-slack", "unlinked-from-detector", "acc-jump", "team-acc-high"}
    for name in sdk_made:
        want = convert.DIFFERENT if name in slack_made else convert.CONVERTED
        assert by_name[name].result == want, (name, by_name[name])
    for name, want in expected_results.items():
        assert by_name[name].result == want, (name, by_name[name])
    assert "ARIA" in by_name["ask-aria"].note and "host" in by_name["gpu-host-runs"].note
    assert "WEAVE" in by_name["weave-monitor"].note and "resource" in by_name["legacy-launch"].note
    counts = (result.count(convert.CONVERTED), result.count(convert.DIFFERENT), result.count(convert.NOT_CONVERTIBLE))
    assert counts == (17, 6, 4), counts
    assert f"{counts[0]} converted, {counts[1]} converted with a difference, {counts[2]} not convertible" in printed

    # wbauto validate on the folder as written
    assert validate.main(validate_args(folder)) == 0

    # the standalone engine fires each converted automation once, on what the SDK does
    documents = manifests_for_the_engine(folder, tmp_path, slack)
    firing = [d["spec"]["displayName"] for d in documents if d["kind"] == "Automation"]
    assert len(firing) == 23
    harness = Harness(tmp_path / "engine", emulator, documents)
    await harness.start()
    try:
        await asyncio.to_thread(user_does(api, tmp_path))
        records = await harness.executions(len(firing), timeout=120)
        assert harness.app is not None and harness.app.engine.pollers is not None
        pollers = harness.app.engine.pollers
        await until(pollers.settled, 30, "the last poll")
        records = await harness.app.store.history(limit=1000)
    finally:
        await harness.stop()
    fired = sorted(r.spec.automation.display_name for r in records)
    assert fired == sorted(firing), "each converted automation fires once, nothing else fires"
    failed = [(r.automation, r.status.error) for r in records if r.status.phase.value != "Finished"]
    assert failed == []
    check_what_was_sent(emulator, receiver, slack)


def validate_args(folder: Path) -> Any:
    import argparse

    return argparse.Namespace(paths=[folder], namespace="default", quiet=True)


def check_what_was_sent(emulator: Emulator, receiver: Receiver, slack: Receiver) -> None:
    assert all(r.signature_ok for r in receiver.requests), "every webhook is signed with the team secret"
    bodies = {b["automation"]: b for b in receiver.bodies()}
    v1 = "acme/fraud/fraud-model:v1"
    expected = {
        "created-in-collection": {"event_type": "CREATE_ARTIFACT", "author": "alice", "entity": "acme",
                                  "collection": "fraud-model", "version_string": v1},
        "linked-staging-or-prod": {"event_type": "LINK_ARTIFACT", "entity": ORG, "project": REGISTRY_PROJECT,
                                   "collection": "fraud-detector"},
        "detector-linked-all-size": {"event_type": "LINK_ARTIFACT", "collection": "fraud-detector"},
        "registry-alias-not-latest": {"event_type": "ADD_ARTIFACT_ALIAS", "alias": "staging",
                                      "version_string": f"{ORG}/{REGISTRY_PROJECT}/fraud-detector:staging"},
        "team-production-not-wip": {"event_type": "ADD_ARTIFACT_ALIAS", "alias": "production",
                                    "version_string": "acme/fraud/fraud-model:production"},
        "tag-added-not-ignored": {"event_type": "ADD_ARTIFACT_TAG", "tag": "eval-passed", "version_string": v1},
        "tag-removed-candidate": {"event_type": "REMOVE_ARTIFACT_TAG", "tag": "candidate"},
        "collection-tag-not-x-y": {"event_type": "ADD_COLLECTION_TAG", "tag": "team-a", "collection": "fraud-model"},
        "loss-converged": {"event_type": "RUN_METRIC", "run": "train-7", "metric": "loss", "author": "alice"},
        "loss-max-high": {"event_type": "RUN_METRIC", "run": "train-7", "metric": "loss"},
        "team-acc-zscore": {"event_type": "RUN_METRIC_ZSCORE", "run": "train-7", "metric": "acc", "entity": "acme"},
        "failed-lr": {"event_type": "RUN_STATE", "run": "train-8", "status": "FAILED"},
        "failed-alice-or-baseline": {"event_type": "RUN_STATE", "run": "train-8", "status": "FAILED"},
        "finished-low-loss": {"event_type": "RUN_STATE", "run": "train-7", "status": "FINISHED"},
    }
    assert set(bodies) == set(expected)
    for name, fields in expected.items():
        assert {k: bodies[name][k] for k in fields} == fields, (name, bodies[name])
        assert set(bodies[name]) == set(PAYLOAD), "the saved payload, every key rendered"
    messages = {m.json()["text"].split(":")[0]: m.json() for m in slack.requests}
    assert set(messages) == {"Promoted", "Unlinked", "Accuracy jumped", "Accurate"}
    assert messages["Promoted"]["channel"] == "#ml-alerts" and "acme/fraud/fraud-model:production" in \
        messages["Promoted"]["text"]
    assert "train-7" in messages["Accurate"]["text"] and "train-7" in messages["Accuracy jumped"]["text"]
    [item] = emulator.state.queue_items("acme", "model-registry", "gpu-queue")
    assert item.run_spec["job"] == "acme/fraud/train-job:latest" and item.priority == 2
    assert item.run_spec["overrides"]["run_config"] == {"model": "acme/fraud/fraud-model:production"}
