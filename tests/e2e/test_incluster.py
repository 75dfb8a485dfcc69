"""End to end in a cluster: the Kopf operator against the real apiserver, the emulator as W&B, loopback
receivers. Executions are AutomationExecution objects; cursors are ConfigMaps; Jobs are real objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import automation, secret_reference, webhook
from tests.support.operator import OperatorProcess
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

SECRET = "cluster-signing-secret"
PROJECT = {"project": {"entity": "acme", "project": "fraud"}}


def operator_for(cluster: ControlPlane, namespace: str, tmp_path: Path, emulator: Emulator,
                 name: str = "operator") -> OperatorProcess:
    return OperatorProcess(cluster, [namespace], tmp_path, name=name, env={"WANDB_API_KEY": API_KEY},
                           extra_args=["--wandb-base-url", emulator.url, "--poll-interval", "300ms",
                                       "--lease-namespace", namespace])


def executions(cluster: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get_json("automationexecutions", "-n", namespace)["items"]
    return items


def terminal(cluster: ControlPlane, namespace: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        items = executions(cluster, namespace)
        done = [i for i in items if (i.get("status") or {}).get("phase") in ("Finished", "Failed", "Skipped")]
        return items if len(done) >= count else None

    result: list[dict[str, Any]] = wait_until(check, timeout, f"{count} terminal AutomationExecutions", 0.3)
    return result


def first_poll(emulator: Emulator) -> None:
    wait_until(lambda: emulator.state.stats().get("WbautoCollectionVersions", 0) >= 1, 60, "the first poll")


def base_objects(namespace: str, receiver: Receiver, **webhook_spec: Any) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "signing", "namespace": namespace},
         "stringData": {"key": SECRET}},
        secret_reference("signing", namespace=namespace, kubernetes={"name": "signing", "key": "key"}),
        webhook(url=receiver.url(), namespace=namespace, secretRef={"name": "signing"}, **webhook_spec),
    ]


def test_alias_event_to_signed_webhook_with_history_and_status(cluster: ControlPlane, namespace: str,
                                                               tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(secret=SECRET).start()
    proc = operator_for(cluster, namespace, tmp_path, emulator)
    proc.start()
    try:
        cluster.apply([*base_objects(namespace, receiver),
                       automation("deploy", namespace=namespace, scope=PROJECT,
                                  event={"artifactAliasAdded": {"aliasRegex": "^production$"}})])
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/deploy", "-n", namespace)
        first_poll(emulator)
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "production", author="alice")
        items = terminal(cluster, namespace, 1)
        item = items[0]
        assert item["status"]["phase"] == "Finished" and item["status"]["responseCode"] == 200
        assert item["spec"]["event"]["type"] == "ADD_ARTIFACT_ALIAS"
        assert item["spec"]["automation"]["name"] == "deploy"
        assert SECRET not in json.dumps(item)
        request = receiver.wait_for(1)[0]
        assert request.signature_ok and request.headers["X-Wbauto-Delivery"] == item["spec"]["deliveryId"]
        wait_until(lambda: (cluster.get_json("automation", "deploy", "-n", namespace)["status"]
                            .get("lastExecution") or {}).get("status") == "Finished", 30, "lastExecution")
        out = cluster.kubectl("get", "automationexecutions", "-n", namespace).stdout
        assert "ADD_ARTIFACT_ALIAS" in out and "Finished" in out and "200" in out
        lease = cluster.get_json("lease", "wbauto-leader", "-n", namespace)
        assert lease["spec"]["holderIdentity"]
        cursors = cluster.get_json("configmaps", "-n", namespace, "-l", "automations.wandb.ai/cursor=true")["items"]
        assert len(cursors) == 1
        assert SECRET not in proc.logs()
    finally:
        proc.stop()
        receiver.stop()


def test_failed_delivery_is_recorded_with_a_warning_event(cluster: ControlPlane, namespace: str,
                                                          tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(default_status=503).start()
    proc = operator_for(cluster, namespace, tmp_path, emulator)
    proc.start()
    try:
        cluster.apply([*base_objects(namespace, receiver, retry={"maxAttempts": 2, "backoff": "100ms",
                                                                 "maxBackoff": "100ms"}),
                       automation("deploy", namespace=namespace, scope=PROJECT, event={"artifactAliasAdded": {}})])
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/deploy", "-n", namespace)
        first_poll(emulator)
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        item = terminal(cluster, namespace, 1)[0]
        assert item["status"]["phase"] == "Failed" and item["status"]["attempts"] == 2
        assert item["status"]["error"] == "gave up after 2 attempts: HTTP 503"

        def warning() -> list[dict[str, Any]]:
            events = cluster.get_json("events.v1.events.k8s.io", "-n", namespace)["items"]
            return [e for e in events if e["type"] == "Warning" and e["reason"] == "DeliveryFailed"]

        found = wait_until(warning, 30, "a DeliveryFailed Warning Event")
        assert found[0]["regarding"]["kind"] == "AutomationExecution"
        assert "HTTP 503" in found[0]["note"]
        assert len(receiver.requests) == 2
    finally:
        proc.stop()
        receiver.stop()


def test_a_retrying_execution_is_an_object_and_deleting_it_cancels_it(cluster: ControlPlane, namespace: str,
                                                                      tmp_path: Path, emulator: Emulator) -> None:
    """The leader journals executions; one that waits for a retry becomes an AutomationExecution at once
    (Pending, its attempts counted) and deleting it stops the retries."""
    receiver = Receiver(default_status=503).start()
    proc = operator_for(cluster, namespace, tmp_path, emulator)
    proc.start()
    try:
        cluster.apply([*base_objects(namespace, receiver, retry={"maxAttempts": 100, "backoff": "200ms",
                                                                 "maxBackoff": "200ms"}),
                       automation("deploy", namespace=namespace, scope=PROJECT, event={"artifactAliasAdded": {}},
                                  action={"webhook": {"webhookRef": {"name": "hook"},
                                                      "payload": '{"alias": "${alias}"}'}})])
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/deploy", "-n", namespace)
        first_poll(emulator)
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")

        def retrying() -> dict[str, Any] | None:
            items = [i for i in executions(cluster, namespace) if (i.get("status") or {}).get("attempts", 0) >= 1]
            return items[0] if items else None

        item = wait_until(retrying, 60, "a retrying AutomationExecution")
        assert item["status"]["phase"] == "Pending" and item["status"]["error"] == "HTTP 503"
        cluster.kubectl("delete", "automationexecution", item["metadata"]["name"], "-n", namespace)
        proc.wait_for_log("was deleted: cancelled", 30)
        sent = len(receiver.requests)
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "prod")  # a later event still runs
        wait_until(lambda: any(i["metadata"]["name"] != item["metadata"]["name"]
                               for i in executions(cluster, namespace)), 60, "the next execution")
        wait_until(lambda: len(receiver.requests) >= sent + 2, 30, "the next execution's attempts")
        assert {r.json()["alias"] for r in receiver.requests[sent:]} == {"prod"}  # no staging attempt after it
    finally:
        proc.stop()
        receiver.stop()


def test_kubernetes_job_action_creates_one_job(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                               emulator: Emulator) -> None:
    proc = operator_for(cluster, namespace, tmp_path, emulator)
    proc.start()
    job_template = {"spec": {"backoffLimit": 0, "template": {"spec": {"containers": [{
        "name": "evaluate", "image": "python:3.11-slim",
        "args": ["evaluate", "--model", "${artifact_version_string}"]}]}}}}
    try:
        cluster.apply(automation("evaluate", namespace=namespace, scope=PROJECT, event={"artifactTagAdded": {}},
                                 action={"kubernetesJob": job_template}))
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/evaluate", "-n", namespace)
        first_poll(emulator)
        emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", "candidate")
        item = terminal(cluster, namespace, 1)[0]
        assert item["status"]["phase"] == "Finished", item["status"]
        jobs = cluster.get_json("jobs", "-n", namespace)["items"]
        assert len(jobs) == 1
        job = jobs[0]
        assert job["metadata"]["name"] == item["metadata"]["name"]
        assert job["metadata"]["labels"]["automations.wandb.ai/automation"] == "evaluate"
        assert job["metadata"]["labels"]["automations.wandb.ai/event-type"] == "add_artifact_tag"
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["evaluate", "--model", "acme/fraud/fraud-model:v0"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["WBAUTO_TAG"] == "candidate" and env["WBAUTO_EVENT_TYPE"] == "ADD_ARTIFACT_TAG"
        assert env["WBAUTO_EXECUTION"] == job["metadata"]["name"]
        assert not [name for name in env if name.startswith("WANDB_")]
    finally:
        proc.stop()


def test_operator_restart_neither_loses_nor_repeats(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                                    emulator: Emulator) -> None:
    receiver = Receiver(secret=SECRET).start()
    cluster.apply([*base_objects(namespace, receiver),
                   automation("tags", namespace=namespace, scope=PROJECT, event={"artifactTagAdded": {}},
                              action={"webhook": {"webhookRef": {"name": "hook"}, "payload": '{"tag": "${tag}"}'}})])
    proc = operator_for(cluster, namespace, tmp_path, emulator)
    proc.start()
    try:
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/tags", "-n", namespace)
        first_poll(emulator)
        emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", "one")
        terminal(cluster, namespace, 1)
    finally:
        proc.stop()
    for tag in ("two", "three"):
        emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", tag)
    proc = operator_for(cluster, namespace, tmp_path, emulator, name="operator-2")
    proc.start()
    try:
        terminal(cluster, namespace, 3)
        receiver.wait_for(3)
    finally:
        proc.stop()
        receiver.stop()
    assert sorted(b["tag"] for b in receiver.bodies()) == ["one", "three", "two"]
    assert len(executions(cluster, namespace)) == 3
