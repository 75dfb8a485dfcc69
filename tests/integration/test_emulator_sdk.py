"""The real ``wandb`` SDK against the emulator: what it lists and fetches is exactly what the emulator holds,
and what it writes (``wandb.init``/``log``/``log_artifact``/``finish``, artifact aliases, tags, links,
collection tags, run updates, automations) lands in the emulator's state as W&B would keep it and reads
back the same. The SDK (and its ``wandb-core`` helper) writes only to a temporary directory and talks
only to the emulator on 127.0.0.1 (:func:`tests.support.emulator.sdk_sandbox`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wandb

from tests.support.emulator import API_KEY, graphql, run_settings, sdk_sandbox
from wbauto.emulator import Emulator, State, model, scalars, seed


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY, state=State(viewer="alice")) as running, \
            sdk_sandbox(tmp_path_factory.mktemp("wandb"), base_url=running.url):
        yield running


@pytest.fixture(scope="module")
def api(emulator: Emulator) -> wandb.Api:
    return wandb.Api(api_key=API_KEY, overrides={"base_url": emulator.url}, timeout=30)


@pytest.fixture
def state(emulator: Emulator, api: wandb.Api) -> State:
    api.flush()
    return emulator.state


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, auth=("api", API_KEY), trust_env=False) as http:
        yield http


def organization(state: State) -> str:
    """The organization ``acme-org`` (team ``acme``) and its ``model`` registry, made once per module."""
    if state.organization("acme-org") is None:
        state.create_organization("acme-org", teams=["acme"])
        state.create_registry("acme-org", "model")
    return "acme-org"


def held_project(state: State, entity: str, name: str) -> model.Project:
    found = state.project(entity, name)
    assert found is not None
    return found


Version = tuple[str, list[str], dict[str, Any], str | None]


def listed_versions(api: wandb.Api, path: str) -> list[Version]:
    return [(a.version, sorted(a.aliases), a.metadata, a.id) for a in api.artifacts("model", path)]


def held_versions(state: State, entity: str, project: str, name: str) -> list[Version]:
    collection = held_project(state, entity, project).collections[name]
    return [
        (m.version, sorted(a.alias for a in m.aliases), m.artifact.metadata, m.artifact.id)
        for m in reversed(collection.live_memberships)
    ]


def test_creating_the_api_authenticates_as_the_viewer(api: wandb.Api, emulator: Emulator) -> None:
    assert api.default_entity == "alice"
    assert {"Viewer", "GetDefaultEntity"} <= set(emulator.state.stats())


def test_projects_and_artifact_types(api: wandb.Api, state: State) -> None:
    state.log_artifact("acme", "types", "m", type="model")
    state.log_artifact("acme", "types", "d", type="dataset")
    state.create_project("acme", "empty")
    acme = state.entity("acme")
    assert acme is not None and {p.name for p in api.projects("acme")} == set(acme.projects)
    assert {t.name for t in api.artifact_types("acme/types")} == {"model", "dataset"}
    collections = api.artifact_collections("acme/types", "model")
    assert [(c.name, c.type, c.id) for c in collections] == [
        ("m", "model", held_project(state, "acme", "types").collections["m"].id)]


def test_versions_list_with_their_aliases_and_aliases_move(api: wandb.Api, state: State,
                                                           emulator: Emulator) -> None:
    for acc in (0.5, 0.7, 0.9):
        state.log_artifact("acme", "listing", "m", metadata={"acc": acc}, aliases=["best"] if acc == 0.7 else ())
    listed = listed_versions(api, "acme/listing/m")
    assert listed == held_versions(state, "acme", "listing", "m")
    assert [(v, a) for v, a, _, _ in listed] == [("v2", ["latest"]), ("v1", ["best"]), ("v0", [])]

    moved = httpx.post(f"{emulator.url}/_emulator/add_alias", auth=("api", API_KEY), json={
        "entity": "acme", "project": "listing", "collection": "m", "version": "v0", "alias": "best"})
    assert moved.json()["previous"] == "v1"
    api.flush()
    listed = listed_versions(api, "acme/listing/m")
    assert listed == held_versions(state, "acme", "listing", "m")
    assert [(v, a) for v, a, _, _ in listed] == [("v2", ["latest"]), ("v1", []), ("v0", ["best"])]
    assert [(a.version, sorted(a.aliases)) for a in api.artifact_versions("model", "acme/listing/m")] == [
        (v, a) for v, a, _, _ in listed]


def test_fetch_a_version_by_index_and_by_alias(api: wandb.Api, state: State, tmp_path: Path) -> None:
    first = state.log_artifact("acme", "fetch", "m", metadata={"acc": 0.5}, tags=["baseline"])
    second = state.log_artifact("acme", "fetch", "m", metadata={"acc": 0.8}, aliases=["production"])
    by_index = api.artifact("acme/fetch/m:v0")
    assert (by_index.id, by_index.version, by_index.metadata, by_index.digest) == (
        first.artifact_id, "v0", {"acc": 0.5}, first.digest)
    assert (by_index.type, by_index.state, by_index.tags) == ("model", "COMMITTED", ["baseline"])
    by_alias = api.artifact("acme/fetch/m:production")
    assert (by_alias.id, by_alias.version, sorted(by_alias.aliases)) == (
        second.artifact_id, "v1", ["latest", "production"])
    assert by_alias.created_at == scalars.format_time(second.created_at)
    assert list(Path(by_index.download(root=str(tmp_path))).iterdir()) == [], "no files: an empty manifest"


def test_fetch_a_registry_version_by_alias(api: wandb.Api, state: State) -> None:
    org = organization(state)
    source = state.log_artifact("acme", "registry-src", "m", metadata={"acc": 0.9})
    linked = state.link_artifact(source.artifact_id, entity=org, project="wandb-registry-model",
                                 collection="prod", aliases=["staging"])
    fetched = api.artifact(f"{org}/wandb-registry-model/prod:staging")
    assert (fetched.id, fetched.version, sorted(fetched.aliases)) == (linked.artifact_id, "v0", ["latest", "staging"])
    assert fetched.source_name == "m:v0" and fetched.metadata == {"acc": 0.9}


def test_runs_with_their_state_and_history(api: wandb.Api, state: State) -> None:
    state.create_run("acme", "training", run_id="done", display_name="brave-sun-1", config={"lr": 0.01})
    state.log_history("acme", "training", "done", [{"loss": 1 / (i + 1), "acc": i / 10} for i in range(12)])
    state.set_run_state("acme", "training", "done", "finished")
    state.create_run("acme", "training", run_id="live", user="bob")
    state.log_history("acme", "training", "live", [{"loss": 3.0}, {"_step": 10, "loss": 2.0}])

    runs = {r.id: r for r in api.runs("acme/training")}
    held = held_project(state, "acme", "training").runs
    assert {i: (r.name, r.state, r.user.username) for i, r in runs.items()} == {
        i: (r.display_name, r.state.value, r.user.username) for i, r in held.items()}
    done = api.run("acme/training/done")
    assert (done.config, dict(done.summary)) == ({"lr": 0.01}, held["done"].summary)
    assert done.history(pandas=False) == held["done"].rows
    assert done.history(keys=["loss"], pandas=False) == [
        {"_step": row["_step"], "loss": row["loss"]} for row in held["done"].rows]
    assert done.history(samples=3, pandas=False) == [held["done"].rows[i] for i in (0, 6, 11)]
    assert done.lastHistoryStep == 11

    live = api.run("acme/training/live")
    assert (live.state, live.lastHistoryStep, [r["_step"] for r in live.history(pandas=False)]) == (
        "running", 10, [0, 10])
    state.set_run_state("acme", "training", "live", "crashed")
    live.load(force=True)
    assert live.state == "crashed" and live.heartbeat_at == scalars.format_time(held["live"].heartbeat_at)


def test_unknown_runs_and_versions_are_not_found(api: wandb.Api) -> None:
    with pytest.raises(wandb.errors.CommError):
        api.artifact("acme/nowhere/m:v0")
    with pytest.raises(wandb.errors.CommError, match="Could not find run"):
        api.run("acme/nowhere/nope")


# What the SDK writes -----------------------------------------------------------------------------

ALIAS_IDS = """query($id: ID!) { artifact(id: $id) { aliases { id alias } artifactMemberships { edges { node {
  id versionIndex aliases { id alias } artifactCollection { name } } } } } }"""


def alias_ids(client: httpx.Client, artifact_id: str) -> dict[str, str]:
    data = graphql(client, ALIAS_IDS, id=artifact_id)["data"]["artifact"]
    return {a["alias"]: a["id"] for a in data["aliases"]}


def journal(state: State, kind: str) -> list[tuple[str, str, str | None]]:
    return [(c.author, c.target, c.value) for c in state.changes() if c.kind == kind]


def test_aliases_appended_and_removed_with_save(api: wandb.Api, state: State, client: httpx.Client) -> None:
    v0 = state.log_artifact("acme", "aliasing", "m", metadata={"acc": 0.5})
    v1 = state.log_artifact("acme", "aliasing", "m", metadata={"acc": 0.7})
    artifact = api.artifact("acme/aliasing/m:v0")
    artifact.aliases.append("production")
    artifact.save()
    collection = held_project(state, "acme", "aliasing").collections["m"]
    assert collection.aliases["production"].membership.version == "v0"
    assert sorted(api.artifact("acme/aliasing/m:production").aliases) == ["production"]
    assert journal(state, "add_alias")[-1] == ("alice", "acme/aliasing/m:v0", "production")
    assigned = alias_ids(client, v0.artifact_id)["production"]
    artifact.description = "unchanged aliases keep their assignment"
    artifact.save()
    assert alias_ids(client, v0.artifact_id)["production"] == assigned

    newer = api.artifact("acme/aliasing/m:v1")
    newer.aliases.append("production")
    newer.save()  # W&B moves the alias: one version holds it at a time
    moved = alias_ids(client, v1.artifact_id)["production"]
    assert "production" not in alias_ids(client, v0.artifact_id) and moved != assigned
    assert sorted(api.artifact("acme/aliasing/m:production").aliases) == ["latest", "production"]

    newer.aliases.remove("production")
    newer.save()
    assert "production" not in collection.aliases
    assert journal(state, "remove_alias")[-1] == ("alice", "acme/aliasing/m:v1", "production")
    newer.aliases.append("production")
    newer.save()
    assert alias_ids(client, v1.artifact_id)["production"] not in (assigned, moved), "a new assignment, a new id"
    with pytest.raises(wandb.errors.CommError):
        api.artifact("acme/aliasing/m:staging")


def test_tags_set_appended_and_removed_with_save(api: wandb.Api, state: State) -> None:
    state.log_artifact("acme", "tagging", "m")
    artifact = api.artifact("acme/tagging/m:v0")
    artifact.tags = ["candidate"]
    artifact.save()
    artifact.tags.append("eval-passed")
    artifact.save()
    held = held_project(state, "acme", "tagging").collections["m"].memberships[0].artifact
    assert sorted(t.name for t in held.tags) == ["candidate", "eval-passed"]
    assert sorted(api.artifact("acme/tagging/m:v0").tags) == ["candidate", "eval-passed"]
    artifact.tags.remove("candidate")
    artifact.save()
    assert [t.name for t in held.tags] == ["eval-passed"] == api.artifact("acme/tagging/m:v0").tags
    assert [v for _, _, v in journal(state, "add_tag")][-2:] == ["candidate", "eval-passed"]
    assert journal(state, "remove_tag")[-1] == ("alice", "acme/tagging/m:v0", "candidate")


def test_collection_tags_and_description_saved(api: wandb.Api, state: State) -> None:
    state.log_artifact("acme", "ctags", "m")
    collection = api.artifact_collection("model", "acme/ctags/m")
    collection.tags = ["vision", "team-a"]
    collection.description = "fraud classifier"
    collection.save()
    held = held_project(state, "acme", "ctags").collections["m"]
    assert (sorted(t.name for t in held.tags), held.description) == (["team-a", "vision"], "fraud classifier")
    reread = api.artifact_collection("model", "acme/ctags/m")
    assert (sorted(reread.tags), reread.description) == (["team-a", "vision"], "fraud classifier")
    reread.tags = ["vision"]
    reread.save()
    assert [t.name for t in held.tags] == ["vision"]
    assert journal(state, "remove_collection_tag")[-1] == ("alice", "acme/ctags/m", "team-a")


def test_link_into_a_registry_and_unlink(api: wandb.Api, state: State, client: httpx.Client) -> None:
    org = organization(state)
    source = state.log_artifact("acme", "linking", "m", metadata={"acc": 0.93})
    artifact = api.artifact("acme/linking/m:v0")
    linked = artifact.link("wandb-registry-model/detector", aliases=["staging"])
    assert (linked.qualified_name, sorted(linked.aliases)) == (
        f"{org}/wandb-registry-model/detector:v0", ["latest", "staging"])
    portfolio = held_project(state, org, "wandb-registry-model").collections["detector"]
    membership = portfolio.memberships[0]
    assert (portfolio.kind.value, membership.artifact.id, membership.version) == (
        "ArtifactPortfolio", source.artifact_id, "v0")
    nodes = graphql(client, ALIAS_IDS, id=source.artifact_id)["data"]["artifact"]["artifactMemberships"]["edges"]
    assert [(n["node"]["id"], n["node"]["artifactCollection"]["name"]) for n in nodes] == [
        (source.membership_id, "m"), (membership.id, "detector")]
    assert journal(state, "link_artifact")[-1] == ("alice", f"{org}/wandb-registry-model/detector:v0", None)

    fetched = api.artifact(f"{org}/wandb-registry-model/detector:staging")
    assert (fetched.id, fetched.is_link, fetched.source_name) == (source.artifact_id, True, "m:v0")
    fetched.unlink()
    assert portfolio.live_memberships == [] and portfolio.aliases == {}
    assert journal(state, "unlink_artifact")[-1] == ("alice", f"{org}/wandb-registry-model/detector:v0", None)
    with pytest.raises(wandb.errors.CommError):
        api.artifact(f"{org}/wandb-registry-model/detector:v0")
    relinked = api.artifact("acme/linking/m:v0").link("wandb-registry-model/detector")
    assert relinked.version == "v1", "a link's index is never reused"


def test_registries_listed_and_created(api: wandb.Api, state: State) -> None:
    org = organization(state)
    source = state.log_artifact("acme", "registries", "m")
    state.link_artifact(source.artifact_id, entity=org, project="wandb-registry-model", collection="listed",
                        aliases=["candidate"])
    assert "model" in [r.name for r in api.registries(organization=org)]
    registry = api.registry("model", organization=org)
    assert (registry.full_name, registry.visibility, registry.organization) == (
        "wandb-registry-model", "organization", org)
    assert "listed" in [c.name for c in registry.collections()]
    versions = api.registries(organization=org, filter={"name": "model"}).versions(filter={"alias": "candidate"})
    assert [v.qualified_name for v in versions] == [f"{org}/wandb-registry-model/listed:v0"]

    created = api.create_registry("datasets", visibility="restricted", organization=org,
                                  description="curated", artifact_types=["dataset"])
    held = held_project(state, org, "wandb-registry-datasets")
    assert (created.full_name, held.access, held.description, held.allowed_types) == (
        "wandb-registry-datasets", "RESTRICTED", "curated", ["dataset"])
    assert api.registry("datasets", organization=org).artifact_types == ["dataset"]
    with pytest.raises(wandb.errors.CommError):
        api.artifact("acme/registries/m:v0").link("wandb-registry-datasets/models")


def test_run_update_and_scan_history(api: wandb.Api, state: State) -> None:
    state.create_run("acme", "updates", run_id="r1", display_name="old-name", config={"lr": 0.1})
    state.log_history("acme", "updates", "r1", [{"loss": 1 / (i + 1), "acc": i / 10} for i in range(7)])
    run = api.run("acme/updates/r1")
    run.name = "renamed"
    run.tags = ["best", "baseline"]
    run.config["lr"] = 0.2
    run.summary["best_acc"] = 0.97
    run.update()
    held = held_project(state, "acme", "updates").runs["r1"]
    assert (held.display_name, held.tags, held.config, held.summary["best_acc"]) == (
        "renamed", ["best", "baseline"], {"lr": 0.2}, 0.97)
    reread = api.run("acme/updates/r1")
    assert (reread.name, reread.tags, reread.config, reread.summary["best_acc"]) == (
        "renamed", ["best", "baseline"], {"lr": 0.2}, 0.97)
    assert list(reread.scan_history()) == held.rows
    assert list(reread.scan_history(keys=["loss"], page_size=3)) == [
        {"_step": r["_step"], "loss": r["loss"]} for r in held.rows]
    assert reread.update_state("failed") and held.state.value == "failed"
    assert journal(state, "set_run_state")[-1] == ("alice", "acme/updates/r1", "failed")


def test_a_run_made_with_wandb_init_log_and_log_artifact(api: wandb.Api, state: State, tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights-v1")
    with wandb.init(entity="acme", project="sdk-runs", id="train-1", name="brisk-river-1", tags=["baseline"],
                    config={"lr": 0.01, "epochs": 5}, settings=run_settings()) as run:
        for step in range(5):
            run.log({"loss": 1 / (step + 1), "acc": step / 5})
        artifact = wandb.Artifact("classifier", type="model", metadata={"acc": 0.9})
        artifact.add_file(str(weights))
        logged = run.log_artifact(artifact, aliases=["best"]).wait()
    held = held_project(state, "acme", "sdk-runs").runs["train-1"]
    assert (held.state.value, held.exitcode, held.display_name, held.tags, held.user.username) == (
        "finished", 0, "brisk-river-1", ["baseline"], "alice")
    assert {k: held.config[k] for k in ("lr", "epochs")} == {"lr": 0.01, "epochs": 5}
    assert [(r["_step"], r["loss"], r["acc"]) for r in held.rows] == [(s, 1 / (s + 1), s / 5) for s in range(5)]
    assert held.summary["loss"] == 0.2 and "config.yaml" in held.files and held.files["config.yaml"].uploaded

    version = held_project(state, "acme", "sdk-runs").collections["classifier"].memberships[0]
    stored = version.artifact
    assert (stored.id, stored.state.value, stored.created_by, stored.metadata) == (
        logged.id, "COMMITTED", held, {"acc": 0.9})
    assert sorted(a.alias for a in version.aliases) == ["best", "latest"]
    assert {name: f.data for name, f in stored.files.items()} == {"model.bin": b"weights-v1"}
    assert (stored.size, stored.file_count, stored.digest) == (10, 1, logged.digest)

    reread = api.run("acme/sdk-runs/train-1")
    assert (reread.state, reread.name, reread.history(pandas=False)) == ("finished", "brisk-river-1", held.rows)
    assert [a.id for a in reread.logged_artifacts()] == [stored.id]
    downloaded = Path(api.artifact("acme/sdk-runs/classifier:best").download(root=str(tmp_path / "download")))
    assert (downloaded / "model.bin").read_bytes() == b"weights-v1"


def test_a_run_that_raises_fails(state: State) -> None:
    with pytest.raises(RuntimeError, match="diverged"), \
            wandb.init(entity="acme", project="sdk-runs", id="train-2", settings=run_settings()) as run:
        run.log({"loss": float("inf")})
        raise RuntimeError("training diverged")
    held = held_project(state, "acme", "sdk-runs").runs["train-2"]
    assert (held.state.value, held.exitcode) == ("failed", 1)
    assert journal(state, "set_run_state")[-1] == ("alice", "acme/sdk-runs/train-2", "failed")


# Automations and integrations --------------------------------------------------------------------


def test_integrations_as_the_entity_holds_them(api: wandb.Api, emulator: Emulator, client: httpx.Client) -> None:
    from wandb.automations._generated import CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL

    state = emulator.state
    state.create_project("hooks", "default")
    made = graphql(client, CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL, input={
        "entityName": "hooks", "name": "deploy hook", "urlEndpoint": "https://ci.example.invalid/dispatch",
        "secretRef": "SIGNING_SECRET", "accessTokenRef": "CI_TOKEN"})["data"]["result"]["integration"]
    slack = httpx.post(f"{emulator.url}/_emulator/create_slack_integration", auth=("api", API_KEY),
                       json={"entity": "hooks", "channel_name": "#ml-alerts", "team_name": "acme-slack"},
                       trust_env=False).json()
    held = {i.id: i for i in state.automations.integrations(state.entity("hooks"))}  # type: ignore[arg-type]
    webhook = held[made["id"]]
    assert isinstance(webhook, model.WebhookIntegration)
    assert (webhook.secret_ref, webhook.access_token_ref) == ("SIGNING_SECRET", "CI_TOKEN")
    assert [(type(i).__name__, i.id) for i in api.integrations(entity="hooks")] == [
        ("WebhookIntegration", made["id"]), ("SlackIntegration", slack["id"])]
    assert [(w.name, w.url_endpoint) for w in api.webhook_integrations(entity="hooks")] == [
        ("deploy hook", "https://ci.example.invalid/dispatch")]
    assert [(s.team_name, s.channel_name) for s in api.slack_integrations(entity="hooks")] == [
        ("acme-slack", "#ml-alerts")]
    again = client.post("/graphql", json={"query": CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL, "variables": {"input": {
        "entityName": "hooks", "name": "deploy hook", "urlEndpoint": "https://other.example.invalid"}}})
    assert again.status_code == 409 and again.json()["data"]["result"] is None


SAVED_FILTERS = """query($entity: String!) { entity(name: $entity) { triggers { edges { node {
  name triggeringCondition { ... on FilterEventTriggeringCondition { eventType filter } } } } } } }"""


def test_automations_created_listed_updated_and_deleted(api: wandb.Api, state: State, client: httpx.Client) -> None:
    from wandb.automations import (
        ArtifactEvent,
        DoNothing,
        OnAddArtifactAlias,
        OnCreateArtifact,
        OnLinkArtifact,
        OnRunMetric,
        OnRunState,
        RunEvent,
        SendNotification,
        SendWebhook,
    )

    org = organization(state)
    state.log_artifact("acme", "automated", "m")
    hook = state.automations.create_webhook_integration("acme", "automation-hook", "https://hooks.example.invalid")
    slack = state.automations.create_slack_integration("acme", "#alerts")
    project = api.project("automated", entity="acme")
    webhook = SendWebhook.from_integration(next(api.webhook_integrations(entity="acme")),
                                           payload={"version": "${artifact_version_string}"})
    created = {
        "new-version": api.create_automation(
            OnCreateArtifact(scope=api.artifact_collection("model", "acme/automated/m")) >> webhook,
            name="new-version", description="every version"),
        "production": api.create_automation(
            OnAddArtifactAlias(scope=project, filter=ArtifactEvent.alias.matches_regex("^prod")) >> webhook,
            name="production"),
        "registry-link": api.create_automation(
            OnLinkArtifact(scope=api.registry("model", organization=org)) >> DoNothing(), name="registry-link"),
        "low-loss": api.create_automation(
            OnRunMetric(scope=project, filter=RunEvent.metric("loss").avg(5) < 0.1)
            >> SendNotification.from_integration(next(api.slack_integrations(entity="acme")), title="done"),
            name="low-loss"),
        "failed": api.create_automation(
            OnRunState(scope=project, filter=RunEvent.state.eq("FAILED") & RunEvent.name.contains("train"))
            >> webhook, name="failed"),
    }
    held = {t.name: t for t in state.automations.triggers() if t.name in created}
    assert {n: (t.event_type, t.action_type, t.scope.id, t.enabled) for n, t in held.items()} == {
        "new-version": ("CREATE_ARTIFACT", "GENERIC_WEBHOOK", created["new-version"].scope.id, True),
        "production": ("ADD_ARTIFACT_ALIAS", "GENERIC_WEBHOOK", project.id, True),
        "registry-link": ("LINK_MODEL", "NO_OP", held_project(state, org, "wandb-registry-model").id, True),
        "low-loss": ("RUN_METRIC", "NOTIFICATION", project.id, True),
        "failed": ("RUN_STATE", "GENERIC_WEBHOOK", project.id, True),
    }
    assert held["production"].event_filter == {"$or": [{"$and": [{"alias": {"$regex": "^prod"}}]}]}
    run_filter = {"$and": [{"display_name": {"$contains": "train"}}]}
    assert held["failed"].event_filter == {"run_filter": json.dumps(run_filter, separators=(",", ":")),
                                           "run_state_filter": {"states": ["FAILED"]}}
    action = held["production"].action
    assert isinstance(action, model.WebhookAction)
    assert (action.integration, json.loads(action.request_payload or "")) == (
        hook, {"version": "${artifact_version_string}"})
    notification = held["low-loss"].action
    assert isinstance(notification, model.NotificationAction) and notification.integration is slack

    saved = {e["node"]["name"]: e["node"]["triggeringCondition"]
             for e in graphql(client, SAVED_FILTERS, entity="acme")["data"]["entity"]["triggers"]["edges"]}
    assert json.loads(saved["production"]["filter"]) == {"filter": held["production"].event_filter}
    assert json.loads(saved["failed"]["filter"]) == held["failed"].event_filter

    assert [a.name for a in api.automations(entity="acme")] == ["new-version", "production", "low-loss", "failed"]
    assert [a.name for a in api.automations(entity=org)] == ["registry-link"]
    fetched = api.automation("production", entity="acme")
    assert fetched == created["production"] and fetched.event.filter == created["production"].event.filter
    with pytest.raises(wandb.errors.CommError, match="exists"):
        api.create_automation(OnAddArtifactAlias(scope=project) >> webhook, name="production")
    assert api.create_automation(OnAddArtifactAlias(scope=project) >> webhook, name="production",
                                 fetch_existing=True).id == fetched.id

    fetched.enabled = False
    fetched.description = "paused"
    updated = api.update_automation(fetched)
    assert (updated.enabled, updated.description, held["production"].enabled) == (False, "paused", False)
    assert updated.updated_at is not None
    assert api.delete_automation(updated) is True
    assert "production" not in [t.name for t in state.automations.triggers()]
    with pytest.raises(wandb.errors.CommError, match="not found"):
        api.update_automation(updated)


def test_the_demo_seed_reads_back_through_the_sdk(emulator: Emulator) -> None:
    seeded = State()
    seed.demo(seeded)
    with Emulator(api_key=API_KEY, state=seeded) as demo:
        api = wandb.Api(api_key=API_KEY, overrides={"base_url": demo.url}, timeout=30)
        assert [(a.name, a.event.event_type.value, a.action.action_type.value, a.enabled)
                for a in api.automations(entity="acme")] == [
            ("deploy-on-production", "ADD_ARTIFACT_ALIAS", "GENERIC_WEBHOOK", True),
            ("loss-below-0.1", "RUN_METRIC", "NO_OP", False),
            ("failed-training-run", "RUN_STATE", "GENERIC_WEBHOOK", True)]
        [link] = api.automations(entity="acme-org")
        assert (link.name, link.scope.name, link.action.action_type.value) == (
            "registry-link-to-slack", "wandb-registry-model", "NOTIFICATION")
        assert [(w.name, w.url_endpoint) for w in api.webhook_integrations(entity="acme")] == [
            ("deploy-hook", "https://deploy.example.com/hooks/wandb")]
        assert [s.channel_name for s in api.slack_integrations(entity="acme")] == ["#ml-alerts"]


def test_a_run_uses_an_artifact_and_a_run_resumes(api: wandb.Api, state: State) -> None:
    made = state.log_artifact("acme", "sdk-resume", "dataset", type="dataset")
    with wandb.init(entity="acme", project="sdk-resume", id="eval-1", settings=run_settings()) as run:
        used = run.use_artifact("acme/sdk-resume/dataset:latest")
        run.log({"loss": 1.0})
    with wandb.init(entity="acme", project="sdk-resume", id="eval-1", resume="must", settings=run_settings()) as run:
        run.log({"loss": 0.5})
    held = held_project(state, "acme", "sdk-resume").runs["eval-1"]
    version = state.by_id(made.artifact_id)
    assert isinstance(version, model.Artifact) and used.id == version.id
    assert [r.name for r in version.used_by] == ["eval-1"]
    assert [a.id for a in api.run("acme/sdk-resume/eval-1").used_artifacts()] == [made.artifact_id]
    assert [(r["_step"], r["loss"]) for r in held.rows] == [(0, 1.0), (1, 0.5)] and held.state.value == "finished"
