"""The real ``wandb`` SDK against the emulator: what it lists and fetches is exactly what the emulator holds,
and what it writes (``wandb.init``/``log``/``log_artifact``/``finish``, artifact aliases, tags, links,
collection tags, run updates, automations) lands in the emulator's state as W&B would keep it and reads
back the same. The SDK (and its ``wandb-core`` helper) writes only to a temporary directory and talks
only to the emulator on 127.0.0.1 (:func:`tests.support.emulator.sdk_sandbox`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import wandb

from tests.support.emulator import API_KEY, sdk_sandbox
from wbauto.emulator import Emulator, State, model, scalars


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


def test_fetch_a_version_by_index_and_by_alias(api: wandb.Api, state: State) -> None:
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


def test_fetch_a_registry_version_by_alias(api: wandb.Api, state: State) -> None:
    org = state.create_organization("acme-org", teams=["acme"])
    state.create_registry("acme-org", "model")
    source = state.log_artifact("acme", "registry-src", "m", metadata={"acc": 0.9})
    linked = state.link_artifact(source.artifact_id, entity=org.entity, project="wandb-registry-model",
                                 collection="prod", aliases=["staging"])
    fetched = api.artifact(f"{org.entity}/wandb-registry-model/prod:staging")
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
