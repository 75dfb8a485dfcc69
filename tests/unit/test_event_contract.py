"""The event contract: every event key of the Automation model has one registered kind, which answers for
itself (W&B type, scopes, feed, history, matching, sample, variables) and agrees with the CRD, the
receiver and the importer."""

from __future__ import annotations

import datetime
import typing
from typing import Any

import pytest

from tests.support.manifests import automation
from wbauto.admission.review import review
from wbauto.api.automation import RUN_EVENTS, SCOPE_KINDS, AutomationSpec
from wbauto.api.automation import Event as EventModel
from wbauto.api.event import EventType
from wbauto.api.schema import Model
from wbauto.engine import samples, templates
from wbauto.engine.events import registry
from wbauto.engine.events.artifact import ArtifactEvent
from wbauto.engine.events.base import COMMON_VARIABLES, Feed
from wbauto.sources import plan, receiver

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)

EVENTS: dict[str, dict[str, Any]] = {
    "artifactVersionCreated": {},
    "artifactLinked": {},
    "artifactUnlinked": {},
    "artifactAliasAdded": {"aliasRegex": "^production$"},
    "artifactTagAdded": {"tagRegex": "^eval"},
    "artifactTagRemoved": {},
    "collectionTagAdded": {"tagRegex": "^vision$"},
    "collectionTagRemoved": {},
    "runMetricThreshold": {"metric": "loss", "agg": "AVG", "window": 3, "cmp": "<", "threshold": 0.1},
    "runMetricChange": {"metric": "acc", "currentWindow": 2, "priorWindow": 4, "changeType": "ABSOLUTE",
                        "direction": "DECREASE", "amount": 0.05},
    "runMetricZScore": {"metric": "loss", "window": 10, "threshold": 2.5},
    "runStateChanged": {"states": ["FAILED"]},
}
SCOPES: dict[str, dict[str, Any]] = {
    "project": {"entity": "acme", "project": "p"},
    "registry": {"organization": "acme-org", "name": "model"},
    "collection": {"entity": "acme", "project": "p", "name": "clf"},
    "entity": {"name": "acme"},
}


def spec(key: str, scope: str = "") -> AutomationSpec:
    scope = scope or ("collection" if key == "artifactVersionCreated" else "project")
    return AutomationSpec.model_validate({"scope": {scope: SCOPES[scope]}, "event": {key: EVENTS[key]},
                                          "action": {"noOp": {}}})


def test_every_event_key_of_the_model_is_registered_once_with_its_model() -> None:
    fields = {info.alias or name: info for name, info in EventModel.model_fields.items() if name != "filter"}
    assert set(fields) == set(EVENTS) == set(registry.KINDS)
    for key, kind in registry.KINDS.items():
        assert kind.key == key
        assert kind.model in typing.get_args(fields[key].annotation), key
        assert issubclass(kind.model, Model)
    assert set(SCOPES) == set(SCOPE_KINDS)


def test_the_registry_rejects_duplicates() -> None:
    twin = ArtifactEvent(key="artifactLinked", model=Model, wandb_type=EventType.UNLINK_ARTIFACT)
    with pytest.raises(ValueError, match="two event kinds registered for key 'artifactLinked'"):
        registry.register([*registry.KINDS.values(), twin])
    same_type = ArtifactEvent(key="artifactLinkedAgain", model=Model, wandb_type=EventType.LINK_MODEL)
    with pytest.raises(ValueError, match="two event kinds registered for W&B type LINK_MODEL"):
        registry.register([*registry.KINDS.values(), same_type])


def test_lookups() -> None:
    assert registry.of(spec("artifactAliasAdded").event).wandb_type is EventType.ADD_ARTIFACT_ALIAS
    assert registry.typed(EventType.RUN_METRIC) is registry.KINDS["runMetricThreshold"]
    assert registry.typed(EventType.RUN_HISTORY) is None  # internal: no kind records it
    assert registry.imported("LINK_ARTIFACT") is registry.imported("LINK_MODEL") is registry.KINDS["artifactLinked"]
    assert registry.imported("UPDATE_ARTIFACT_ALIAS") is registry.KINDS["artifactAliasAdded"]
    assert registry.imported("WEAVE_METRIC_THRESHOLD") is None
    assert set(registry.BY_TYPE) == set(EventType) - {EventType.RUN_HISTORY}


@pytest.mark.parametrize("key", sorted(EVENTS))
@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_the_kinds_scopes_are_the_crds(key: str, scope: str) -> None:
    doc = automation(scope={scope: SCOPES[scope]}, event={key: EVENTS[key]}, action={"noOp": {}})
    admitted = not review(doc).problems
    assert admitted == (scope in registry.KINDS[key].scopes)


def test_run_events_are_the_run_feed() -> None:
    assert {k for k, kind in registry.KINDS.items() if kind.feed is Feed.RUNS} == set(RUN_EVENTS)


@pytest.mark.parametrize("key", sorted(EVENTS))
def test_each_kind_answers_for_itself(key: str) -> None:
    kind = registry.KINDS[key]
    automation_spec = spec(key)
    event, evaluation = samples.sample_event(automation_spec, NOW)
    assert event.type is kind.wandb_type
    assert (evaluation is not None) == (kind.observed is EventType.RUN_HISTORY)
    # the sample fills the variables the kind says, and no others
    variables = templates.variables(event, automation_name="a", evaluation=evaluation)
    metadata = {v for v in variables if v.startswith("artifact_metadata.")}
    assert set(variables) - metadata == set(COMMON_VARIABLES) | set(kind.variables) - {"artifact_metadata.<KEY>"}
    assert bool(metadata) == ("artifact_metadata.<KEY>" in kind.variables)
    assert variables["event_type"] == kind.display
    # what the poller reads for it
    _, needs = plan.needs_of(automation_spec)
    assert needs.runs == (kind.feed is Feed.RUNS) and needs.artifacts == (kind.feed is Feed.ARTIFACTS)
    assert needs.metrics == kind.history(automation_spec.event.config)
    # an artifact event the sources produce is accepted as is; run history is evaluated into the metric event
    if kind.observed is not EventType.RUN_HISTORY:
        assert kind.accepts(automation_spec, event) == (event, None)


@pytest.mark.parametrize("key", sorted(EVENTS))
def test_receivable_kinds_are_what_the_receiver_takes(key: str) -> None:
    kind = registry.KINDS[key]
    doc = {"event_type": kind.display, "entity_name": "acme", "project_name": "p", "run_name": "r"}
    try:
        receiver.parse_payload(doc, body_id="b", received=NOW)
    except receiver.PayloadError:
        assert not kind.receivable
    else:
        assert kind.receivable
