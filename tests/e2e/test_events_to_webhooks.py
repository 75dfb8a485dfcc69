"""End to end, standalone runtime: every W&B event kind, made in the emulator, becomes a signed webhook at a
real loopback receiver that verifies the signature with its own HMAC implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver, independent_signature
from tests.support.standalone import API_KEY, Harness, finished
from wbauto.emulator.server import Emulator

SECRET = "e2e-signing-secret-value"
PAYLOAD = """{"automation": "${automation_name}", "event_type": "${event_type}", "author": "${event_author}",
 "entity": "${entity_name}", "project": "${project_name}", "collection": "${artifact_collection_name}",
 "version": "${artifact_version}", "version_string": "${artifact_version_string}", "alias": "${alias}",
 "tag": "${tag}", "accuracy": "${artifact_metadata.accuracy}", "run": "${run_name}", "status": "${run_status}",
 "metric": "${metric_name}", "filter": "${metric_filter}", "values": "${metric_values}"}"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


def signed_webhook(receiver: Receiver, tmp_path: Path, **spec: Any) -> list[dict[str, Any]]:
    (tmp_path / "signing").write_text(SECRET + "\n")
    return [obj("SecretReference", "signing", {"file": {"path": str(tmp_path / "signing")}}),
            webhook(url=receiver.url(), secretRef={"name": "signing"}, **spec)]


def rule(name: str, scope: dict[str, Any], event: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return automation(name, scope=scope, event=event,
                      action={"webhook": {"webhookRef": {"name": "hook"}, "payload": PAYLOAD}}, **spec)


PROJECT = {"project": {"entity": "acme", "project": "fraud"}}
REGISTRY = {"registry": {"organization": "acme-org", "name": "model"}}
COLLECTION = {"collection": {"entity": "acme", "project": "fraud", "name": "fraud-model"}}


async def test_every_event_kind_reaches_the_webhook(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    state = emulator.state
    state.create_project("acme", "fraud")
    state.create_organization("acme-org", entity="acme-org")
    state.create_registry("acme-org", "model")
    v0 = state.log_artifact("acme", "fraud", "fraud-model", author="alice", metadata={"accuracy": 0.9})
    state.create_run("acme", "fraud", run_id="run1", display_name="train-1", user="alice")
    state.log_history("acme", "fraud", "run1", [{"loss": 0.9, "acc": a} for a in (0.5, 0.52, 0.48)])
    docs = [
        *signed_webhook(receiver, tmp_path),
        rule("created", COLLECTION, {"artifactVersionCreated": {}}),
        rule("linked", REGISTRY, {"artifactLinked": {}}),
        rule("aliased", PROJECT, {"artifactAliasAdded": {"aliasRegex": "^production$"}}),
        rule("tagged", PROJECT, {"artifactTagAdded": {"tagRegex": "^eval"}}),
        rule("untagged", PROJECT, {"artifactTagRemoved": {}}),
        rule("ctagged", PROJECT, {"collectionTagAdded": {}}),
        rule("cuntagged", PROJECT, {"collectionTagRemoved": {}}),
        rule("threshold", PROJECT, {"runMetricThreshold": {"metric": "loss", "agg": "AVERAGE", "window": 3,
                                                           "cmp": "$lt", "threshold": 0.1}}),
        rule("change", PROJECT, {"runMetricChange": {"metric": "acc", "agg": "AVERAGE", "currentWindow": 2,
                                                     "priorWindow": 3, "changeType": "RELATIVE",
                                                     "direction": "INCREASE", "amount": 0.5}}),
        rule("zscore", PROJECT, {"runMetricZScore": {"metric": "acc", "window": 3, "threshold": 2.0,
                                                     "direction": "INCREASE"}}),
        rule("failed", PROJECT, {"runStateChanged": {"states": ["FAILED"]}}, runFilter={"nameRegex": "^train-"}),
    ]
    harness = Harness(tmp_path, emulator, docs)
    await harness.start()
    try:
        v1 = state.log_artifact("acme", "fraud", "fraud-model", author="bob", metadata={"accuracy": 0.95})
        state.link_artifact(v1.artifact_id, entity="acme-org", project="wandb-registry-model",
                            collection="fraud-detector", author="carol")
        state.add_alias("acme", "fraud", "fraud-model", "v0", "production", author="dave")
        state.add_tag("acme", "fraud", "fraud-model", "v1", "eval-passed", author="erin")
        state.add_collection_tag("acme", "fraud", "fraud-model", "team-a")
        state.log_history("acme", "fraud", "run1", [{"loss": 0.05, "acc": 0.9} for _ in range(3)])
        await harness.executions(8)
        # the second wave depends on state the first one created
        state.add_alias("acme", "fraud", "fraud-model", "v1", "production", author="dave")  # alias moves
        state.remove_tag("acme", "fraud", "fraud-model", "v1", "eval-passed", author="erin")
        state.remove_collection_tag("acme", "fraud", "fraud-model", "team-a")
        state.set_run_state("acme", "fraud", "run1", "crashed")
        records = await harness.executions(12)
    finally:
        await harness.stop()

    assert len(finished(records)) == len(records) == 12, [(r.automation, r.status.error) for r in records]
    receiver.wait_for(12)
    assert all(r.signature_ok for r in receiver.requests), "every body verifies with the independent HMAC"
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for body in receiver.bodies():
        by_rule.setdefault(body["automation"], []).append(body)

    created = by_rule["created"][0]
    assert created["event_type"] == "CREATE_ARTIFACT" and created["author"] == "bob"
    assert created["version_string"] == "acme/fraud/fraud-model:v1" and created["accuracy"] == "0.95"
    assert created["version"] == f"wandb-artifact://_id/{v1.artifact_id}"
    linked = by_rule["linked"][0]
    assert linked["event_type"] == "LINK_ARTIFACT" and linked["project"] == "wandb-registry-model"
    assert linked["entity"] == "acme-org" and linked["collection"] == "fraud-detector"
    aliased = by_rule["aliased"]
    assert [a["version"] for a in aliased] == [f"wandb-artifact://_id/{v0.artifact_id}",
                                               f"wandb-artifact://_id/{v1.artifact_id}"]
    assert {a["version_string"] for a in aliased} == {"acme/fraud/fraud-model:production"}
    assert by_rule["tagged"][0]["tag"] == "eval-passed"
    assert by_rule["untagged"][0]["tag"] == "eval-passed"
    assert by_rule["untagged"][0]["event_type"] == "REMOVE_ARTIFACT_TAG"
    assert by_rule["ctagged"][0]["tag"] == "team-a" and by_rule["cuntagged"][0]["tag"] == "team-a"
    threshold = by_rule["threshold"][0]
    assert threshold["event_type"] == "RUN_METRIC" and threshold["run"] == "train-1"
    assert threshold["filter"] == "AVERAGE(loss) over 3 < 0.1"
    assert by_rule["change"][0]["event_type"] == "RUN_METRIC_CHANGE"
    assert by_rule["zscore"][0]["event_type"] == "RUN_METRIC_ZSCORE"
    failed = by_rule["failed"][0]
    assert failed["event_type"] == "RUN_STATE" and failed["status"] == "CRASHED"
    assert all(len(v) == 1 for k, v in by_rule.items() if k != "aliased"), by_rule


async def test_headers_and_delivery_id(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    (tmp_path / "token").write_text("bearer-token-value")
    emulator.state.create_project("acme", "fraud")
    emulator.state.log_artifact("acme", "fraud", "fraud-model")
    docs = [
        *signed_webhook(receiver, tmp_path, accessTokenRef={"name": "token"}, headers={"X-Team": "ml"}),
        obj("SecretReference", "token", {"file": {"path": str(tmp_path / "token")}}),
        rule("aliased", PROJECT, {"artifactAliasAdded": {}}),
    ]
    records = await Harness(tmp_path, emulator, docs).deliver(
        lambda: emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging"))
    request = receiver.wait_for(1)[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer bearer-token-value"
    assert request.headers["X-Team"] == "ml"
    assert request.headers["X-Wbauto-Delivery"] == records[0].spec.delivery_id
    assert request.headers["X-Wbauto-Timestamp"].isdigit()
    assert request.signature_ok
    # the replay-safe signature binds delivery id and timestamp to the body
    bound = independent_signature(SECRET, f"{request.headers['X-Wbauto-Delivery']}."
                                          f"{request.headers['X-Wbauto-Timestamp']}.".encode() + request.body)
    assert request.headers["X-Wbauto-Signature"] == f"v1={bound}"
    assert "bearer-token-value" not in records[0].status.model_dump_json()
