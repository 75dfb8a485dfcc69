"""W&B payload templates: textual, JSON-escaped inside strings, empty when inapplicable, no re-expansion."""

from __future__ import annotations

import datetime
import json

import pytest

from wbauto.api.event import ArtifactInfo, Event, EventType, RunInfo
from wbauto.engine import templates

NOW = datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)


def alias_event(**kw: object) -> Event:
    artifact = ArtifactInfo(id="QXJ0aWZhY3Q6MTc=", collection="fraud-model", type="model", version_index=3,
                            version="v3", metadata={"accuracy": 0.93, "owner": 'ml "core"', "nested": {"a": 1}})
    return Event.model_validate({"id": "e1", "type": EventType.ADD_ARTIFACT_ALIAS, "time": NOW, "author": "alice",
                                 "entity": "acme", "project": "fraud", "alias": "production", "artifact": artifact,
                                 **kw})


def test_wandb_variables_for_an_alias_event() -> None:
    v = templates.variables(alias_event(), automation_name="deploy")
    assert v["event_type"] == "ADD_ARTIFACT_ALIAS"
    assert v["artifact_version"] == "wandb-artifact://_id/QXJ0aWZhY3Q6MTc="
    assert v["artifact_version_string"] == "acme/fraud/fraud-model:production"
    assert v["artifact_collection_name"] == "fraud-model"
    assert v["artifact_version_index"] == "3"
    assert v["artifact_metadata.accuracy"] == "0.93"
    assert v["automation_name"] == "deploy" and v["event_author"] == "alice"
    assert "tag" not in v and "run_name" not in v


def test_link_event_renders_as_documented() -> None:
    event = alias_event(type=EventType.LINK_MODEL, alias="")
    v = templates.variables(event, automation_name="a")
    assert v["event_type"] == "LINK_ARTIFACT"  # W&B's docs name; the backend enum keeps LINK_MODEL
    assert v["artifact_version_string"] == "acme/fraud/fraud-model:v3"


def test_render_escapes_inside_strings_and_inserts_raw_outside() -> None:
    v = templates.variables(alias_event(), automation_name="a")
    body = templates.render('{"owner": "${artifact_metadata.owner}", "index": ${artifact_version_index}, '
                            '"nested": ${artifact_metadata.nested}}', v)
    assert json.loads(body) == {"owner": 'ml "core"', "index": 3, "nested": {"a": 1}}


def test_inapplicable_and_unknown_variables_are_empty() -> None:
    v = templates.variables(alias_event(), automation_name="a")
    assert json.loads(templates.render('{"tag": "${tag}", "x": "${no_such_thing}", "run": "${run_name}"}', v)) == \
        {"tag": "", "x": "", "run": ""}


def test_invalid_json_fails_with_a_clear_reason() -> None:
    v = templates.variables(alias_event(), automation_name="a")
    with pytest.raises(templates.TemplateError, match=r"\$\{alias\} is inserted outside quotes.*inside quotes"):
        templates.render('{"alias": ${alias}}', v)
    with pytest.raises(templates.TemplateError, match=r"not valid JSON.*inside quotes"):
        templates.render('{"alias": "${alias}"', v)


def test_a_value_outside_quotes_cannot_add_keys() -> None:
    """Artifact metadata is anyone's input: outside quotes it must be exactly one JSON value."""
    event = alias_event()
    event.artifact.metadata["score"] = '0.9, "target": "production"'  # type: ignore[union-attr]
    v = templates.variables(event, automation_name="a")
    with pytest.raises(templates.TemplateError, match=r"artifact_metadata.score.*not one JSON value"):
        templates.render('{"score": ${artifact_metadata.score}, "target": "staging"}', v)
    assert json.loads(templates.render('{"score": "${artifact_metadata.score}"}', v)) == \
        {"score": '0.9, "target": "production"'}
    assert json.loads(templates.render('{"n": ${artifact_metadata.nested}, "i": ${artifact_version_index}}', v)) == \
        {"n": {"a": 1}, "i": 3}


def test_a_secret_the_webhook_does_not_provide_is_an_error_naming_it() -> None:
    v = templates.variables(alias_event(), automation_name="a")
    with pytest.raises(templates.TemplateError, match=r"\$\{TEAM_TOKEN\} is not a secret"):
        templates.render('{"t": "${TEAM_TOKEN}"}', v, {"SECRET": "s3cr3t"})
    assert templates.render('{"t": "${SECRET}"}', v, {"SECRET": "s3cr3t"}) == '{"t": "s3cr3t"}'
    with pytest.raises(templates.TemplateError, match=r"\$\{SECRET\} is not a secret"):
        templates.render("hello ${SECRET}", v, json_body=False)


def test_deeply_nested_templates_fail_cleanly() -> None:
    with pytest.raises(templates.TemplateError, match="nested too deeply"):
        templates.render("[" * 100_000 + "]" * 100_000, {})


def test_secrets_are_interpolated_once_and_never_from_variable_values() -> None:
    event = alias_event(alias="${SECRET}")  # a W&B user controls alias text
    v = templates.variables(event, automation_name="a")
    body = templates.render('{"alias": "${alias}", "token": "${ACCESS_TOKEN}", "raw": "$ACCESS_TOKEN"}', v,
                            {"ACCESS_TOKEN": "tok-123", "SECRET": "sig-456"})
    assert json.loads(body) == {"alias": "${SECRET}", "token": "tok-123", "raw": "tok-123"}


def test_dollar_words_that_are_not_secrets_stay_text() -> None:
    assert templates.render('{"price": "$HOME costs $5"}', {}, {}) == '{"price": "$HOME costs $5"}'


def test_secret_variable_names() -> None:
    assert templates.secret_variable("team-token") == "TEAM_TOKEN"
    assert templates.secret_variable("github.pat") == "GITHUB_PAT"


def test_run_state_variables() -> None:
    event = Event(id="e", type=EventType.RUN_STATE, time=NOW, entity="acme", project="p",
                  run=RunInfo(id="abc123", display_name="train-1", state="FAILED", user="bob"))
    v = templates.variables(event, automation_name="a")
    assert v["run_name"] == "train-1" and v["run_status"] == "FAILED" and v["run_id"] == "abc123"
    assert v["run_url"] == "https://wandb.ai/acme/p/runs/abc123"


def test_default_payload_is_valid_json_for_every_event() -> None:
    v = templates.variables(alias_event(), automation_name="a")
    doc = json.loads(templates.render(templates.default_payload(), v))
    assert doc["alias"] == "production" and doc["run_name"] == ""


def test_render_value_substitutes_strings_in_structures() -> None:
    v = {"artifact_version_string": "a/b/c:v1"}
    assert templates.render_value({"args": ["--model", "${artifact_version_string}"], "n": 3}, v) == \
        {"args": ["--model", "a/b/c:v1"], "n": 3}
