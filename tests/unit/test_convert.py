"""``wbauto import``'s conversion (pure): W&B's saved automations (``TriggerFields`` as W&B answers them) into
manifests, with what differs and what cannot be converted named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wbauto.cli.importer import admission_problems
from wbauto.wbapi import convert
from wbauto.wbapi.convert import Converter, Lookups, ResolvedScope

PROJECT = {"__typename": "Project", "id": "UHJvamVjdDox", "name": "fraud"}
COLLECTION = {"__typename": "ArtifactSequence", "id": "QXJ0aWZhY3RDb2xsZWN0aW9uOjE=", "name": "fraud-model"}
HOOK = {"__typename": "GenericWebhookIntegration", "id": "SW50ZWdyYXRpb246MQ==", "name": "Deploy Hook",
        "urlEndpoint": "https://deploy.example.com/hooks"}
SLACK = {"__typename": "SlackIntegration", "id": "SW50ZWdyYXRpb246Mg==", "teamName": "Acme Slack",
         "channelName": "#ml-alerts"}


def lookups() -> Lookups:
    return Lookups(scopes={PROJECT["id"]: ResolvedScope("project", "acme", "fraud"),
                           COLLECTION["id"]: ResolvedScope("collection", "acme", "fraud", "fraud-model")},
                   secrets={HOOK["id"]: ("SIGNING_KEY", "${DEPLOY_TOKEN}")},
                   integrations={"acme": [HOOK, SLACK]})


def trigger(name: str = "My Automation", *, scope: dict[str, Any] = PROJECT, event: str = "ADD_ARTIFACT_ALIAS",
            filter: Any = None, action: dict[str, Any] | None = None) -> dict[str, Any]:
    if filter is None:
        filter = {"filter": {"$or": [{"$and": []}]}}
    return {"__typename": "Trigger", "id": "VHJpZ2dlcjox", "name": name, "description": None, "enabled": True,
            "scope": scope, "event": {"__typename": "FilterEventTriggeringCondition", "eventType": event,
                                      "filter": json.dumps(filter)},
            "action": action if action is not None else {"__typename": "NoOpTriggeredAction", "noOp": True}}


def run_filter(run: Any = None, **inner: Any) -> dict[str, Any]:
    return {"run_filter": json.dumps(run or {"$and": []}), **inner}


def one(t: dict[str, Any], converter: Converter | None = None) -> tuple[convert.Row, dict[str, Any] | None]:
    converter = converter or Converter(lookups(), check=admission_problems)
    converter.automation(t, "acme")
    row = converter.result.rows[-1]
    docs = [d.doc for d in converter.result.documents if d.doc["kind"] == "Automation"]
    return row, (docs[-1]["spec"] if docs and row.result != convert.NOT_CONVERTIBLE else None)


def test_names_become_kubernetes_names_unique_per_namespace() -> None:
    names = convert.Names()
    assert names.take("ns", "Automation", "Deploy on Production!", "a") == "deploy-on-production"
    assert names.take("ns", "Automation", "deploy on production", "a") == "deploy-on-production-2"
    assert names.take("other", "Automation", "deploy on production", "a") == "deploy-on-production"
    assert names.take("ns", "Automation", "🚀", "automation") == "automation"
    assert len(names.take("ns", "Automation", "x" * 300, "a")) == 63


def test_artifact_filters_take_the_short_forms_when_they_can() -> None:
    regex = {"filter": {"$or": [{"$and": [{"alias": {"$regex": "^prod"}}]}]}}
    assert one(trigger(filter=regex))[1]["event"] == {"artifactAliasAdded": {"aliasRegex": "^prod"}}  # type: ignore[index]
    tag = {"filter": {"$or": [{"$and": [{"tag": {"$regex": "^eval"}}]}]}}
    assert one(trigger(event="ADD_ARTIFACT_TAG", filter=tag))[1]["event"] == {  # type: ignore[index]
        "artifactTagAdded": {"tagRegex": "^eval"}}
    either = {"filter": json.dumps({"$or": [{"$and": [{"$or": [{"alias": {"$eq": "a"}}, {"tag": {"$eq": "b"}}]}]}]})}
    assert one(trigger(event="LINK_MODEL", filter=either))[1]["event"] == {  # type: ignore[index]
        "artifactLinked": {}, "filter": {"$or": [{"alias": {"$eq": "a"}}, {"tag": {"$eq": "b"}}]}}
    row, _ = one(trigger(filter={"filter": {"version": {"$eq": "v1"}}}))
    assert row.result == convert.NOT_CONVERTIBLE and "'version'" in row.note


def test_run_events() -> None:
    named = run_filter({"$and": [{"display_name": {"$regex": "^train"}}, {"tags": {"$in": ["a"]}}]},
                       run_state_filter={"states": ["FAILED", "CRASHED"]})
    spec = one(trigger(event="RUN_STATE", filter=named))[1]
    assert spec is not None and spec["event"] == {"runStateChanged": {"states": ["FAILED", "CRASHED"]}}
    assert spec["runFilter"] == {"nameRegex": "^train", "$and": [{"tags": {"$in": ["a"]}}]}
    legacy = run_filter(metric_filter=json.dumps({"name": "loss", "agg_op": "AVERAGE", "window_size": 5,
                                                  "cmp_op": "$lt", "threshold": 0.1}))
    row, spec = one(trigger(event="RUN_METRIC", filter=legacy))
    assert row.result == convert.DIFFERENT and "legacy metric_filter" in row.note
    assert spec is not None and spec["event"] == {"runMetricThreshold": {
        "metric": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$lt", "threshold": 0.1}}
    change = run_filter(run_metric_filter={"change_filter": {
        "name": "acc", "agg_op": None, "current_window_size": 3, "prior_window_size": 9, "change_type": "RELATIVE",
        "change_dir": "INCREASE", "change_amount": 0.2}})
    assert one(trigger(event="RUN_METRIC_CHANGE", filter=change))[1]["event"] == {  # type: ignore[index]
        "runMetricChange": {"metric": "acc", "currentWindow": 3, "priorWindow": 9, "changeType": "RELATIVE",
                            "direction": "INCREASE", "amount": 0.2}}
    zscore = run_filter(run_metric_filter={"zscore_filter": {"name": "acc", "window_size": 1, "threshold": 3,
                                                             "change_dir": "ANY"}})
    row, _ = one(trigger(event="RUN_METRIC_ZSCORE", filter=zscore))
    assert row.result == convert.DIFFERENT and "never fires" in row.note


@pytest.mark.parametrize(("t", "why"), [
    (trigger(event="RUN_METRIC", filter=run_filter(run_metric_filter={"change_filter": {}})), "with a change_filter"),
    (trigger(event="RUN_METRIC", filter=run_filter(run_metric_filter={"threshold_filter": {
        "name": "m", "agg_op": "MAX", "window_size": 20000, "cmp_op": "$gt", "threshold": 1}})), "20000 values"),
    (trigger(event="RUN_STATE", scope=COLLECTION, filter=run_filter(run_state_filter={"states": ["FAILED"]})),
     "scoped to a collection"),
    (trigger(scope={"__typename": "Project", "id": "unknown", "name": "gone"}), "could not be looked up"),
    (trigger(event="WEAVE_METRIC_THRESHOLD", filter={}), "Weave"),
    (trigger(action={"__typename": "ARIATriggeredAction", "prompt": "why?"}), "SaaS"),
    (trigger(action={}), "did not describe"),
    (trigger(action={"__typename": "QueueJobTriggeredAction", "queue": {"id": "q", "name": "gpu"},
                     "template": json.dumps({"docker": {"docker_image": "x"}})}), "names no job"),
    (trigger(action={"__typename": "GenericWebhookTriggeredAction", "integration": HOOK,
                     "requestPayload": '{"index": ${artifact_version_index} ${alias}}'}), "does not validate"),
])
def test_not_convertible_says_why(t: dict[str, Any], why: str) -> None:
    row, spec = one(t)
    assert row.result == convert.NOT_CONVERTIBLE and spec is None
    assert why in row.note, row.note


def test_webhooks_their_secrets_and_payload_secrets() -> None:
    converter = Converter(lookups(), check=admission_problems)
    payload = ('{"a": "${alias}", "sig": "${SIGNING_KEY}", "tok": "$DEPLOY_TOKEN", "team": "${TEAM_KEY}", '
               '"cost": "$USD"}')
    row, spec = one(trigger(action={"__typename": "GenericWebhookTriggeredAction", "integration": HOOK,
                                    "requestPayload": payload}), converter)
    assert spec is not None and row.result == convert.DIFFERENT and "TEAM_KEY" in row.note
    assert spec["action"]["webhook"] == {"webhookRef": {"name": "deploy-hook"}, "payload": (
        '{"a": "${alias}", "sig": "${SECRET}", "tok": "${ACCESS_TOKEN}", "team": "${TEAM_KEY}", "cost": "$USD"}')}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in converter.result.documents:
        by_kind.setdefault(d.doc["kind"], []).append(d.doc)
    [hook] = by_kind["Webhook"]
    assert hook["spec"] == {"url": HOOK["urlEndpoint"], "secretRef": {"name": "signing-key"},
                            "accessTokenRef": {"name": "deploy-token"}, "payloadSecretRefs": [{"name": "team-key"}]}
    assert {d["metadata"]["name"]: d["spec"]["kubernetes"]["key"] for d in by_kind["SecretReference"]} == {
        "signing-key": "SIGNING_KEY", "deploy-token": "DEPLOY_TOKEN", "team-key": "TEAM_KEY"}
    comments = [d.comment for d in converter.result.documents if d.doc["kind"] == "SecretReference"]
    assert all("W&B never exports secret values" in c for c in comments)
    row, _ = one(trigger("no payload", action={"__typename": "GenericWebhookTriggeredAction", "integration": HOOK,
                                               "requestPayload": None}), converter)
    assert row.result == convert.DIFFERENT and "default payload" in row.note
    assert len([d for d in converter.result.documents if d.doc["kind"] == "Webhook"]) == 1  # written once


def test_slack_and_launch() -> None:
    converter = Converter(lookups(), namespace="ml", check=admission_problems)
    row, spec = one(trigger(action={"__typename": "NotificationTriggeredAction", "integration": SLACK,
                                    "title": "Hi ${alias}", "message": None, "severity": "ERROR"}), converter)
    assert spec is not None and row.result == convert.DIFFERENT
    assert spec["action"] == {"slack": {"tokenRef": {"name": "slack-acme-slack"}, "channel": "#ml-alerts",
                                        "title": "Hi ${alias}", "severity": "ERROR"}}
    template = {"job": "acme/fraud/train:latest", "project": "launched", "priority": 1,
                "overrides": {"args": ["--x"], "run_config": {"lr": 0.1}, "entry_point": ["python"], "env": {}},
                "resource": "kubernetes", "template_variables": {"gpus": 2}}
    row, spec = one(trigger(action={"__typename": "QueueJobTriggeredAction", "queue": {"id": "q1", "name": "gpu"},
                                    "template": json.dumps(template)}), converter)
    assert spec is not None and row.result == convert.DIFFERENT
    assert spec["action"] == {"launch": {"queue": "gpu", "job": "acme/fraud/train:latest", "queueEntity": "acme",
                                         "project": "launched", "priority": 1, "templateVariables": {"gpus": 2},
                                         "overrides": {"args": ["--x"], "runConfig": {"lr": 0.1},
                                                       "entryPoint": ["python"]}}}
    assert "resource" in row.note and "env" in row.note and "was not found" in row.note


def test_unused_integrations_are_written_or_reported() -> None:
    converter = Converter(lookups(), check=admission_problems)
    converter.unreferenced_integrations()
    kinds = [(r.kind, r.result) for r in converter.result.rows]
    assert kinds == [("Webhook", convert.CONVERTED), ("Slack", convert.NOT_WRITTEN)]
