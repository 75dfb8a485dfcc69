"""``parse_payload``: W&B's rendered webhook payload → Event, with no socket. Expected values come from W&B's
payload variables (reference/wandb-automations.md §3.1): ``${event_type}`` (the backend value, or
``LINK_ARTIFACT`` as the docs render it), ``${entity_name}``, ``${project_name}``, ``${event_author}``,
``${artifact_version}`` = ``wandb-artifact://_id/<id>``, ``${artifact_version_string}`` =
``<entity>/<project>/<collection>:<alias or version>``, ``${artifact_collection_name}``, ``${alias}`` and
``${tag}`` (blank for other events), ``${run_name}`` / ``${run_status}`` for RUN_STATE. Anything else is a
:class:`PayloadError` with a message naming what is wrong — never another exception."""

from __future__ import annotations

import datetime
import json
import string
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wbauto.api.event import Event, EventType, Source
from wbauto.sources.receiver import PayloadError, parse_payload

RECEIVED = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
ARTIFACT_ID = "QXJ0aWZhY3Q6OQ=="  # base64("Artifact:9")


def parse(doc: Any) -> Event:
    return parse_payload(doc, body_id="body-1", received=RECEIVED)


def wandb_payload(event_type: str, **variables: Any) -> dict[str, Any]:
    """The receiver's documented template as W&B renders it: every variable present, blank when it does
    not apply to the event."""
    doc = {"event_type": event_type, "event_author": "alice", "entity_name": "acme", "project_name": "fraud",
           "artifact_version": "", "artifact_version_string": "", "artifact_collection_name": "", "alias": "",
           "tag": "", "run_name": "", "run_status": ""}
    doc.update(variables)
    return doc


def artifact_payload(event_type: str, label: str = "v3", **variables: Any) -> dict[str, Any]:
    artifact = {"artifact_version": f"wandb-artifact://_id/{ARTIFACT_ID}",
                "artifact_version_string": f"acme/fraud/fraud-model:{label}", "artifact_collection_name": "fraud-model"}
    return wandb_payload(event_type, **(artifact | variables))


# --- what W&B sends ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "kind"), [
    ("CREATE_ARTIFACT", EventType.CREATE_ARTIFACT),
    ("LINK_MODEL", EventType.LINK_MODEL),
    ("LINK_ARTIFACT", EventType.LINK_MODEL),  # what the docs say ${event_type} renders
    ("UNLINK_ARTIFACT", EventType.UNLINK_ARTIFACT),
    ("ADD_ARTIFACT_TAG", EventType.ADD_ARTIFACT_TAG),
    ("REMOVE_ARTIFACT_TAG", EventType.REMOVE_ARTIFACT_TAG),
])
def test_an_artifact_version_event_carries_the_version(event_type: str, kind: EventType) -> None:
    event = parse(artifact_payload(event_type))
    assert (event.type, event.entity, event.project, event.author) == (kind, "acme", "fraud", "alice")
    assert (event.id, event.time, event.source) == ("body-1", RECEIVED, Source.RECEIVER)
    assert event.artifact is not None
    assert (event.artifact.id, event.artifact.collection) == (ARTIFACT_ID, "fraud-model")
    assert (event.artifact.version, event.artifact.version_index, event.artifact.aliases) == ("v3", 3, [])
    assert event.alias == "" and event.run is None


def test_an_alias_event_carries_the_alias() -> None:
    event = parse(artifact_payload("ADD_ARTIFACT_ALIAS", "production", alias="production"))
    assert event.type is EventType.ADD_ARTIFACT_ALIAS and event.alias == "production" and event.tag == ""
    assert event.artifact is not None
    # the version string names the alias, not the version: no version index is made up
    assert (event.artifact.version, event.artifact.version_index) == ("", None)
    assert event.artifact.aliases == ["production"]


@pytest.mark.parametrize("event_type", ["ADD_ARTIFACT_TAG", "REMOVE_ARTIFACT_TAG", "ADD_COLLECTION_TAG",
                                        "REMOVE_COLLECTION_TAG"])
def test_a_tag_event_carries_the_tag(event_type: str) -> None:
    doc = (wandb_payload(event_type, artifact_collection_name="fraud-model", tag="approved")
           if "COLLECTION" in event_type else artifact_payload(event_type, tag="approved"))
    event = parse(doc)
    assert event.type is EventType(event_type) and event.tag == "approved" and event.alias == ""
    assert event.artifact is not None and event.artifact.collection == "fraud-model"


def test_a_registry_event_is_in_the_registry_project_of_the_org_entity() -> None:
    doc = wandb_payload("LINK_MODEL", entity_name="acme-org", project_name="wandb-registry-model",
                        artifact_version_string="acme-org/wandb-registry-model/fraud-detector:v12",
                        artifact_collection_name="fraud-detector",
                        artifact_version=f"wandb-artifact://_id/{ARTIFACT_ID}")
    event = parse(doc)
    assert (event.entity, event.project) == ("acme-org", "wandb-registry-model")
    assert event.artifact is not None and (event.artifact.collection, event.artifact.version_index) == (
        "fraud-detector", 12)


def test_entity_and_project_fall_back_to_the_version_string() -> None:
    doc = artifact_payload("CREATE_ARTIFACT")
    del doc["entity_name"], doc["project_name"]
    event = parse(doc)
    assert (event.entity, event.project) == ("acme", "fraud")
    artifact = parse(artifact_payload("CREATE_ARTIFACT", artifact_collection_name="")).artifact
    assert artifact is not None and artifact.collection == "fraud-model"  # the collection from the path too


@pytest.mark.parametrize(("status", "state"), [("FINISHED", "FINISHED"), ("failed", "FAILED"),
                                               ("Crashed", "CRASHED"), ("running", "RUNNING")])
def test_a_run_state_event_carries_the_run(status: str, state: str) -> None:
    event = parse(wandb_payload("RUN_STATE", run_name="swift-river-7", run_status=status))
    assert event.type is EventType.RUN_STATE and event.artifact is None
    assert event.run is not None and (event.run.id, event.run.display_name, event.run.state) == (
        "swift-river-7", "swift-river-7", state)
    with_id = parse(wandb_payload("RUN_STATE", run_name="swift-river-7", run_status=status, run_id="a1b2c3"))
    assert with_id.run is not None and with_id.run.id == "a1b2c3"


def test_other_keys_of_a_template_are_ignored() -> None:
    doc = artifact_payload("CREATE_ARTIFACT", automation_name="deploy", artifact_metadata={"f1": 0.9},
                           note="${unknown}")
    assert parse(doc).type is EventType.CREATE_ARTIFACT


def test_a_number_left_unquoted_by_a_template_is_its_text() -> None:
    """A template with ``"project_name": ${project_name}`` unquoted renders a numeric project name bare."""
    assert parse(artifact_payload("CREATE_ARTIFACT") | {"project_name": 2024}).project == "2024"


# --- what is refused, and why ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["RUN_METRIC", "RUN_METRIC_THRESHOLD", "RUN_METRIC_CHANGE",
                                        "RUN_METRIC_ZSCORE"])
def test_metric_events_are_refused_the_poller_evaluates_them(event_type: str) -> None:
    with pytest.raises(PayloadError, match="only the poller reads"):
        parse(wandb_payload(event_type, run_name="r"))


@pytest.mark.parametrize("event_type", ["", "RUN_HISTORY", "add_artifact_alias", "DELETE_EVERYTHING",
                                        "${event_type}", "WEAVE_METRIC_THRESHOLD"])
def test_an_unknown_event_type_is_named(event_type: str) -> None:
    with pytest.raises(PayloadError, match="is not a W&B event type"):
        parse(wandb_payload(event_type))


def test_a_run_state_event_without_its_run_is_refused() -> None:
    with pytest.raises(PayloadError, match="RUN_STATE needs run_name"):
        parse(wandb_payload("RUN_STATE", run_status="FAILED"))


def test_an_event_without_entity_or_project_is_refused() -> None:
    with pytest.raises(PayloadError, match="entity_name and project_name are required"):
        parse(wandb_payload("ADD_ARTIFACT_TAG", entity_name="", tag="x"))
    with pytest.raises(PayloadError, match="entity_name and project_name are required"):
        parse({"event_type": "CREATE_ARTIFACT", "artifact_version_string": "fraud-model:v1"})


@pytest.mark.parametrize("body", [[], [wandb_payload("CREATE_ARTIFACT")], "CREATE_ARTIFACT", 7, None, True])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(PayloadError, match="must be a JSON object"):
        parse(body)


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("entity_name", ["acme"], "an array"), ("project_name", {"name": "p"}, "an object"),
    ("event_type", {"x": 1}, "an object"), ("alias", True, "a boolean"), ("tag", 1.5, "a number"),
    ("artifact_version_string", ["acme/fraud/m:v1"], "an array"), ("run_name", {"id": 1}, "an object"),
    ("event_author", False, "a boolean"),
])
def test_a_field_of_the_wrong_json_type_is_named(key: str, value: Any, kind: str) -> None:
    with pytest.raises(PayloadError, match=f"^{key} must be a string .*not {kind}$"):
        parse(artifact_payload("ADD_ARTIFACT_ALIAS", "production", alias="production") | {key: value})


def test_a_null_field_is_an_empty_one() -> None:
    event = parse(artifact_payload("ADD_ARTIFACT_TAG") | {"alias": None, "tag": None, "event_author": None})
    assert (event.alias, event.tag, event.author) == ("", "", "")


# --- properties ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
FIELDS = ["event_type", "event_author", "entity_name", "project_name", "artifact_version",
          "artifact_version_string", "artifact_collection_name", "alias", "tag", "run_name", "run_status", "run_id"]
hostile_payloads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=12) | \
    st.fixed_dictionaries({"event_type": st.sampled_from(["ADD_ARTIFACT_ALIAS", "RUN_STATE", "LINK_ARTIFACT",
                                                          "CREATE_ARTIFACT", "ADD_COLLECTION_TAG"])},
                          optional={k: json_values | st.text(max_size=30) for k in FIELDS[1:]})


@given(json_values | hostile_payloads)
@example({"event_type": "RUN_STATE", "entity_name": "a", "project_name": "p", "run_name": 10 ** 5000})
@example({"event_type": "CREATE_ARTIFACT", "artifact_version_string": "a/b/c:v999999999"})
@example({"event_type": "CREATE_ARTIFACT", "artifact_version_string": "a/b/c:v\u0663"})  # Arabic-Indic 3
@example({"event_type": "ADD_ARTIFACT_ALIAS", "artifact_version_string": ":::/"})
def test_any_json_is_an_event_or_a_payload_error(doc: Any) -> None:
    try:
        event = parse(doc)
    except PayloadError as exc:
        assert str(exc)
        return
    assert event.entity and event.project
    assert event.artifact is None or event.artifact.version_index is None or (
        event.artifact.version == f"v{event.artifact.version_index}")
    json.loads(event.model_dump_json())  # storable as the stores store it


names = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=24)


@given(entity=names, project=names, collection=names, index=st.integers(0, 10 ** 6), author=names,
       kind=st.sampled_from(["CREATE_ARTIFACT", "LINK_MODEL", "LINK_ARTIFACT", "UNLINK_ARTIFACT"]))
def test_every_rendered_version_event_reads_back_as_w_b_described_it(entity: str, project: str, collection: str,
                                                                     index: int, author: str, kind: str) -> None:
    doc = wandb_payload(kind, event_author=author, entity_name=entity, project_name=project,
                        artifact_version=f"wandb-artifact://_id/{ARTIFACT_ID}",
                        artifact_version_string=f"{entity}/{project}/{collection}:v{index}",
                        artifact_collection_name=collection)
    event = parse(doc)
    assert (event.entity, event.project, event.author) == (entity, project, author)
    assert event.artifact is not None
    assert (event.artifact.collection, event.artifact.version, event.artifact.version_index) == (
        collection, f"v{index}", index)
