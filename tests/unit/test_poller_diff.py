"""The poller's diffing of W&B reads into events (pure): identity from W&B's facts, absence confirmed by a
second read, baselines, and isolation of odd data."""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from wbauto.api.event import Event, EventType, Source
from wbauto.sources import artifacts, runs
from wbauto.sources.plan import Needs

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def make(project: str, type_: EventType, ident: str, **fields: Any) -> Event:
    return Event(id=ident, type=type_, time=NOW, source=Source.POLL, entity="acme", project=project, **fields)


def collection(cid: str = "C1", name: str = "model", tags: tuple[str, ...] = (),
               typename: str = "ArtifactSequence") -> dict[str, Any]:
    return {"id": cid, "name": name, "__typename": typename,
            "tags": {"edges": [{"node": {"id": f"T-{t}", "name": t}} for t in tags]}}


def version(art: str = "A1", v: str = "v0", aliases: dict[str, str] | None = None, tags: tuple[str, ...] = (),
            state: str = "COMMITTED", metadata: Any = None, coll: str = "model") -> dict[str, Any]:
    return {"version": v, "node": {
        "id": art, "versionIndex": int(v[1:]), "state": state, "createdAt": "2026-11-30T00:00:00Z",
        "metadata": json.dumps(metadata or {}), "artifactType": {"name": "model"},
        "tags": [{"id": f"T-{t}", "name": t} for t in tags],
        "aliases": [{"id": i, "alias": a, "artifactCollection": {"name": coll, "project": {"name": "p"}}}
                    for a, i in (aliases or {}).items()],
        "createdBy": {"__typename": "User", "username": "alice"}}}


class Project:
    """One project's artifact state, read after read."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.reads = 0

    def read(self, listing: list[dict[str, Any]], versions: dict[str, list[dict[str, Any]] | None]) -> list[Event]:
        events = artifacts.diff("p", self.state, listing, versions, make, quiet=self.reads == 0)
        self.reads += 1
        return events


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type.value, e.alias or e.tag) for e in events]


def test_a_baseline_fires_nothing_and_a_repeated_read_fires_nothing() -> None:
    p = Project()
    listing = [collection(tags=("vision",))]
    assert p.read(listing, {"C1": [version(aliases={"latest": "AL1"}, tags=("x",))]}) == []
    assert p.read(listing, {"C1": [version(aliases={"latest": "AL1"}, tags=("x",))]}) == []


def test_alias_events_are_identified_by_wandb_alias_ids() -> None:
    p = Project()
    p.read([collection()], {"C1": [version()]})
    first = p.read([collection()], {"C1": [version(aliases={"production": "AL7"})]})
    assert kinds(first) == [("ADD_ARTIFACT_ALIAS", "production")]
    # removed and added again between two reads: W&B gives the alias a new id, so it fires again
    again = p.read([collection()], {"C1": [version(aliases={"production": "AL9"})]})
    assert kinds(again) == [("ADD_ARTIFACT_ALIAS", "production")] and again[0].id != first[0].id
    # a second observer of the same project, baselined at the same point, gives the same ids
    other = Project()
    other.read([collection()], {"C1": [version()]})
    assert [e.id for e in other.read([collection()], {"C1": [version(aliases={"production": "AL7"})]})] == \
        [first[0].id]


def test_absence_needs_a_second_read() -> None:
    p = Project()
    p.read([collection(tags=("c1",))], {"C1": [version(aliases={"prod": "AL1"}, tags=("t",))]})
    # one short answer: the tag, the alias and the collection tag are missing; nothing fires, nothing is lost
    assert p.read([collection()], {"C1": [version()]}) == []
    # the next read has them again: still nothing (no ADD for things that never went away)
    assert p.read([collection(tags=("c1",))], {"C1": [version(aliases={"prod": "AL1"}, tags=("t",))]}) == []
    # really removed: two reads in a row without them
    assert p.read([collection()], {"C1": [version(aliases={"prod": "AL1"})]}) == []
    removed = p.read([collection()], {"C1": [version(aliases={"prod": "AL1"})]})
    assert sorted(kinds(removed)) == [("REMOVE_ARTIFACT_TAG", "t"), ("REMOVE_COLLECTION_TAG", "c1")]
    readded = p.read([collection(tags=("c1",))], {"C1": [version(aliases={"prod": "AL1"}, tags=("t",))]})
    assert sorted(kinds(readded)) == [("ADD_ARTIFACT_TAG", "t"), ("ADD_COLLECTION_TAG", "c1")]
    removed_ids = {e.id for e in removed}
    assert not removed_ids & {e.id for e in readded}  # each addition and removal of a tag is its own event


def test_an_empty_listing_forgets_nothing() -> None:
    """W&B answering an empty artifactCollections page once must not replay the scope (12.2)."""
    p = Project()
    full = [collection("C1", "model"), collection("C2", "data")]
    reads = {"C1": [version("A1", aliases={"production": "AL1"})], "C2": [version("A2", "v0")]}
    p.read(full, reads)
    assert artifacts.tracked(p.state, [], None) == ["C1", "C2"]  # tracked ones are read by id anyway
    assert p.read([], reads) == []  # the by-id reads show they still exist
    assert p.read(full, reads) == []
    assert set(p.state["collections"]) == {"C1", "C2"}
    assert p.read([], {"C1": None, "C2": reads["C2"]}) == []  # C1 answered null by id: it is gone
    assert set(p.state["collections"]) == {"C2"}


def test_unlink_fires_only_when_confirmed_and_relink_is_a_new_link() -> None:
    p = Project()
    registry = [collection("R1", "fraud", typename="ArtifactPortfolio")]
    p.read(registry, {"R1": []})
    linked = p.read(registry, {"R1": [version("A1", "v0")]})
    assert kinds(linked) == [("LINK_MODEL", "")]
    assert p.read(registry, {"R1": []}) == []
    unlinked = p.read(registry, {"R1": []})
    assert kinds(unlinked) == [("UNLINK_ARTIFACT", "")] and unlinked[0].artifact is not None
    assert unlinked[0].artifact.version == "v0"
    relinked = p.read(registry, {"R1": [version("A1", "v1")]})
    assert kinds(relinked) == [("LINK_MODEL", "")] and relinked[0].id != linked[0].id


def test_uncommitted_versions_wait_and_new_collections_fire() -> None:
    p = Project()
    p.read([collection()], {"C1": []})
    assert p.read([collection()], {"C1": [version(state="PENDING")]}) == []
    assert kinds(p.read([collection()], {"C1": [version()]})) == [("CREATE_ARTIFACT", "")]
    created = p.read([collection(), collection("C9", "fresh")], {"C1": [version()], "C9": [version("A9")]})
    assert kinds(created) == [("CREATE_ARTIFACT", "")] and created[0].artifact is not None
    assert created[0].artifact.collection == "fresh"


def test_odd_data_in_one_collection_does_not_stop_the_others() -> None:
    p = Project()
    good, bad = collection("C1", "good"), collection("C2", "bad")
    p.read([good, bad], {"C1": [], "C2": []})
    broken = version("A2")
    broken["node"]["aliases"] = [{"no-alias-key": True}]
    events = p.read([good, bad], {"C1": [version("A1", aliases={"x": "AL"}, coll="good")], "C2": [broken]})
    assert kinds(events) == [("CREATE_ARTIFACT", ""), ("ADD_ARTIFACT_ALIAS", "x")]
    assert p.state["collections"]["C2"]["versions"] == {}  # left as it was


def test_version_labels_that_are_not_ascii_digits() -> None:
    assert artifacts.version_index("v\u00b2") is None and artifacts.version_index("v12") == 12


def test_version_one_cursors_are_migrated() -> None:
    v1 = {"collections": {"C1": {"name": "model", "type": "ArtifactSequence", "tags": ["c"],
                                 "versions": {"A1": {"a": ["prod"], "t": ["t"], "v": "v0"}}}}}
    state = artifacts.migrate(copy.deepcopy(v1))
    p = Project()
    p.state, p.reads = state, 1
    assert p.read([collection(tags=("c",))], {"C1": [version(aliases={"prod": "AL1"}, tags=("t",))]}) == []


def run_node(run: str = "r1", state: str = "running", heartbeat: str = "2026-12-01T00:00:00Z",
             created: str = "2026-12-01T00:00:00Z", last_step: int = -1) -> dict[str, Any]:
    return {"id": f"id-{run}", "name": run, "displayName": run, "state": state, "createdAt": created,
            "heartbeatAt": heartbeat, "historyKeys": {"lastStep": last_step}, "user": {"username": "bob"}}


def test_run_state_ids_come_from_the_run_and_its_last_heartbeat() -> None:
    baseline = NOW - datetime.timedelta(hours=1)
    needs = Needs(runs=True)
    state: dict[str, Any] = {}
    observed = runs.observe("p", state, [run_node()], needs, make, baseline=False, scope_baseline=baseline, now=NOW)
    assert [e.type for e in observed[0]] == [EventType.RUN_STATE]
    done = run_node(state="finished", heartbeat="2026-12-01T00:05:00Z")
    first, _ = runs.observe("p", state, [done], needs, make, baseline=False, scope_baseline=baseline, now=NOW)
    assert [e.run.state for e in first if e.run] == ["FINISHED"]
    assert runs.observe("p", state, [done], needs, make, baseline=False, scope_baseline=baseline, now=NOW)[0] == []
    # another reader that saw the run running gives the finish the same id
    other: dict[str, Any] = {}
    runs.observe("p", other, [run_node()], needs, make, baseline=False, scope_baseline=baseline, now=NOW)
    again, _ = runs.observe("p", other, [done], needs, make, baseline=False, scope_baseline=baseline, now=NOW)
    assert [e.id for e in again] == [e.id for e in first]


def test_history_reads_and_windows() -> None:
    needs = Needs(runs=True, metrics={"loss": 3})
    state: dict[str, Any] = {}
    baseline = NOW - datetime.timedelta(hours=1)
    _, todo = runs.observe("p", state, [run_node(last_step=4)], needs, make, baseline=False,
                           scope_baseline=baseline, now=NOW)
    assert [(t.low, t.high, t.seed) for t in todo] == [(0, 5, False)]
    rows = {"r1": [{"_step": s, "loss": float(10 - s)} for s in range(5)] + [{"_step": 9.5}, {"loss": 1}]}
    events = runs.apply_history("p", state, todo, rows, needs, make)
    assert [e.type for e in events] == [EventType.RUN_HISTORY]
    assert events[0].metrics[0].values == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert state["runs"]["r1"]["tails"]["loss"] == [[2, 8.0], [3, 7.0], [4, 6.0]]
