"""The W&B emulator: W&B's state rules, its GraphQL answers to the poller's documents, the control API,
auth, error shapes and injected failures, all over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.controlplane import REPO
from tests.support.emulator import API_KEY, START, Clock, graphql
from wbauto.emulator import Emulator, State, graphql_api, model
from wbauto.emulator.graphql_api import FEATURES
from wbauto.emulator.state import InvalidRequest, NotFound
from wbauto.wbapi import queries


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> State:
    return State(viewer="alice", clock=clock)


@pytest.fixture
def emulator(state: State) -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY, state=state) as running:
        yield running


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, auth=("api", API_KEY), timeout=10) as http:
        yield http


def aliases(state: State, collection: str) -> dict[str, str]:
    """alias -> version in the collection ``acme/p/<collection>``."""
    found = state.project("acme", "p")
    assert found is not None
    return {a.alias: a.membership.version for a in found.collections[collection].aliases.values()}


def versions_page(client: httpx.Client, collection_id: str, after: str | None = None,
                  per_page: int = 100) -> dict[str, Any]:
    body = graphql(client, queries.collection_versions(1), c0=collection_id, after0=after, perPage=per_page)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["c0"]["artifacts"]
    return page


# State rules --------------------------------------------------------------------------------------


def test_an_alias_is_unique_in_its_collection_and_moves(state: State, client: httpx.Client) -> None:
    v0 = state.log_artifact("acme", "p", "m", aliases=["best"])
    state.log_artifact("acme", "p", "m")
    moved = state.add_alias("acme", "p", "m", "v1", "best", author="bob")
    assert (moved.version, moved.previous, moved.changed) == ("v1", "v0", True)
    assert aliases(state, "m") == {"latest": "v1", "best": "v1"}
    first_alias = """query A($id: ID!) {
      artifactCollection(id: $id) { aliases(first: 1) { pageInfo { hasNextPage } edges { node { alias } } } }
    }"""
    held = graphql(client, first_alias, id=v0.collection_id)["data"]["artifactCollection"]
    assert held["aliases"] == {"pageInfo": {"hasNextPage": True}, "edges": [{"node": {"alias": "latest"}}]}
    again = state.add_alias("acme", "p", "m", 1, "best")
    assert (again.previous, again.changed) == ("v1", False)
    assert state.remove_alias("acme", "p", "m", "v1", "best").previous == "v1"
    with pytest.raises(NotFound):
        state.remove_alias("acme", "p", "m", v0.version, "best")
    for bad in ("v7", "", "a/b", "a:b"):
        with pytest.raises(InvalidRequest):
            state.add_alias("acme", "p", "m", "v0", bad)
    state.log_artifact("acme", "p", "other", aliases=["best"])
    assert aliases(state, "m") == {"latest": "v1"} and aliases(state, "other") == {"latest": "v0", "best": "v0"}


def test_latest_follows_the_newest_committed_version(state: State) -> None:
    state.log_artifact("acme", "p", "m")
    pending = state.log_artifact("acme", "p", "m", state="PENDING", aliases=["candidate"])
    assert (pending.version, pending.state, pending.aliases) == ("v1", "PENDING", ())
    assert aliases(state, "m") == {"latest": "v0"}
    committed = state.commit_artifact(pending.artifact_id)
    assert committed.state == "COMMITTED" and set(committed.aliases) == {"latest", "candidate"}
    assert aliases(state, "m") == {"latest": "v1", "candidate": "v1"}
    with pytest.raises(InvalidRequest):
        state.commit_artifact(pending.artifact_id)
    state.log_artifact("acme", "p", "m")
    assert aliases(state, "m") == {"latest": "v2", "candidate": "v1"}


def test_a_linked_version_gets_its_own_index_in_the_portfolio(state: State, client: httpx.Client) -> None:
    org = state.create_organization("acme-org", teams=["acme"])
    state.create_registry("acme-org", "model")
    source = [state.log_artifact("acme", "p", "m", metadata={"i": i}) for i in range(3)]
    first = state.link_artifact(source[2].artifact_id, entity=org.entity, project="wandb-registry-model",
                                collection="prod", aliases=["staging"])
    second = state.link_artifact(source[0].artifact_id, entity=org.entity, project="wandb-registry-model",
                                 collection="prod")
    assert (first.version, second.version) == ("v0", "v1")
    assert first.name == "acme-org/wandb-registry-model/prod:v0"
    assert first.collection_type == "ArtifactPortfolio" and first.artifact_id == source[2].artifact_id
    relinked = state.link_artifact(source[2].artifact_id, entity=org.entity, project="wandb-registry-model",
                                   collection="prod", aliases=["production"])
    assert relinked.membership_id == first.membership_id and relinked.version == "v0"

    links_query = """query L($id: ID!) {
      artifact(id: $id) { artifactMemberships { edges { node {
        versionIndex aliases { alias } artifactCollection { __typename name project { name entity { name } } }
      } } } }
    }"""
    links = graphql(client, links_query, id=source[2].artifact_id)
    memberships = [e["node"] for e in links["data"]["artifact"]["artifactMemberships"]["edges"]]
    assert [(m["artifactCollection"]["__typename"], m["versionIndex"], [a["alias"] for a in m["aliases"]])
            for m in memberships] == [("ArtifactSequence", 2, ["latest"]),
                                      ("ArtifactPortfolio", 0, ["staging", "production"])]
    assert memberships[1]["artifactCollection"]["project"] == {"name": "wandb-registry-model",
                                                              "entity": {"name": "acme-org"}}
    org_query = """{ organization(name: "acme-org") { name orgEntity { name entityType
        projects { edges { node { name } } } } } }"""
    assert graphql(client, org_query)["data"]["organization"] == {"name": "acme-org", "orgEntity": {
        "name": "acme-org", "entityType": "organization",
        "projects": {"edges": [{"node": {"name": "wandb-registry-model"}}]}}}

    page = versions_page(client, first.collection_id)
    got = [(e["version"], e["node"]["versionIndex"], sorted(a["alias"] for a in e["node"]["aliases"]
                                                            if a["artifactCollection"]["name"] == "prod"))
           for e in page["edges"]]
    assert got == [("v1", 0, ["latest"]), ("v0", 2, ["production", "staging"])]
    assert page["edges"][0]["node"]["artifactSequence"]["name"] == "m"


def test_registries_belong_to_an_organization(state: State) -> None:
    version = state.log_artifact("acme", "p", "m")
    with pytest.raises(NotFound, match="registry"):
        state.link_artifact(version.artifact_id, entity="acme", project="wandb-registry-model", collection="c")
    state.create_organization("acme-org")
    with pytest.raises(NotFound):
        state.create_registry("nope", "model")
    state.create_registry("acme-org", "model")
    with pytest.raises(InvalidRequest, match="linked into a registry"):
        state.log_artifact("acme-org", "wandb-registry-model", "m")
    pending = state.log_artifact("acme", "p", "m", state="PENDING")
    with pytest.raises(InvalidRequest, match="only committed"):
        state.link_artifact(pending.artifact_id, entity="acme-org", project="wandb-registry-model", collection="c")
    with pytest.raises(InvalidRequest, match="holds 'model' artifacts"):
        state.log_artifact("acme", "p", "m", type="dataset")


def test_version_and_collection_tags(state: State, client: httpx.Client) -> None:
    version = state.log_artifact("acme", "p", "m", tags=["a"])
    assert state.add_tag("acme", "p", "m", "v0", "b").changed
    assert not state.add_tag("acme", "p", "m", "latest", "b").changed
    assert state.remove_tag("acme", "p", "m", "v0", "a").changed
    with pytest.raises(NotFound):
        state.remove_tag("acme", "p", "m", "v0", "a")
    assert state.add_collection_tag("acme", "p", "m", "vision").version is None
    state.add_collection_tag("acme", "p", "m", "nlp")
    state.remove_collection_tag("acme", "p", "m", "nlp")

    node = versions_page(client, version.collection_id)["edges"][0]["node"]
    assert [t["name"] for t in node["tags"]] == ["b"]
    body = graphql(client, queries.project_collections(1), e0="acme", p0="p")
    collection = body["data"]["p0"]["artifactCollections"]["edges"][0]["node"]
    assert [e["node"]["name"] for e in collection["tags"]["edges"]] == ["vision"]


def test_deleted_versions_leave_every_collection(state: State, client: httpx.Client) -> None:
    v0 = state.log_artifact("acme", "p", "m", aliases=["best"])
    state.log_artifact("acme", "p", "m")
    state.delete_artifact(v0.artifact_id)
    assert [e["version"] for e in versions_page(client, v0.collection_id)["edges"]] == ["v1"]
    assert aliases(state, "m") == {"latest": "v1"}
    body = graphql(client, "query A($id: ID!) { artifact(id: $id) { id } }", id=v0.artifact_id)
    assert body == {"data": {"artifact": None}}
    assert state.log_artifact("acme", "p", "m").version == "v2"


def test_history_steps_and_page_boundaries(state: State, client: httpx.Client, clock: Clock) -> None:
    run = state.create_run("acme", "p", run_id="r1")
    clock.advance(2)
    state.log_history("acme", "p", "r1", [{"loss": 1.0}, {"_step": 5, "loss": 0.5}, {"loss": 0.25}])
    with pytest.raises(InvalidRequest):
        state.log_history("acme", "p", "r1", [{"_step": 6}])
    info = state.log_history("acme", "p", "r1", [{"loss": float(i)} for i in range(7)])
    assert info.last_step == 13 and info.heartbeat_at > run.created_at

    def steps(low: int, high: int, page: int = 100) -> list[int]:
        body = graphql(client, queries.run_history(1), e0="acme", p0="p", r0="r1", min0=low, max0=high,
                       pageSize=page)
        return [json.loads(row)["_step"] for row in body["data"]["h0"]["run"]["history"]]

    assert steps(0, 6) == [0, 5]
    assert steps(5, 7) == [5, 6]
    assert steps(13, 14) == [13] and steps(14, 100) == []
    assert steps(0, 100, page=3) == [0, 8, 13]
    row = json.loads(graphql(client, queries.run_history(1), e0="acme", p0="p", r0="r1", min0=0,
                             max0=1, pageSize=1)["data"]["h0"]["run"]["history"][0])
    assert row == {"loss": 1.0, "_step": 0, "_runtime": 2.0, "_timestamp": START.timestamp() + 2}


def test_run_state_and_heartbeat(state: State, clock: Clock) -> None:
    created = state.create_run("acme", "p", run_id="r1", user="bob", display_name="brave-sun-1")
    assert (created.state, created.user, created.heartbeat_at) == ("running", "bob", START)
    clock.advance(30)
    failed = state.set_run_state("acme", "p", "r1", "failed")
    assert failed.state == "failed" and failed.heartbeat_at == clock.now
    with pytest.raises(InvalidRequest):
        state.set_run_state("acme", "p", "r1", "FAILED")
    with pytest.raises(InvalidRequest, match="already exists"):
        state.create_run("acme", "p", run_id="r1")
    with pytest.raises(NotFound):
        state.set_run_state("acme", "p", "nope", "finished")
    assert len(state.create_run("acme", "p").run_id) == 8


def test_the_journal_names_authors(state: State) -> None:
    state.create_run("acme", "p", run_id="r1", user="bob")
    state.log_artifact("acme", "p", "m", run="r1", aliases=["best"])
    state.add_tag("acme", "p", "m", "v0", "t", author="carol")
    got = [(c.kind, c.author, c.target, c.value) for c in state.changes()]
    assert got == [
        ("create_run", "bob", "acme/p/r1", "running"),
        ("log_artifact", "bob", "acme/p/m:v0", None),
        ("add_alias", "bob", "acme/p/m:v0", "best"),
        ("add_tag", "carol", "acme/p/m:v0", "t"),
    ]
    assert [c.seq for c in state.changes(since=3)] == [4]


# The poller's documents ---------------------------------------------------------------------------


def test_viewer_and_entity_projects(state: State, client: httpx.Client) -> None:
    body = graphql(client, queries.VIEWER)
    assert body["data"]["viewer"]["username"] == "alice"
    assert body["data"]["serverInfo"] == {"features": [{"name": f, "isEnabled": True} for f in FEATURES]}
    for name in ("p1", "p2", "p3"):
        state.create_project("acme", name)
    seen, cursor = [], None
    while True:
        page = graphql(client, queries.entity_projects(1), n0="acme", a0=cursor, perPage=2)
        projects = page["data"]["e0"]["projects"]
        seen += [e["node"]["name"] for e in projects["edges"]]
        if not projects["pageInfo"]["hasNextPage"]:
            break
        cursor = projects["pageInfo"]["endCursor"]
    assert seen == ["p3", "p2", "p1"]
    assert graphql(client, queries.entity_projects(1), n0="nobody") == {"data": {"e0": None}}


def test_project_collections(state: State, client: httpx.Client) -> None:
    version = state.log_artifact("acme", "p", "m", type="model")
    state.log_artifact("acme", "p", "d", type="dataset")
    body = graphql(client, queries.project_collections(1), e0="acme", p0="p")
    project = body["data"]["p0"]
    held = state.project("acme", "p")
    assert held is not None and project["name"] == "p" and project["id"] == held.id
    nodes = [e["node"] for e in project["artifactCollections"]["edges"]]
    assert [(n["__typename"], n["name"], n["defaultArtifactType"]["name"]) for n in nodes] == [
        ("ArtifactSequence", "d", "dataset"), ("ArtifactSequence", "m", "model")]
    assert nodes[1]["id"] == version.collection_id
    assert base64.b64decode(version.collection_id) == b"ArtifactCollection:1"
    assert graphql(client, queries.project_collections(1), e0="acme", p0="nope") == {"data": {"p0": None}}


def test_collection_versions_page_with_stable_cursors(state: State, client: httpx.Client) -> None:
    created = [state.log_artifact("acme", "p", "m", metadata={"i": i}, author="bob") for i in range(3)]
    first = versions_page(client, created[0].collection_id, per_page=2)
    assert [e["version"] for e in first["edges"]] == ["v2", "v1"] and first["pageInfo"]["hasNextPage"]
    state.log_artifact("acme", "p", "m")
    rest = versions_page(client, created[0].collection_id, after=first["pageInfo"]["endCursor"], per_page=2)
    assert [e["version"] for e in rest["edges"]] == ["v0"] and not rest["pageInfo"]["hasNextPage"]
    node = rest["edges"][0]["node"]
    assert node["id"] == created[0].artifact_id and base64.b64decode(node["id"]) == b"Artifact:1"
    assert (node["state"], node["digest"], node["metadata"]) == ("COMMITTED", created[0].digest, '{"i": 0}')
    assert node["createdAt"] == "2026-01-02T03:04:05.000000Z"
    assert node["createdBy"] == {"__typename": "User", "username": "bob"}
    assert node["artifactSequence"] == {"name": "m", "project": {"name": "p", "entity": {"name": "acme"}}}

    two = graphql(client, queries.collection_versions(2), c0=created[0].collection_id, after0=None,
                  c1=base64.b64encode(b"ArtifactCollection:999").decode(), after1=None)
    assert len(two["data"]["c0"]["artifacts"]["edges"]) == 4 and two["data"]["c1"] is None


def test_versions_logged_by_a_run_name_the_run(state: State, client: httpx.Client) -> None:
    state.create_run("acme", "p", run_id="r1", user="bob")
    version = state.log_artifact("acme", "p", "m", run="r1")
    node = versions_page(client, version.collection_id)["edges"][0]["node"]
    assert node["createdBy"] == {"__typename": "Run", "name": "r1", "user": {"username": "bob"}}


def test_project_runs_newest_heartbeat_first(state: State, client: httpx.Client, clock: Clock) -> None:
    state.create_run("acme", "p", run_id="old", config={"lr": 0.1})
    clock.advance(1)
    state.create_run("acme", "p", run_id="new")
    clock.advance(1)
    state.log_history("acme", "p", "old", [{"loss": 2.0}, {"loss": 1.0, "acc": 0.5}])
    body = graphql(client, queries.project_runs(1), e0="acme", p0="p")
    nodes = [e["node"] for e in body["data"]["p0"]["runs"]["edges"]]
    assert [n["name"] for n in nodes] == ["old", "new"]
    old = nodes[0]
    assert (old["state"], old["historyLineCount"]) == ("running", 2)
    assert old["user"] == {"name": "alice", "username": "alice"}
    assert old["heartbeatAt"] == "2026-01-02T03:04:07.000000Z" and old["createdAt"] == "2026-01-02T03:04:05.000000Z"
    assert old["historyKeys"]["lastStep"] == 1
    assert old["historyKeys"]["keys"]["loss"] == {"typeCounts": [{"type": "number", "count": 2}], "previousValue": 1.0}
    assert old["historyKeys"]["keys"]["acc"]["typeCounts"][0]["count"] == 1
    by_creation = graphql(client, 'query { project(entityName: "acme", name: "p") { runs(order: "+created_at") '
                                  "{ edges { node { name } } } } }")
    assert [e["node"]["name"] for e in by_creation["data"]["project"]["runs"]["edges"]] == ["old", "new"]


def test_push_to_run_queue_by_name(state: State, client: httpx.Client) -> None:
    state.create_run_queue("acme", "model-registry", "gpu")
    spec = {"job": "acme/p/job:latest", "overrides": {"run_config": {"lr": 0.1}}}
    body = graphql(client, queries.PUSH_TO_RUN_QUEUE, entityName="acme", projectName="model-registry",
                   queueName="gpu", runSpec=json.dumps(spec), priority=1,
                   templateVariableValues=json.dumps({"gpus": 2}))
    pushed = body["data"]["pushToRunQueueByName"]
    assert json.loads(pushed["runSpec"]) == spec
    [item] = state.queue_items("acme", "model-registry", "gpu")
    assert (item.id, item.run_spec, item.priority, item.template_variable_values) == (
        pushed["runQueueItemId"], spec, 1, {"gpus": 2})
    missing = graphql(client, queries.PUSH_TO_RUN_QUEUE, entityName="acme", projectName="model-registry",
                      queueName="cpu", runSpec="{}")
    assert missing == {"data": {"pushToRunQueueByName": None}}
    queues = graphql(client, '{ project(entityName: "acme", name: "model-registry") { runQueues { name access } } }')
    assert queues["data"]["project"]["runQueues"] == [{"name": "gpu", "access": "PROJECT"}]


def test_documents_are_parsed_once_and_counted_by_operation(state: State, client: httpx.Client) -> None:
    graphql_api.prepare.cache_clear()
    for _ in range(3):
        client.post("/graphql", json={"query": queries.VIEWER, "operationName": ""})
    assert graphql_api.prepare.cache_info().misses == 1 and graphql_api.prepare.cache_info().hits == 2
    graphql(client, "{ viewer { id } }")
    assert state.stats() == {"WbautoViewer": 3, "(anonymous)": 1}
    state.reset_stats()
    assert state.stats() == {}


# GraphQL errors -----------------------------------------------------------------------------------


def test_graphql_error_shapes(client: httpx.Client) -> None:
    unknown = graphql(client, "query Q {\n  viewer { id xyzzy }\n}")
    assert unknown == {"data": None, "errors": [
        {"message": "Cannot query field 'xyzzy' on type 'User'.", "locations": [{"line": 2, "column": 15}]}]}
    bad_variable = graphql(client, queries.entity_projects(1), n0="acme", perPage="many")
    [error] = bad_variable["errors"]
    assert bad_variable["data"] is None and "$perPage" in error["message"] and error["locations"]
    bad_json = graphql(client, queries.PUSH_TO_RUN_QUEUE, entityName="a", projectName="b", queueName="c",
                       runSpec="{not json")
    assert "JSONString is not valid JSON" in bad_json["errors"][0]["message"]
    syntax = graphql(client, "query {")
    assert syntax["data"] is None and syntax["errors"][0]["locations"] == [{"line": 1, "column": 8}]
    cursor = graphql(client, queries.entity_projects(1), n0="alice", a0="%%%")
    assert cursor["data"] == {"e0": {"name": "alice", "projects": None}}
    assert cursor["errors"][0]["path"] == ["e0", "projects"]
    assert "invalid cursor" in cursor["errors"][0]["message"]


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "malformed JSON"),
    (b'{"variables": {}}', "query"),
    (b'{"query": "{ viewer { id } }", "variables": []}', "variables"),
])
def test_bad_request_bodies_get_400(client: httpx.Client, body: bytes, message: str) -> None:
    response = client.post("/graphql", content=body)
    assert response.status_code == 400 and message in response.json()["errors"][0]["message"]


# HTTP: auth, control API, failure injection -------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None,
    "Basic " + base64.b64encode(b"api:wrong").decode(),
    "Basic " + base64.b64encode(f"user:{API_KEY}".encode()).decode(),
    f"Bearer {API_KEY}",
    "Basic %%%",
])
@pytest.mark.parametrize("path", ["/graphql", "/_emulator/stats"])
def test_requests_without_the_api_key_get_401(emulator: Emulator, authorization: str | None, path: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(emulator.url + path, json={"query": "{ viewer { id } }"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "authentication required: HTTP Basic api:<API key>"}]}
    assert emulator.state.stats() == {}


def test_sdk_telemetry_is_accepted_without_auth(emulator: Emulator) -> None:
    response = httpx.post(emulator.url + "/sdk/otel/v1/metrics", content=b"\x0a\x00",
                          headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200 and response.content == b""
    assert httpx.post(emulator.url + "/elsewhere", auth=("api", API_KEY)).status_code == 404
    assert httpx.get(emulator.url + "/graphql").status_code == 405


def test_control_api_mirrors_the_state_methods(state: State, client: httpx.Client, clock: Clock) -> None:
    def call(operation: str, **arguments: Any) -> Any:
        response = client.post(f"/_emulator/{operation}", json=arguments)
        assert response.status_code == 200, response.text
        return response.json()

    logged = call("log_artifact", entity="acme", project="p", collection="m", metadata={"acc": 0.9},
                  aliases=["best"], tags=["t"], author="bob")
    assert logged["version"] == "v0" and logged["created_at"] == "2026-01-02T03:04:05Z"
    assert sorted(logged["aliases"]) == ["best", "latest"]
    pending = call("log_artifact", entity="acme", project="p", collection="m", state="PENDING")
    assert call("commit_artifact", artifact_id=pending["artifact_id"])["aliases"] == ["latest"]
    call("create_organization", name="acme-org")
    call("create_registry", organization="acme-org", name="model")
    linked = call("link_artifact", artifact_id=logged["artifact_id"], entity="acme-org",
                  project="wandb-registry-model", collection="prod", aliases=["staging"])
    assert (linked["version"], linked["collection_type"]) == ("v0", "ArtifactPortfolio")
    assert call("add_alias", entity="acme", project="p", collection="m", version=1, alias="best")["previous"] == "v0"
    assert call("remove_alias", entity="acme", project="p", collection="m", version="v1", alias="best")["changed"]
    assert call("add_tag", entity="acme", project="p", collection="m", version="v1", tag="x")["changed"]
    call("remove_tag", entity="acme", project="p", collection="m", version="v1", tag="x")
    call("add_collection_tag", entity="acme", project="p", collection="m", tag="vision")
    call("remove_collection_tag", entity="acme", project="p", collection="m", tag="vision")
    run = call("create_run", entity="acme", project="p", run_id="r1", config={"lr": 0.1})
    clock.advance(5)
    logged_rows = call("log_history", entity="acme", project="p", run_id="r1", rows=[{"loss": 1}, {"loss": 0.5}])
    assert logged_rows["last_step"] == 1 and logged_rows["heartbeat_at"] == "2026-01-02T03:04:10Z"
    assert call("set_run_state", entity="acme", project="p", run_id="r1", state="finished")["state"] == "finished"
    held = state.project("acme", "p")
    assert held is not None and run["id"] == held.runs["r1"].id
    queue = call("create_run_queue", entity="acme", project="p", name="q")
    assert call("queue_items", entity="acme", project="p", queue="q") == [] and queue["name"] == "q"
    graphql(client, "{ viewer { id } }")
    assert call("stats") == {"(anonymous)": 1}
    assert call("reset_stats") is None and call("stats") == {}
    assert call("fail_next", n=1, kind="graphql") is None
    assert graphql(client, "{ viewer { id } }")["errors"][0]["message"].startswith("injected failure")
    assert [c["kind"] for c in call("changes", since=8)] == [
        "add_tag", "remove_tag", "add_collection_tag", "remove_collection_tag", "create_run", "set_run_state"]


@pytest.mark.parametrize(("operation", "body", "status", "message"), [
    ("nope", {}, 404, "no control operation 'nope'"),
    ("add_alias", {"entity": "acme"}, 400, "project: Missing required argument"),
    ("create_run", {"entity": "acme", "project": "p", "colour": "red"}, 400, "colour: Unexpected keyword"),
    ("log_artifact", {"entity": "acme", "project": "p", "collection": "m", "aliases": "best"}, 400, "aliases"),
    ("set_run_state", {"entity": "acme", "project": "p", "run_id": "r", "state": "finished"}, 404, "does not"),
    ("fail_next", {"n": 1, "kind": "boom"}, 400, "kind must be one of"),
    ("stats", [], 400, "JSON object"),
])
def test_control_api_errors(client: httpx.Client, operation: str, body: Any, status: int, message: str) -> None:
    response = client.post(f"/_emulator/{operation}", json=body)
    assert response.status_code == status and message in response.json()["errors"][0]["message"]


def test_control_api_rejects_malformed_json(client: httpx.Client) -> None:
    response = client.post("/_emulator/stats", content=b"{")
    assert response.status_code == 400 and "malformed JSON" in response.json()["errors"][0]["message"]


def test_injected_failures_then_recovery(state: State, client: httpx.Client) -> None:
    state.fail_next(2, "http429", retry_after=3)
    state.fail_next(1, "http500")
    state.fail_next(1, "graphql")
    answers = [client.post("/graphql", json={"query": queries.VIEWER}) for _ in range(5)]
    assert [a.status_code for a in answers] == [429, 429, 500, 200, 200]
    assert answers[0].headers["Retry-After"] == "3" and "rate limit" in answers[0].json()["errors"][0]["message"]
    assert answers[3].json() == {"data": None, "errors": [{"message": "injected failure: internal error"}]}
    assert answers[4].json()["data"]["viewer"]["username"] == "alice"
    assert state.stats() == {"WbautoViewer": 5}


def test_stop_closes_open_connections(state: State) -> None:
    emulator = Emulator(api_key=API_KEY, state=state)
    with pytest.raises(RuntimeError):
        _ = emulator.url
    emulator.start()
    with httpx.Client(base_url=emulator.url, auth=("api", API_KEY)) as http:
        assert graphql(http, "{ viewer { username } }")["data"] == {"viewer": {"username": "alice"}}
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            http.post("/graphql", json={"query": "{ viewer { id } }"})
    emulator.stop()


# Command line -------------------------------------------------------------------------------------


def lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines, read by a background thread."""
    assert proc.stdout is not None
    out: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            out.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    return out


def test_cli_serves_the_demo_seed_until_sigterm() -> None:
    code = "import argparse, sys; from wbauto.cli import emulator as e; p = argparse.ArgumentParser(); " \
           "e.add_arguments(p); sys.exit(e.main(p.parse_args(sys.argv[1:])))"
    proc = subprocess.Popen([sys.executable, "-c", code, "--seed", "demo", "--api-key", API_KEY],
                            stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        output = lines(proc)
        url = output.get(timeout=30).removeprefix("W&B emulator: ")
        assert url.startswith("http://127.0.0.1:") and output.get(timeout=30) == f"API key: {API_KEY}"
        with httpx.Client(base_url=url, auth=("api", API_KEY)) as http:
            body = graphql(http, queries.project_collections(1), e0="acme", p0="mnist")
            names = {e["node"]["name"] for e in body["data"]["p0"]["artifactCollections"]["edges"]}
            assert names == {"classifier"}
            runs = graphql(http, queries.project_runs(1), e0="acme", p0="mnist")["data"]["p0"]["runs"]
            assert {e["node"]["state"] for e in runs["edges"]} == {"finished", "running"}
            registry = graphql(http, queries.project_collections(1), e0="acme-org", p0="wandb-registry-model")
            [portfolio] = registry["data"]["p0"]["artifactCollections"]["edges"]
            assert portfolio["node"]["__typename"] == "ArtifactPortfolio"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# W&B's own writes (what the SDK sends) ------------------------------------------------------------

UPSERT = """mutation($input: UpsertBucketInput!) { upsertBucket(input: $input) {
  bucket { id name displayName tags config project { name entity { name } } } inserted } }"""
ALIAS_IDS = "query($id: ID!) { artifact(id: $id) { aliases { id alias } } }"


def stream(client: httpx.Client, path: str, **body: Any) -> httpx.Response:
    return client.post(f"/files/{path}/file_stream", json=body)


def jsonl(*rows: dict[str, Any]) -> list[str]:
    return [json.dumps(row) for row in rows]


def md5(data: bytes) -> str:
    import hashlib

    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def test_upsert_bucket_creates_then_updates_a_run(state: State, client: httpx.Client) -> None:
    made = graphql(client, UPSERT, input={"name": "r1", "entityName": "acme", "displayName": "first",
                                          "config": json.dumps({"lr": {"value": 0.1, "desc": None}})})
    bucket = made["data"]["upsertBucket"]["bucket"]
    assert made["data"]["upsertBucket"]["inserted"] is True
    assert (bucket["project"], json.loads(bucket["config"])) == (
        {"name": "uncategorized", "entity": {"name": "acme"}}, {"lr": {"value": 0.1, "desc": None}})
    updated = graphql(client, UPSERT, input={"id": bucket["id"], "tags": ["best"], "displayName": "renamed"})
    assert updated["data"]["upsertBucket"]["inserted"] is False
    run = state.project("acme", "uncategorized").runs["r1"]  # type: ignore[union-attr]
    assert (run.display_name, run.tags, run.config, run.user.username) == ("renamed", ["best"], {"lr": 0.1}, "alice")
    missing = client.post("/graphql", json={"query": UPSERT, "variables": {"input": {"id": "UnVuOjk5"}}})
    assert missing.status_code == 404 and "does not exist" in missing.json()["errors"][0]["message"]


def test_file_stream_keeps_each_line_once_and_ends_the_run(state: State, client: httpx.Client) -> None:
    state.create_run("acme", "p", run_id="r1")
    history = {"wandb-history.jsonl": {"offset": 0, "content": jsonl({"_step": 0, "loss": 1.0},
                                                                     {"_step": 1, "loss": 0.5})}}
    assert stream(client, "acme/p/r1", files=history).json() == {"exitcode": None, "limits": {}}
    assert stream(client, "acme/p/r1", files=history).status_code == 200  # a retry sends the lines again
    more = {"wandb-history.jsonl": {"offset": 1, "content": jsonl({"_step": 1, "loss": 0.5},
                                                                  {"_step": 2, "loss": 0.2})},
            "wandb-summary.json": {"offset": 0, "content": jsonl({"loss": 0.2, "best": 0.2})},
            "output.log": {"offset": 0, "content": ["epoch 1", "epoch 2"]}}
    assert stream(client, "acme/p/r1", files=more, complete=True, exitcode=0).status_code == 200
    run = state.project("acme", "p").runs["r1"]  # type: ignore[union-attr]
    assert [r["_step"] for r in run.rows] == [0, 1, 2] and run.summary == {"loss": 0.2, "best": 0.2}
    assert (run.logs, run.state.value, run.exitcode) == (["epoch 1", "epoch 2"], "finished", 0)
    state.create_run("acme", "p", run_id="r2")
    assert stream(client, "acme/p/r2", files={}, complete=True, exitcode=1).status_code == 200
    assert state.project("acme", "p").runs["r2"].state.value == "failed"  # type: ignore[union-attr]
    assert stream(client, "acme/p/r1", files={}).status_code == 200  # resumed
    assert [c.value for c in state.changes() if c.target == "acme/p/r1"][-2:] == ["finished", "running"]
    assert stream(client, "acme/p/nope", files={}).status_code == 404
    bad = stream(client, "acme/p/r1", files={"wandb-history.jsonl": {"offset": 3, "content": ["{"]}})
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    assert httpx.post(f"{client.base_url}/files/acme/p/r1/file_stream", json={}).status_code == 401


def test_uploads_check_the_md5_and_downloads_return_the_bytes(state: State, emulator: Emulator) -> None:
    slot = state.reserve_file("model.bin", md5(b"weights"))
    url = state.file_url(slot)
    assert url.startswith(emulator.url + "/storage/")
    assert httpx.put(url, content=b"tampered").status_code == 400
    assert httpx.put(url, content=b"weights", headers={"Content-MD5": md5(b"other")}).status_code == 400
    assert httpx.put(url, content=b"weights").status_code == 200 and slot.uploaded
    assert httpx.get(url).content == b"weights"
    assert httpx.get(emulator.url + "/storage/nope").status_code == 404
    assert httpx.put(emulator.url + "/storage/nope", content=b"x").status_code == 404


def test_a_version_commits_once_its_manifest_and_files_are_uploaded(state: State, emulator: Emulator) -> None:
    state.create_run("acme", "p", run_id="r1")
    pending = state.create_artifact("acme", "p", "m", type="model", digest="d1", run="r1", aliases=["best"],
                                    metadata={"acc": 0.9})
    assert pending.state.value == "PENDING" and pending.created_by.name == "r1"  # type: ignore[union-attr]
    manifest = state.create_manifest(pending.id, name="wandb_manifest.json", digest="")
    weights = state.create_artifact_file(pending.id, "model.bin", md5(b"weights"))
    with pytest.raises(InvalidRequest, match="manifest was not uploaded"):
        state.commit(pending.id)
    entries = {"model.bin": {"digest": md5(b"weights"), "size": 7}, "s3.txt": {"digest": "x", "ref": "s3://b/k"}}
    state.upload(manifest.file.key, json.dumps({"version": 1, "contents": entries}).encode())
    with pytest.raises(InvalidRequest, match=r"model\.bin was not uploaded"):
        state.commit(pending.id)
    state.upload(weights.key, b"weights")
    committed = state.commit(pending.id)
    assert (committed.state.value, committed.size, committed.file_count) == ("COMMITTED", 7, 2)
    assert aliases(state, "m") == {"latest": "v0", "best": "v0"}
    again = state.create_artifact("acme", "p", "m", type="model", digest="d1", aliases=["production"])
    assert again is committed and aliases(state, "m")["production"] == "v0", "same digest: the same version"
    assert state.create_artifact("acme", "p", "m", type="model", digest="d2").version_index == 1


def test_alias_ids_name_one_assignment(state: State, client: httpx.Client) -> None:
    v0 = state.log_artifact("acme", "p", "m")
    v1 = state.log_artifact("acme", "p", "m")

    def ids(version: Any) -> dict[str, str]:
        found = graphql(client, ALIAS_IDS, id=version.artifact_id)["data"]["artifact"]["aliases"]
        return {a["alias"]: a["id"] for a in found}

    state.add_alias("acme", "p", "m", "v0", "production")
    first = ids(v0)["production"]
    state.add_alias("acme", "p", "m", "v0", "production")
    assert ids(v0)["production"] == first, "adding an alias a version holds changes nothing"
    state.add_alias("acme", "p", "m", "v1", "production")
    moved = ids(v1)["production"]
    state.remove_alias("acme", "p", "m", "v1", "production")
    state.add_alias("acme", "p", "m", "v1", "production")
    assert len({first, moved, ids(v1)["production"]}) == 3


def test_an_unlinked_index_is_not_reused(state: State) -> None:
    state.create_organization("acme-org")
    state.create_registry("acme-org", "model")
    versions = [state.log_artifact("acme", "p", "m") for _ in range(2)]
    for v in versions:
        state.link_artifact(v.artifact_id, entity="acme-org", project="wandb-registry-model", collection="prod")
    portfolio = state.collection_by_name("acme-org", "wandb-registry-model", "prod")
    state.unlink(versions[1].artifact_id, portfolio.id)
    assert [(m.version, [a.alias for a in m.aliases]) for m in portfolio.live_memberships] == [("v0", ["latest"])]
    relinked = state.link_artifact(versions[1].artifact_id, entity="acme-org", project="wandb-registry-model",
                                   collection="prod")
    assert relinked.version == "v2"
    with pytest.raises(NotFound, match="is not linked"):
        state.unlink(versions[0].artifact_id, state.collection_by_name("acme", "p", "m").id)


CREATE_TRIGGER = """mutation($input: CreateFilterTriggerInput!) { createFilterTrigger(input: $input) {
  trigger { id name scope { __typename ... on Project { name } } triggeringCondition {
    ... on FilterEventTriggeringCondition { eventType filter } }
  triggeredAction { __typename ... on GenericWebhookTriggeredAction { requestPayload
    integration { ... on GenericWebhookIntegration { name } } } } } } }"""
LIST_TRIGGERS = """query($entity: String!, $org: String!, $filters: JSONString) {
  entity(name: $entity) { triggers(filters: $filters) { edges { node { name } } } }
  organization(name: $org) { triggers { edges { node { name } } } } }"""


def trigger_input(state: State, name: str, **changes: Any) -> dict[str, Any]:
    project = state.project("acme", "p")
    entity = state.entity("acme")
    assert project is not None and entity is not None
    hooks = [i for i in state.automations.integrations(entity) if isinstance(i, model.WebhookIntegration)]
    return {"name": name, "enabled": True, "scopeType": "PROJECT", "scopeID": project.id,
            "triggeringEventType": "ADD_ARTIFACT_ALIAS", "eventFilter": json.dumps({"$or": [{"$and": []}]}),
            "triggeredActionType": "GENERIC_WEBHOOK", "triggeredActionConfig": {"genericWebhookActionInput": {
                "integrationID": hooks[0].id, "requestPayload": '{"a": "${alias}"}'}}, **changes}


def test_triggers_as_w_and_b_keeps_them(state: State, client: httpx.Client) -> None:
    state.create_organization("acme-org", teams=["acme"])
    state.create_project("acme", "p")
    state.automations.create_webhook_integration("acme", "hook", "https://hooks.example.invalid")
    slack = state.automations.create_slack_integration("acme", "#alerts")
    made = graphql(client, CREATE_TRIGGER, input=trigger_input(state, "prod"))["data"]["createFilterTrigger"]
    trigger = made["trigger"]
    assert (trigger["scope"], trigger["triggeringCondition"]) == (
        {"__typename": "Project", "name": "p"},
        {"eventType": "ADD_ARTIFACT_ALIAS", "filter": json.dumps({"filter": {"$or": [{"$and": []}]}})})
    assert trigger["triggeredAction"] == {"__typename": "GenericWebhookTriggeredAction",
                                          "requestPayload": '{"a": "${alias}"}', "integration": {"name": "hook"}}
    run_filter = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
    graphql(client, CREATE_TRIGGER, input=trigger_input(
        state, "failed", triggeringEventType="RUN_STATE", eventFilter=json.dumps(run_filter)))
    saved = state.automations.triggers()[1]
    assert saved.event_filter == run_filter
    listed = graphql(client, LIST_TRIGGERS, entity="acme", org="acme-org", filters=json.dumps({"name": "failed"}))
    assert listed["data"]["entity"]["triggers"]["edges"] == [{"node": {"name": "failed"}}]
    assert [e["node"]["name"] for e in listed["data"]["organization"]["triggers"]["edges"]] == ["prod", "failed"]

    def refused(name: str, status: int, message: str, **changes: Any) -> None:
        response = client.post("/graphql", json={"query": CREATE_TRIGGER,
                                                 "variables": {"input": trigger_input(state, name, **changes)}})
        assert response.status_code == status, response.text
        assert message in response.json()["errors"][0]["message"]

    refused("prod", 409, "already exists")
    collection = state.log_artifact("acme", "p", "m").collection_id
    refused("r", 200, "not a collection", scopeType="ARTIFACT_COLLECTION", scopeID=collection,
            triggeringEventType="RUN_METRIC", eventFilter=json.dumps(run_filter))
    refused("s", 404, "no GenericWebhookIntegration", triggeredActionConfig={
        "genericWebhookActionInput": {"integrationID": slack.id}})
    refused("t", 200, "exactly triggeredActionConfig.genericWebhookActionInput", triggeredActionConfig={
        "noOpActionInput": {"noOp": True}})
    refused("u", 404, "no PROJECT with id", scopeID=collection)
    refused("v", 200, "eventFilter is JSON text of an object", eventFilter="[]")


def test_control_api_makes_integrations(state: State, client: httpx.Client) -> None:
    state.create_project("acme", "p")
    made = client.post("/_emulator/create_webhook_integration", json={
        "entity": "acme", "name": "ci hook", "url_endpoint": "https://ci.example.invalid", "secret_ref": "S"})
    assert made.status_code == 200 and made.json()["kind"] == "GenericWebhookIntegration"
    slack = client.post("/_emulator/create_slack_integration", json={"entity": "acme", "channel_name": "#ml"})
    assert slack.json()["channel_name"] == "#ml" and slack.json()["team_name"] == "acme"
    assert client.post("/_emulator/create_webhook_integration", json={
        "entity": "acme", "name": "ci hook", "url_endpoint": "https://x.example.invalid"}).status_code == 409
    assert client.post("/_emulator/create_webhook_integration", json={
        "entity": "acme", "name": "bad/name", "url_endpoint": "https://x.example.invalid"}).status_code == 400
    assert client.post("/_emulator/create_slack_integration", json={
        "entity": "nobody", "channel_name": "#ml"}).status_code == 404


def test_the_operator_runs_without_the_emulator_or_graphql_core() -> None:
    """Nothing outside the emulator and the two commands that serve it imports it, and only they need
    graphql-core: every other module imports with graphql-core blocked, and the commands say what is missing."""
    code = """
import importlib, pathlib, sys
sys.modules["graphql"] = None
import wbauto
root = pathlib.Path(wbauto.__file__).parent
allowed = ("wbauto.emulator", "wbauto.cli.demo", "wbauto.cli.emulator")
for path in sorted(root.rglob("*.py")):
    name = ".".join(("wbauto", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
    if not name.startswith(allowed) and not name.endswith("__main__"):
        importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.startswith("wbauto.emulator"))
assert not leaked, leaked
from wbauto.cli import main
try:
    main.main(["emulator"])
except SystemExit as exit:
    print(exit.code)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "`wbauto emulator` runs the W&B emulator, which needs graphql-core" in result.stdout


def test_requests_are_recorded_when_asked(state: State, client: httpx.Client) -> None:
    graphql(client, "query Before { viewer { id } }")
    assert client.post("/_emulator/record_requests", json={}).status_code == 200
    graphql(client, "query Named($e: String) { entity(name: $e) { id } }", e="acme")
    [recorded] = client.post("/_emulator/recorded", json={}).json()
    assert (recorded["operation"], recorded["variables"]) == ("Named", {"e": "acme"})
    assert recorded["query"].startswith("query Named")
    state.record_requests(False)
    graphql(client, "query After { viewer { id } }")
    assert [r.operation for r in state.recorded()] == ["Named"]
