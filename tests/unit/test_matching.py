"""Matching: scope, type, regex and run filters, enabled, the 24 h run rule, rate limits (pure)."""

from __future__ import annotations

import datetime
from typing import Any

from tests.support.manifests import automation
from wbauto.api.event import ArtifactInfo, Event, EventType, MetricSeries, RunInfo
from wbauto.api.manifests import Resource, parse
from wbauto.engine import matching

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.UTC)


def auto(name: str = "a", **spec: Any) -> Resource:
    spec.setdefault("action", {"noOp": {}})
    res = parse(automation(name, namespace="team", **spec))
    assert isinstance(res, Resource), res
    return res


def artifact_event(kind: EventType = EventType.ADD_ARTIFACT_ALIAS, *, entity: str = "acme", project: str = "proj",
                   collection: str = "model", alias: str = "production", tag: str = "") -> Event:
    return Event(id=f"{kind}-{alias}-{tag}", type=kind, time=NOW, entity=entity, project=project, alias=alias,
                 tag=tag, artifact=ArtifactInfo(id="QQ==", collection=collection, version="v1"))


def run_event(kind: EventType, *, state: str = "FAILED", name: str = "train-1", user: str = "alice",
              run_id: str = "r1", metrics: list[MetricSeries] | None = None) -> Event:
    return Event(id=f"{kind}-{run_id}-{state}", type=kind, time=NOW, entity="acme", project="proj",
                 run=RunInfo(id=run_id, display_name=name, state=state, user=user), metrics=metrics or [])


def fired(event: Event, *autos: Resource, state: matching.FiringState | None = None,
          now: datetime.datetime = NOW) -> list[str]:
    return [m.automation.name for m in matching.match(event, autos, state or matching.FiringState(), now)]


def test_scope_project_registry_collection_entity() -> None:
    project = auto("project")
    registry = auto("registry", scope={"registry": {"organization": "acme", "name": "model"}})
    collection = auto("collection", scope={"collection": {"entity": "acme", "project": "proj", "name": "model"}})
    entity = auto("entity", scope={"entity": {"name": "acme"}})
    assert fired(artifact_event(), project, registry, collection, entity) == ["project", "collection", "entity"]
    in_registry = artifact_event(project="wandb-registry-model")
    assert fired(in_registry, project, registry, collection, entity) == ["registry", "entity"]
    assert fired(artifact_event(collection="other"), collection) == []
    assert fired(artifact_event(entity="other"), entity) == []


def test_alias_regex_is_a_search_and_one_event_fires_many() -> None:
    exact = auto("exact", event={"artifactAliasAdded": {"aliasRegex": "^production$"}})
    prefix = auto("prefix", event={"artifactAliasAdded": {"aliasRegex": "prod"}})
    anything = auto("any", event={"artifactAliasAdded": {}})
    assert fired(artifact_event(alias="production"), exact, prefix, anything) == ["exact", "prefix", "any"]
    assert fired(artifact_event(alias="preprod-2"), exact, prefix, anything) == ["prefix", "any"]
    assert fired(artifact_event(kind=EventType.ADD_ARTIFACT_TAG, alias="", tag="production"), exact) == []


def test_tag_events_and_disabled_automations() -> None:
    added = auto("added", event={"artifactTagAdded": {"tagRegex": "^eval"}})
    removed = auto("removed", event={"artifactTagRemoved": {}})
    off = auto("off", event={"artifactTagAdded": {}}, enabled=False)
    event = artifact_event(kind=EventType.ADD_ARTIFACT_TAG, alias="", tag="eval-passed")
    assert fired(event, added, removed, off) == ["added"]


def test_run_state_with_crashed_as_failed_and_run_filters() -> None:
    failed = auto("failed", event={"runStateChanged": {"states": ["FAILED"]}},
                  runFilter={"nameRegex": "^train-", "user": "alice"})
    assert fired(run_event(EventType.RUN_STATE, state="CRASHED"), failed) == ["failed"]
    assert fired(run_event(EventType.RUN_STATE, state="FINISHED"), failed) == []
    assert fired(run_event(EventType.RUN_STATE, name="eval-1"), failed) == []
    assert fired(run_event(EventType.RUN_STATE, user="bob"), failed) == []
    assert fired(run_event(EventType.RUN_STATE, state="KILLED"), failed) == []


def test_run_events_fire_once_per_run_per_24_hours() -> None:
    rule = auto("rule", event={"runStateChanged": {"states": ["RUNNING", "FAILED"]}})
    state = matching.FiringState()
    assert fired(run_event(EventType.RUN_STATE, state="RUNNING"), rule, state=state) == ["rule"]
    later = NOW + datetime.timedelta(hours=23)
    assert fired(run_event(EventType.RUN_STATE, state="FAILED"), rule, state=state, now=later) == []
    assert fired(run_event(EventType.RUN_STATE, state="FAILED", run_id="r2"), rule, state=state, now=later) == ["rule"]
    next_day = NOW + datetime.timedelta(hours=24, minutes=1)
    assert fired(run_event(EventType.RUN_STATE, state="FAILED"), rule, state=state, now=next_day) == ["rule"]


def test_metric_history_becomes_the_concrete_metric_event() -> None:
    rule = auto("loss", event={"runMetricThreshold": {"metric": "loss", "agg": "AVG", "window": 2, "cmp": "<",
                                                      "threshold": 0.1}})
    series = MetricSeries(name="loss", steps=[1, 2, 3], values=[0.5, 0.05, 0.05], new_from=1)
    matches = matching.match(run_event(EventType.RUN_HISTORY, metrics=[series]), [rule], matching.FiringState(), NOW)
    assert len(matches) == 1
    m = matches[0]
    assert m.event.type is EventType.RUN_METRIC
    assert m.variables["metric_name"] == "loss" and m.variables["metric_step"] == "3"
    assert m.variables["metric_filter"] == "AVERAGE(loss) over 2 < 0.1"
    other = MetricSeries(name="acc", steps=[1], values=[0.0], new_from=0)
    assert matching.match(run_event(EventType.RUN_HISTORY, metrics=[other]), [rule], matching.FiringState(), NOW) == []


def test_rate_limit_records_skipped_executions() -> None:
    limited = auto("limited", rateLimit={"maxExecutions": 2, "period": "1h"})
    state = matching.FiringState()
    results = []
    for i in range(4):
        event = artifact_event(alias="production")
        event = event.model_copy(update={"id": f"e{i}"})
        results += matching.match(event, [limited], state, NOW + datetime.timedelta(minutes=i))
    assert [m.skip_reason is None for m in results] == [True, True, False, False]
    assert "rate limit" in (results[2].skip_reason or "")
    after = matching.match(artifact_event(), [limited], state, NOW + datetime.timedelta(hours=1, minutes=1))
    assert after[0].skip_reason is None


def test_the_index_finds_exactly_what_a_full_scan_finds() -> None:
    autos = [auto("exact", event={"artifactAliasAdded": {"aliasRegex": "^production$"}}),
             auto("prefix", event={"artifactAliasAdded": {"aliasRegex": "^prod"}}),
             auto("any", event={"artifactAliasAdded": {}}),
             auto("tag", event={"artifactTagAdded": {"tagRegex": "^production$"}}),
             auto("other-project", scope={"project": {"entity": "acme", "project": "other"}}),
             auto("entity", scope={"entity": {"name": "acme"}},
                  event={"artifactAliasAdded": {"aliasRegex": "^prod-1$"}}),
             auto("state", event={"runStateChanged": {"states": ["FAILED"]}})]
    index = matching.Index.build(autos)
    events = [artifact_event(alias=a) for a in ("production", "prod-1", "staging")]
    events += [artifact_event(kind=EventType.ADD_ARTIFACT_TAG, alias="", tag="production"),
               artifact_event(project="other", alias="production"), run_event(EventType.RUN_STATE)]
    for event in events:
        scan = [m.automation.name for m in matching.match(event, autos, matching.FiringState(), NOW)]
        indexed = [m.automation.name for m in matching.match(event, index, matching.FiringState(), NOW)]
        assert sorted(scan) == sorted(indexed), event.id
        assert len(index.candidates(event)) <= len(autos)
    assert [a.name for a in index.candidates(events[0])] == ["prefix", "any", "exact"]
